"""A reverse proxy in aiohttp: aiohttp's server in front, one shared ClientSession behind.

Run: python -m bench.proxies.aiohttp_proxy --listen 127.0.0.1:8080 --upstream 127.0.0.1:9000
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
from aiohttp import web

from bench.proxies.arguments import proxy_arguments
from bench.proxies.hop_by_hop import end_to_end

SESSION = web.AppKey("session", aiohttp.ClientSession)
UPSTREAM = web.AppKey("upstream", str)
CHUNK = 64 * 1024


async def client_session(app: web.Application) -> AsyncIterator[None]:
    # One session for the process: its connector keeps upstream connections alive.
    async with aiohttp.ClientSession(auto_decompress=False) as session:
        app[SESSION] = session
        yield


async def forward(request: web.Request) -> web.StreamResponse:
    headers = end_to_end(list(request.headers.items()))
    peer = request.remote or ""
    forwarded_for = request.headers.get("X-Forwarded-For")
    headers.append(("X-Forwarded-For", f"{forwarded_for}, {peer}" if forwarded_for else peer))
    body = request.content if request.body_exists else None
    url = request.app[UPSTREAM] + request.path_qs
    async with request.app[SESSION].request(
        request.method, url, headers=headers, data=body, allow_redirects=False
    ) as upstream:
        response = web.StreamResponse(
            status=upstream.status,
            reason=upstream.reason,
            headers=end_to_end(list(upstream.headers.items())),
        )
        await response.prepare(request)
        async for chunk in upstream.content.iter_chunked(CHUNK):
            await response.write(chunk)
        await response.write_eof()
        return response


def make_app(upstream: str) -> web.Application:
    app = web.Application()
    app[UPSTREAM] = f"http://{upstream}"
    app.cleanup_ctx.append(client_session)
    app.router.add_route("*", "/{tail:.*}", forward)
    return app


def main() -> None:
    args = proxy_arguments(__doc__.splitlines()[0])
    host, port = args.listen
    loop = None
    try:
        # aiohttp deployments commonly run on uvloop (GunicornUVLoopWebWorker).
        import uvloop

        loop = uvloop.new_event_loop()
    except ImportError:
        pass
    web.run_app(
        make_app(args.upstream_address),
        host=host,
        port=port,
        access_log=None,
        print=None,
        loop=loop,
    )


if __name__ == "__main__":
    main()
