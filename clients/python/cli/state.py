"""Global options of the ``projectqa`` command, and the client they configure."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import click

from projectqa.client.cli.failures import EXIT_ACCESS, CommandFailed, missing_token
from projectqa.client.client import Client
from projectqa.client.connection import admin_token_path, resolve_address, resolve_token
from projectqa.client.login import LoginFileError, load_login


@dataclass
class CliState:
    """What the root options said; commands reach it through :data:`pass_state`."""

    address: str | None = None
    token: str | None = None
    json_output: bool = False
    timeout: float = 30.0
    tls_ca_file: Path | None = None
    progress: bool = True  # False: --no-progress
    tls: bool = False  # --tls: TLS with the system's root certificates
    _client: Client | None = field(default=None, repr=False)

    def resolved_address(self) -> str:
        """The address the commands dial: --address, PROJECTQA_ADDRESS, the saved login's,
        the default."""
        return resolve_address(self.address)

    def check_saved_login(self, *, needs_token: bool = True) -> None:
        """Fails the command when a saved login would give its address or token but cannot
        be used (readable by others, …): the library skips such a file, the CLI says so.
        A command that ``needs_token`` not (health) only reads it for the address."""
        if self.address and (self.token or not needs_token):
            return
        try:
            load_login()
        except LoginFileError as error:
            raise CommandFailed(str(error), EXIT_ACCESS) from None

    def resolved_token(self) -> str:
        """The token the commands send: --token, PROJECTQA_TOKEN, the saved login's, a
        local server's admin.token; the command fails saying how to give one if none."""
        self.check_saved_login()
        address = self.resolved_address()
        token = resolve_token(self.token, address)
        if token is None:
            raise missing_token(admin_token_path(), address)
        return token

    def client(self) -> Client:
        """The authenticated client, opened once and closed when the command ends."""
        if self._client is None:
            return self.use_token(self.resolved_token())
        return self._client

    def use_token(self, token: str) -> Client:
        """A client sending ``token`` from now on (the one before, if any, is closed)."""
        if self._client is not None:
            self._client.close()
        self._client = Client(
            self.address, token, timeout=self.timeout, tls_ca_file=self.tls_ca_file, tls=self.tls
        )
        click.get_current_context().find_root().call_on_close(self._client.close)
        return self._client


pass_state = click.make_pass_decorator(CliState, ensure=True)
