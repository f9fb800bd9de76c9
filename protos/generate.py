"""Regenerate the Python gRPC code from the .proto files.

Run from anywhere: ``python protos/generate.py``. The output (``*_pb2.py``,
``*_pb2_grpc.py`` and their ``.pyi`` stubs) is committed next to the .proto files
and installed as the ``projectqa.v1`` package; ``tests/unit/test_protos.py``
regenerates into a temporary folder and fails on any difference.

The stubs come from mypy-protobuf (pinned in the ``test`` extra, since its output
is compared byte for byte): grpcio-tools writes no stub for ``*_pb2_grpc.py``, and
without one every servicer method overrides an untyped base.
"""

from __future__ import annotations

import sys
import sysconfig
from pathlib import Path

from grpc_tools import protoc

PROTO_ROOT = Path(__file__).resolve().parent
# mypy-protobuf installs its protoc plugins as scripts beside this interpreter's.
PLUGINS = Path(sysconfig.get_path("scripts"))


def proto_files(root: Path = PROTO_ROOT) -> list[Path]:
    return sorted((root / "projectqa" / "v1").glob("*.proto"))


def generate(out_dir: Path, root: Path = PROTO_ROOT) -> None:
    """Write generated modules for every .proto under ``root`` into ``out_dir``."""
    include = Path(protoc.__file__).parent / "_proto"  # well-known types
    args = [
        "protoc",
        f"-I{root}",
        f"-I{include}",
        f"--plugin=protoc-gen-mypy={PLUGINS / 'protoc-gen-mypy'}",
        f"--plugin=protoc-gen-mypy_grpc={PLUGINS / 'protoc-gen-mypy_grpc'}",
        f"--python_out={out_dir}",
        f"--grpc_python_out={out_dir}",
        # Stubs typed for both the sync and the asyncio API: the CLI calls sync
        # stubs, the server and the editor bridge asyncio ones.
        f"--mypy_out=quiet:{out_dir}",
        f"--mypy_grpc_out=quiet:{out_dir}",
        *(str(p.relative_to(root)) for p in proto_files(root)),
    ]
    if protoc.main(args) != 0:
        raise SystemExit("protoc failed; see the messages above")


if __name__ == "__main__":
    generate(Path(sys.argv[1]) if len(sys.argv) > 1 else PROTO_ROOT)
