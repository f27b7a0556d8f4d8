"""The CRI v1 API (the kubelet's protocol), compiled at test time from the reference api.proto.

grpcio-tools compiles the proto into a dir the caller owns (once per test session); the generated
modules import each other by file name, so that dir goes on sys.path. The proto is found beside the checkout (the
shared reference specs) or at $LADING_CRI_API_PROTO.
"""

from __future__ import annotations

import importlib
import os
import sys
from pathlib import Path
from types import ModuleType

REPO = Path(__file__).resolve().parent.parent.parent
PROTO = Path(os.environ.get("LADING_CRI_API_PROTO") or REPO.parent / "shared" / "reference" / "cri-api" / "api.proto")
_MODULE = "cri_api"  # the name the generated modules get: cri_api_pb2, cri_api_pb2_grpc


def compile_api(out: Path) -> tuple[ModuleType, ModuleType]:
    """(messages, services) compiled from PROTO into out."""
    from grpc_tools import protoc

    proto = out / f"{_MODULE}.proto"
    proto.write_bytes(PROTO.read_bytes())
    argv = ["protoc", f"-I{out}", f"--python_out={out}", f"--grpc_python_out={out}", str(proto)]
    if protoc.main(argv) != 0:
        raise RuntimeError(f"protoc could not compile {PROTO}")
    sys.path.insert(0, str(out))
    return importlib.import_module(f"{_MODULE}_pb2"), importlib.import_module(f"{_MODULE}_pb2_grpc")
