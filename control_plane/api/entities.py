"""What the entity routers (services, routes, tiers, tenants, consumers) share."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Body, Path
from fastapi.openapi.models import Example

from .parameters import NAME

NameParam = Annotated[str, Path(pattern=NAME, description="the entity's name", examples=["users"])]

MergePatchBody = Annotated[
    dict[str, Any],
    Body(
        media_type="application/merge-patch+json",
        description="A JSON merge patch (RFC 7396) of the entity's file shape; the result "
        "is validated as a whole entity. `application/json` is accepted too.",
        openapi_examples={
            "change a field": Example(summary="change one field", value={"retries": 3}),
            "reset a field": Example(summary="back to its default", value={"retries": None}),
        },
    ),
]
