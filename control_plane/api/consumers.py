"""`/api/v1/consumers`: who calls the gateway, with their credentials and roles."""

from __future__ import annotations

import secrets
from typing import Annotated, Any

from fastapi import Body, Path, Response
from fastapi.openapi.models import Example

from data_plane.config.model import ConsumerSpec, hash_api_key

from ..errors import Conflict, NotFound
from ..store.catalog import Catalog
from .crud import EntityDocs, entity_router
from .deps import CatalogDep
from .entities import NameParam
from .errors import CONFLICT, NOT_FOUND
from .parameters import NAME
from .schemas import ApiKeyCreated, ApiKeyRequest, ConsumerOut

KIND = "consumers"
# A generated key: 256 bits, URL-safe, so it fits a header or a query string as it is.
KEY_BYTES = 32
KeyIdParam = Annotated[str, Path(pattern=NAME, description="the API key's id", examples=["ci"])]
ApiKeyBody = Annotated[
    ApiKeyRequest | None,
    Body(
        openapi_examples={
            "named": Example(summary="a key with the id you choose", value={"id": "ci"}),
            "generated": Example(summary="a key with a generated id", value={}),
        }
    ),
]

router = entity_router(
    KIND,
    ConsumerSpec,
    ConsumerOut,
    EntityDocs(
        noun="consumer",
        plural="consumers",
        create="API keys are given as `key` (stored only as its sha256) or `hash`; "
        "a `tenant` must exist.",
        delete="Nothing refers to a consumer: deleting one always succeeds.",
    ),
)


# ---------------------------------------------------------------- API keys


@router.post(
    "/{name}/api-keys",
    status_code=201,
    summary="Generate an API key for a consumer",
    response_model=ApiKeyCreated,
    responses={**NOT_FOUND, **CONFLICT},
)
def create_api_key(
    catalog: CatalogDep,
    name: NameParam,
    body: ApiKeyBody = None,
) -> ApiKeyCreated:
    """The key is returned this once; the store keeps only its sha256."""
    return add_api_key(catalog, name, body.id if body is not None else None)


def add_api_key(catalog: Catalog, name: str, key_id: str | None = None) -> ApiKeyCreated:
    """Generate a key for consumer `name` and store its sha256; the key is in the answer
    only. Without `key_id` one is made up."""
    key = secrets.token_urlsafe(KEY_BYTES)
    key_id = key_id or f"key-{secrets.token_hex(4)}"
    digest = hash_api_key(key)

    def add(consumer: dict[str, Any]) -> dict[str, Any]:
        keys = consumer.get("api_keys", [])
        if any(k["id"] == key_id for k in keys):
            raise Conflict(f"consumer {name!r} already has an API key {key_id!r}")
        return {**consumer, "api_keys": [*keys, {"id": key_id, "hash": digest}]}

    catalog.update(KIND, name, add)
    return ApiKeyCreated(id=key_id, key=key, hash=digest)


@router.delete(
    "/{name}/api-keys/{key_id}",
    status_code=204,
    summary="Revoke an API key of a consumer",
    response_class=Response,
    responses=NOT_FOUND,
)
def delete_api_key(catalog: CatalogDep, name: NameParam, key_id: KeyIdParam) -> Response:
    def remove(consumer: dict[str, Any]) -> dict[str, Any]:
        keys = consumer.get("api_keys", [])
        if not any(k["id"] == key_id for k in keys):
            raise NotFound(f"consumer {name!r} has no API key {key_id!r}")
        return {**consumer, "api_keys": [k for k in keys if k["id"] != key_id]}

    catalog.update(KIND, name, remove)
    return Response(status_code=204)
