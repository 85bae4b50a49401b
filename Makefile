# The two commands of the README: `make run` and `make test`. Both create .venv when missing.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint protos bench clean

# The compiled twins (setup.py) are rebuilt when their sources change.
TWINS := $(wildcard data_plane/*_c.pxd data_plane/*/*_c.pxd)
TWIN_SOURCES := $(TWINS) $(patsubst %_c.pxd,%.py,$(TWINS)) $(wildcard data_plane/*.pyx data_plane/*/*.pyx)

$(STAMP): pyproject.toml setup.py $(TWIN_SOURCES)
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip setuptools wheel
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/fleetgate up

# The tests that drive raw HTTP through a node's head path (the head path itself, framing,
# streaming, endings, retries, faults, limits, routing, forwarding fields, policies that
# read or edit the head, TLS). `make test` runs them a second time on the pure-Python twin
# of the head path; the first run is on the compiled one, and fails if it did not load.
PROTOCOL_TESTS := $(addprefix tests/data_plane/test_,heads.py heads_fuzz.py framing.py \
	streaming.py exchange_endings.py retries.py faults.py status_limits.py path_routing.py \
	leaks.py tracing.py access_log.py header_changes.py transform.py cors.py ip_filter.py \
	auth_api_key.py auth_jwt.py rate_limits.py tiers.py consistent_hashing.py \
	circuit_breaking.py proxy_protocol.py read_clock.py core_twins.py) \
	tests/tls/test_https_listener.py tests/tls/test_upstream_tls.py

test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/pytest -q
	FLEETGATE_NO_EXTENSIONS=1 $(BIN)/pytest -q $(PROTOCOL_TESTS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

protos: $(STAMP)
	$(BIN)/python proto/generate.py

bench: $(STAMP)
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
