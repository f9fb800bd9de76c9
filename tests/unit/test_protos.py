"""The committed generated code matches the .proto files exactly."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PROTOS = ROOT / "protos"


def _generator():
    spec = importlib.util.spec_from_file_location("generate_protos", PROTOS / "generate.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_generated_code_is_up_to_date(tmp_path: Path) -> None:
    pytest.importorskip("grpc_tools")
    pytest.importorskip("mypy_protobuf")
    generator = _generator()
    generator.generate(tmp_path)
    fresh = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*") if p.is_file())
    assert fresh, "protoc produced nothing"
    stale = [str(p) for p in fresh if (tmp_path / p).read_bytes() != (PROTOS / p).read_bytes()]
    assert not stale, f"run `python protos/generate.py` and commit: {stale} differ"


def test_every_rpc_and_field_is_commented() -> None:
    """Each service, RPC, message, field and enum value has a leading comment."""
    uncommented = []
    for proto in sorted((PROTOS / "projectqa" / "v1").glob("*.proto")):
        previous = ""
        for number, line in enumerate(proto.read_text().splitlines(), 1):
            stripped = line.strip()
            declares = stripped.startswith(("rpc ", "message ", "enum ", "service ")) or (
                stripped.endswith(";")
                and "=" in stripped
                and not stripped.startswith(("syntax", "option"))
            )
            if declares and not previous.startswith("//"):
                uncommented.append(f"{proto.name}:{number}: {stripped}")
            previous = stripped
    assert not uncommented, "\n".join(uncommented)


def test_generated_package_imports_as_projectqa_v1() -> None:
    from projectqa.v1 import admin_pb2_grpc

    assert admin_pb2_grpc.AdminServiceStub
    assert "server" not in sys.modules or not hasattr(sys.modules["server"], "app")
