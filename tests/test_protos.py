"""The committed protobuf modules are exactly what the `.proto` sources generate."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE_DIR = ROOT / "proto" / "fleetgate_pb"


def _generator():  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location("proto_generate", ROOT / "proto" / "generate.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules["proto_generate"] = module
    spec.loader.exec_module(module)
    return module


def test_generated_modules_match_the_proto_sources(tmp_path: Path) -> None:
    generated = _generator().generate(tmp_path)
    assert generated, "protoc produced nothing"
    for path in generated:
        committed = PACKAGE_DIR / path.name
        assert committed.exists(), f"{committed.name} is not committed; run `make protos`"
        assert committed.read_bytes() == path.read_bytes(), (
            f"{committed.name} drifted from its .proto source; run `make protos`"
        )


def test_no_stale_generated_module_is_left_behind(tmp_path: Path) -> None:
    generated = {p.name for p in _generator().generate(tmp_path)}
    committed = {
        p.name
        for p in PACKAGE_DIR.iterdir()
        if p.name.endswith(("_pb2.py", "_pb2.pyi", "_pb2_grpc.py"))
    }
    assert committed == generated
