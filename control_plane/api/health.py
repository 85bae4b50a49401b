"""`/health`: is this control plane up, and can it reach its store? No token needed."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel
from sqlalchemy.exc import SQLAlchemyError

from ..errors import Unavailable
from .deps import PlaneDep
from .errors import ErrorBody

router = APIRouter(tags=["operations"])


class Health(BaseModel):
    status: str = "ok"


@router.get(
    "/health",
    summary="Health of the control plane",
    responses={503: {"model": ErrorBody, "description": "The store cannot be reached"}},
)
def health(plane: PlaneDep) -> Health:
    try:
        plane.db.ping()
    except SQLAlchemyError as exc:
        raise Unavailable(f"the store cannot be reached: {type(exc).__name__}") from None
    return Health()
