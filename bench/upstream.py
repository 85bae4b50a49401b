"""The upstream every proxy forwards to: nginx answering a fixed 76-byte JSON body.

The same upstream serves every scenario: any path gets the small JSON answer, except
LARGE_PATH, which is a 1 MiB file sent with sendfile.
"""

from __future__ import annotations

from pathlib import Path

# 76 bytes, the size the performance targets were measured with.
BODY = b'{"id":12345,"name":"fleetgate","status":"active","region":"eu-west-1","v":1}'

LARGE_SIZE = 1 << 20
# Both paths are under the route every fleetgate scenario config has.
HIT_PATH = "/api/v1/orders/12345"
LARGE_PATH = "/api/v1/orders/export"


def nginx_preamble(directory: Path, stem: str, workers: int) -> str:
    """What every nginx.conf of the bench starts with, up to inside `http {`: its own pid,
    log and temporary paths under `directory`, named after `stem`."""
    return f"""
worker_processes {workers};
worker_rlimit_nofile 16384;
daemon off;
pid {directory}/{stem}.pid;
error_log {directory}/{stem}-error.log warn;
events {{ worker_connections 8192; }}
http {{
    access_log off;
    client_body_temp_path {directory}/{stem}-body;
    proxy_temp_path {directory}/{stem}-proxy;
    fastcgi_temp_path {directory}/{stem}-fastcgi;
    uwsgi_temp_path {directory}/{stem}-uwsgi;
    scgi_temp_path {directory}/{stem}-scgi;"""


def nginx_config(directory: Path, port: int, workers: int) -> str:
    """An nginx.conf for the upstream, with its 1 MiB file written beside it."""
    large = directory / "large.bin"
    large.write_bytes(LARGE_BODY)
    large.chmod(0o644)
    body = BODY.decode().replace("\\", "\\\\").replace("'", "\\'")
    return f"""{nginx_preamble(directory, "upstream", workers)}
    sendfile on;
    tcp_nopush on;
    keepalive_requests 100000000;
    keepalive_timeout 300s;
    server {{
        listen 127.0.0.1:{port} reuseport backlog=4096;
        location = {LARGE_PATH} {{
            default_type application/octet-stream;
            alias {large};
        }}
        location / {{
            default_type application/json;
            return 200 '{body}';
        }}
    }}
}}
"""


# A fixed pattern, not zeros, so nothing along the way can shortcut it.
LARGE_BODY = (bytes(range(256)) * (LARGE_SIZE // 256))[:LARGE_SIZE]


def expected_body(path: str) -> bytes:
    """What the upstream answers to a GET of `path`."""
    return LARGE_BODY if path == LARGE_PATH else BODY
