"""The gRPC servicers: proto in, domain call, proto out."""

from __future__ import annotations

from typing import Any, TypeAlias

import grpc

# The servicers take the caller from the interceptor (``current_principal``) and abort by
# raising domain errors, so the context's request and response types add nothing.
Context: TypeAlias = grpc.aio.ServicerContext[Any, Any]
