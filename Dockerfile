# syntax=docker/dockerfile:1
# One image for both planes: `fleetgate control-plane`, `fleetgate data-plane`,
# `fleetgate db upgrade`, `fleetgate apply`, ... (`docker run IMAGE --help` lists them).
#
#   docker build -t fleetgate .
#   docker run --rm -p 8080:8080 fleetgate data-plane --config /etc/fleetgate/gateway.yaml
ARG PYTHON_VERSION=3.11

# --- build: the wheel with its compiled head path, installed into a virtual environment ---
# The full image brings gcc and the Python headers that Cython's output compiles with.
FROM python:${PYTHON_VERSION}-bookworm AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_ROOT_USER_ACTION=ignore
WORKDIR /src
COPY pyproject.toml setup.py README.md ./
COPY proto/ proto/
COPY migrations/ migrations/
COPY control_plane/ control_plane/
COPY data_plane/ data_plane/
# The build fails when a compiled module or the packaged migrations are missing: the image
# must not fall back to a pure-Python twin (head path, access-log lines, policy chain, route
# lookup, ...: every module setup.py compiles is imported) unnoticed, nor lack `db upgrade`.
RUN python -m pip wheel --no-deps --wheel-dir /wheels . \
    && python -m venv /opt/fleetgate \
    && /opt/fleetgate/bin/pip install /wheels/fleetgate-*.whl \
    && /opt/fleetgate/bin/python -c "import data_plane.plan_c" \
    && /opt/fleetgate/bin/python -c "import data_plane.http.heads_c, data_plane.http.state_c, data_plane.http.upstream_c, data_plane.http.pool_c, data_plane.http.exchange_c, data_plane.http.downstream_c, data_plane.access_lines_c, data_plane.limits.spin_lock, data_plane.policies.chain_c, data_plane.policies.auth_c, data_plane.limits.decisions_c" \
    && /opt/fleetgate/bin/python -c "import data_plane.routing.lookup_c, data_plane.trace_context_c, data_plane.http.request_line_c, data_plane.limits.local_limit_c, data_plane.policies.consumers_c, data_plane.config.entries" \
    && /opt/fleetgate/bin/python -c "from control_plane.store.migrate import head_revision as h; assert h()"

# --- runtime: the slim image, the virtual environment and nothing else ---
FROM python:${PYTHON_VERSION}-slim-bookworm AS runtime
ARG VERSION=0.1.0
ARG REVISION=unknown
LABEL org.opencontainers.image.title="fleetgate" \
      org.opencontainers.image.description="An API gateway: a SQL-backed control plane streaming config over gRPC to uvloop data-plane nodes" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.base.name="docker.io/library/python:${PYTHON_VERSION}-slim-bookworm"

# A fixed uid, so volume and secret ownership can be set for it (Kubernetes runAsUser).
RUN groupadd --system --gid 10001 fleetgate \
    && useradd --system --uid 10001 --gid fleetgate --home-dir /var/lib/fleetgate \
       --shell /usr/sbin/nologin fleetgate \
    && install -d -o fleetgate -g fleetgate -m 0750 /var/lib/fleetgate
COPY --from=build /opt/fleetgate /opt/fleetgate

ENV PATH=/opt/fleetgate/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    FLEETGATE_CACHE_DIR=/var/lib/fleetgate/cache
WORKDIR /var/lib/fleetgate
USER 10001:10001
# proxy, node status (health, ready, metrics), admin API + console, config sync
EXPOSE 8080 9901 8001 50051

# GET /health of whichever plane runs here, on the address its flags or FLEETGATE_* give.
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
    CMD ["python", "-m", "control_plane.health_probe"]
# SIGTERM drains a node: it stops accepting and finishes requests in flight.
STOPSIGNAL SIGTERM
ENTRYPOINT ["fleetgate"]
CMD ["--help"]
