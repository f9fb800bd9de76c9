"""The JSON-RPC errors the bridge answers with (docs/EDITORS.md, "Errors")."""

from __future__ import annotations

from pygls.exceptions import JsonRpcException, JsonRpcInvalidParams


class RequestFailed(JsonRpcException):
    """LSP ``RequestFailed``: the request was valid but ProjectQA could not answer it."""

    CODE = -32803
    MESSAGE = "Request Failed"


def invalid(field: str, message: str) -> JsonRpcInvalidParams:
    """An InvalidParams error whose message starts with the offending field."""
    return JsonRpcInvalidParams(message=f"{field}: {message}")


def failed(message: str) -> RequestFailed:
    return RequestFailed(message=message)
