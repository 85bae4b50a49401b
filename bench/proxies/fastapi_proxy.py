"""A reverse proxy in FastAPI: a catch-all route forwarding with one shared httpx client.

Run: python -m bench.proxies.fastapi_proxy --listen 127.0.0.1:8080 --upstream 127.0.0.1:9000
Served by uvicorn, which picks uvloop and httptools when they are installed.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import StreamingResponse
from starlette.background import BackgroundTask

from bench.proxies.arguments import proxy_arguments
from bench.proxies.hop_by_hop import end_to_end

METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]
# aiohttp's default pool bound, and every connection kept alive: at 64 concurrent
# requests httpx's default of 20 kept-alive connections would churn connections.
LIMITS = httpx.Limits(max_connections=100, max_keepalive_connections=100)


def make_app(upstream: str) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with httpx.AsyncClient(base_url=f"http://{upstream}", limits=LIMITS) as client:
            app.state.client = client
            yield

    app = FastAPI(lifespan=lifespan, openapi_url=None, docs_url=None, redoc_url=None)

    @app.api_route("/{path:path}", methods=METHODS)
    async def forward(request: Request) -> StreamingResponse:
        client: httpx.AsyncClient = request.app.state.client
        headers = end_to_end(list(request.headers.items()))
        peer = request.client.host if request.client else ""
        forwarded_for = request.headers.get("x-forwarded-for")
        headers.append(("x-forwarded-for", f"{forwarded_for}, {peer}" if forwarded_for else peer))
        has_body = "content-length" in request.headers or "transfer-encoding" in request.headers
        upstream_request = client.build_request(
            request.method,
            httpx.URL(path=request.url.path, query=request.url.query.encode()),
            headers=headers,
            content=request.stream() if has_body else None,
        )
        upstream_response = await client.send(upstream_request, stream=True)
        return StreamingResponse(
            upstream_response.aiter_raw(),
            status_code=upstream_response.status_code,
            headers=dict(end_to_end(list(upstream_response.headers.items()))),
            background=BackgroundTask(upstream_response.aclose),
        )

    return app


def main() -> None:
    args = proxy_arguments(__doc__.splitlines()[0])
    host, port = args.listen
    uvicorn.run(
        make_app(args.upstream_address),
        host=host,
        port=port,
        access_log=False,
        log_level="warning",
    )


if __name__ == "__main__":
    main()
