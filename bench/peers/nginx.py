"""nginx as a reverse proxy: upstream keep-alive, the usual forwarding headers."""

from __future__ import annotations

from pathlib import Path

from bench.peers.base import Launch, Ports, Setup
from bench.route_table import Kind, RouteEntry, route_table
from bench.toolchain import Toolchain
from bench.upstream import nginx_preamble
from control_plane.certs import demo_certificate

PROXY = """
            proxy_pass http://upstream;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host $host;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_set_header X-Forwarded-Proto $scheme;"""


def location(entry: RouteEntry) -> str:
    """The nginx location for a route; prefixes use `^~` so no regex runs after them."""
    pattern = entry.pattern
    if entry.kind is Kind.EXACT:
        head = f"location = {pattern}"
    elif entry.kind is Kind.PREFIX:
        head = f"location ^~ {pattern.removesuffix('**')}"
    else:
        regex = pattern.removesuffix("/**").replace("*", "[^/]+")
        head = f"location ~ ^{regex}(/|$)"
    return f"        {head} {{{PROXY}\n        }}"


def tls_lines(directory: Path, ports: Ports) -> str:
    """An HTTPS listener beside the plain one, with a certificate made for the run."""
    cert, key = demo_certificate()
    (directory / "cert.pem").write_text(cert)
    (directory / "key.pem").write_text(key)
    return f"""
        listen 127.0.0.1:{ports.tls} ssl reuseport backlog=4096;
        ssl_certificate {directory / "cert.pem"};
        ssl_certificate_key {directory / "key.pem"};
        ssl_protocols TLSv1.2 TLSv1.3;
        ssl_session_cache shared:SSL:10m;"""


def config(directory: Path, ports: Ports, setup: Setup) -> str:
    if setup.routes > 1:
        locations = "\n".join(location(entry) for entry in route_table(setup.routes))
    else:
        locations = f"        location / {{{PROXY}\n        }}"
    https = tls_lines(directory, ports) if setup.tls else ""
    return f"""{nginx_preamble(directory, "nginx", setup.workers)}
    # Stream large answers through memory, as the other proxies do, never via disk.
    proxy_max_temp_file_size 0;
    keepalive_requests 100000000;
    keepalive_timeout 300s;
    upstream upstream {{
        server 127.0.0.1:{ports.upstream};
        keepalive 64;
        keepalive_requests 100000000;
    }}
    server {{
        listen 127.0.0.1:{ports.proxy} reuseport backlog=4096;{https}
{locations}
    }}
}}
"""


class NginxPeer:
    name = "nginx"

    def unsupported(self, setup: Setup) -> str | None:
        return None

    def launch(self, tools: Toolchain, workdir: Path, ports: Ports, setup: Setup) -> Launch:
        path = workdir / "nginx.conf"
        path.write_text(config(workdir, ports, setup))
        return Launch([str(tools.nginx), "-p", str(workdir), "-c", str(path)])
