"""The one place where errors become responses: `{"error": {"code", "message", "request_id"}}`.

Control-plane errors carry their status; FastAPI's request validation becomes a 422 whose
message names the field (`targets.0.weight`) with one `details` entry per problem;
unknown paths and methods become 404 and 405; anything unexpected a logged 500.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from sqlalchemy.exc import (
    DataError,
    DBAPIError,
    IntegrityError,
    OperationalError,
    StatementError,
)
from starlette.exceptions import HTTPException

from ..errors import ControlPlaneError, FieldProblem, Invalid, Unauthorized, problems_from
from .request_id import request_id_of

log = logging.getLogger(__name__)

HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    413: "too_large",
    415: "unsupported_media_type",
}


class ErrorDetail(BaseModel):
    field: str = Field(examples=["targets.0.weight"])
    message: str = Field(examples=["Input should be less than or equal to 65535"])


class ErrorInfo(BaseModel):
    code: str = Field(examples=["invalid"])
    message: str = Field(examples=["targets.0.weight: Input should be less than or equal to 65535"])
    request_id: str = Field(examples=["5f0c6b3a2d1e4c8f9a7b6e5d4c3b2a19"])
    details: list[ErrorDetail] = Field(default_factory=list)


class ErrorBody(BaseModel):
    """What every error answer of the control plane looks like."""

    error: ErrorInfo


def _described(description: str) -> dict[str, Any]:
    return {"model": ErrorBody, "description": description}


# OpenAPI `responses` for the admin API's routes.
Responses = dict[int | str, dict[str, Any]]
UNAUTHORIZED: Responses = {401: _described("No admin token, or a wrong one")}
NOT_FOUND: Responses = {404: _described("No entity of that name")}
CONFLICT: Responses = {409: _described("The name is taken, or other entities refer to it")}
INVALID: Responses = {422: _described("The body, or the config it would make, is invalid")}


def error_response(
    request: Request,
    status: int,
    code: str,
    message: str,
    problems: Sequence[FieldProblem] = (),
    headers: Mapping[str, str] | None = None,
) -> JSONResponse:
    error: dict[str, Any] = {
        "code": code,
        "message": message,
        "request_id": request_id_of(request.scope),
    }
    if problems:
        error["details"] = [{"field": p.field, "message": p.message} for p in problems]
    return JSONResponse({"error": error}, status_code=status, headers=headers)


async def on_control_plane_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ControlPlaneError)
    headers = {"WWW-Authenticate": "Bearer"} if isinstance(exc, Unauthorized) else None
    return error_response(request, exc.status, exc.code, exc.message, exc.problems, headers)


async def on_request_validation(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    problems = []
    for error in exc.errors():
        if error["type"] == "json_invalid":
            reason = error.get("ctx", {}).get("error", "not JSON")
            problems.append(FieldProblem("", f"the body is not valid JSON: {reason}"))
        else:
            # loc starts with where the value came from: body, query, path or header.
            problems.extend(problems_from([error], skip=1))
    invalid = Invalid.of(problems)
    return error_response(request, invalid.status, invalid.code, invalid.message, problems)


async def on_http_exception(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, HTTPException)
    code = HTTP_CODES.get(exc.status_code, "http_error")
    message = exc.detail if isinstance(exc.detail, str) else code.replace("_", " ")
    if exc.status_code == 404 and message == "Not Found":
        message = f"no such path: {request.url.path}"
    return error_response(request, exc.status_code, code, message, headers=exc.headers)


async def on_store_error(request: Request, exc: Exception) -> JSONResponse:
    """A database error a request caused: the input did not fit the store, so 4xx.

    The checks before the store are meant to refuse such input first; this is the net
    under them, so that no input can make the API answer 500. The database's own
    message stays in the log: it may quote SQL.
    """
    assert isinstance(exc, DBAPIError | StatementError)
    log.warning("store refused %s %s: %s", request.method, request.url.path, exc)
    if isinstance(exc, IntegrityError):
        return error_response(request, 409, "conflict", "the change conflicts with the store")
    if isinstance(exc, OperationalError):
        return error_response(request, 503, "unavailable", "the store cannot be reached")
    if isinstance(exc, DataError) or isinstance(exc.orig, ValueError | OverflowError):
        return error_response(request, 422, "invalid", "a value does not fit the store")
    return await on_unexpected(request, exc)


async def on_unexpected(request: Request, exc: Exception) -> JSONResponse:
    log.error("unexpected error on %s %s", request.method, request.url.path, exc_info=exc)
    return error_response(request, 500, "internal", "internal error; see the control plane log")


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(ControlPlaneError, on_control_plane_error)
    app.add_exception_handler(RequestValidationError, on_request_validation)
    app.add_exception_handler(HTTPException, on_http_exception)
    app.add_exception_handler(StatementError, on_store_error)
    app.add_exception_handler(Exception, on_unexpected)
