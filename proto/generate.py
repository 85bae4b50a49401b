"""Regenerate the Python protobuf and gRPC modules from the `.proto` sources.

Run `python proto/generate.py` after editing a `.proto` file and commit the result;
`tests/test_protos.py` fails when the committed modules drift from their sources.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

PROTO_ROOT = Path(__file__).resolve().parent
PACKAGE = "fleetgate_pb"


def sources() -> list[Path]:
    return sorted((PROTO_ROOT / PACKAGE).glob("*.proto"))


def generate(out_dir: Path) -> list[Path]:
    """Run protoc into `out_dir`; returns the generated files."""
    from grpc_tools import protoc  # dev dependency, imported only when generating

    include = Path(protoc.__file__).resolve().parent / "_proto"
    args = [
        "protoc",
        f"-I{PROTO_ROOT}",
        f"-I{include}",
        f"--python_out={out_dir}",
        f"--pyi_out={out_dir}",
        f"--grpc_python_out={out_dir}",
        *(str(p.relative_to(PROTO_ROOT)) for p in sources()),
    ]
    if protoc.main(args) != 0:
        raise SystemExit("protoc failed")
    return sorted(p for p in (out_dir / PACKAGE).iterdir() if p.name.endswith((".py", ".pyi")))


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        for path in generate(Path(tmp)):
            target = PROTO_ROOT / PACKAGE / path.name
            target.write_bytes(path.read_bytes())
            print(f"wrote {target.relative_to(PROTO_ROOT.parent)}", file=sys.stderr)


if __name__ == "__main__":
    main()
