"""Python client library and CLI of a ProjectQA server."""

from projectqa.client.client import DEFAULT_TIMEOUT, AsyncClient, Client, health
from projectqa.client.connection import (
    DEFAULT_ADDRESS,
    admin_token_path,
    default_data_dir,
    resolve_address,
    resolve_token,
)
from projectqa.client.errors import ClientError

__all__ = [
    "DEFAULT_ADDRESS",
    "DEFAULT_TIMEOUT",
    "AsyncClient",
    "Client",
    "ClientError",
    "admin_token_path",
    "default_data_dir",
    "health",
    "resolve_address",
    "resolve_token",
]
