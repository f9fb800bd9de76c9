"""The saved client login: one server address and its token, kept by ``projectqa login``.

The file is ``$XDG_CONFIG_HOME/projectqa/config.toml`` (else ``~/.config/projectqa/…``)::

    # Written by `projectqa login`; read by the projectqa CLI, LSP and MCP server.
    address = "qa.example.com:443"
    token = "tok_…"
    tls = true                            # TLS: the system's roots, or these:
    tls_ca_file = "/etc/ssl/qa-ca.pem"   # only when logged in with --tls-ca-file

A login to a server on another machine without TLS is only kept when it says
``insecure = true`` (``projectqa login --insecure``): one saved before that rule would
send its token in cleartext, so it is refused.

It holds a bearer token, so it is created with mode 0600 from the first byte (written
to a temporary file opened ``O_CREAT|O_EXCL`` with 0600, then renamed over the old
one) in a 0700 folder, and a file that others could read, or that another user owns,
is refused rather than used (:class:`LoginFileError`). An existing folder that others
can enter is made 0700; one another user owns is refused.
"""

from __future__ import annotations

import json
import os
import stat
import tempfile
import tomllib
from dataclasses import dataclass
from pathlib import Path

from projectqa.client.addresses import is_loopback

LOGIN_FILE = "config.toml"
HEADER = "# Written by `projectqa login`; read by the projectqa CLI, LSP and MCP server.\n"


class LoginFileError(Exception):
    """The saved login cannot be used; the message says why and what to do."""


@dataclass(frozen=True, slots=True)
class SavedLogin:
    address: str
    token: str
    tls_ca_file: str | None = None  # PEM roots the login was verified with
    tls: bool = False  # TLS (with the system's roots unless tls_ca_file names others)
    insecure: bool = False  # plaintext to another machine, as `login --insecure` allowed

    @property
    def uses_tls(self) -> bool:
        return self.tls or self.tls_ca_file is not None


def config_dir() -> Path:
    """``$XDG_CONFIG_HOME/projectqa`` (absolute values only, as XDG says), else
    ``~/.config/projectqa``."""
    xdg_config_home = os.environ.get("XDG_CONFIG_HOME")
    if xdg_config_home and Path(xdg_config_home).is_absolute():
        return Path(xdg_config_home) / "projectqa"
    return Path.home() / ".config" / "projectqa"


def login_path() -> Path:
    """Where ``projectqa login`` saves the address and token."""
    return config_dir() / LOGIN_FILE


def load_login(path: Path | None = None) -> SavedLogin | None:
    """The saved login; None when there is none. Raises LoginFileError when the file is
    readable by others, owned by someone else, or not a login file."""
    path = path or login_path()
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        return None
    except OSError as error:
        raise LoginFileError(f"cannot read {path}: {error.strerror}") from None
    with os.fdopen(fd, "rb") as file:
        _check_private(path, os.fstat(fd))  # of what was opened: no swap in between
        data = file.read()
    return _parse(path, data)


def _check_private(path: Path, status: os.stat_result) -> None:
    if status.st_uid != os.getuid():
        raise LoginFileError(
            f"{path} belongs to another user (uid {status.st_uid}), so its token is not "
            "used; remove it or run `projectqa login` again"
        )
    mode = stat.S_IMODE(status.st_mode)
    if mode & 0o077:
        raise LoginFileError(
            f"{path} is readable or writable by others (mode {mode:04o}), so its token is not "
            f"used: make it private with `chmod 600 {path}` (and consider revoking the token) "
            "or run `projectqa logout`"
        )


def _parse(path: Path, data: bytes) -> SavedLogin:
    try:
        document = tomllib.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as error:
        raise LoginFileError(f"{path} is not valid TOML ({error}); run `projectqa login`") from None
    address, token = document.get("address"), document.get("token")
    if not isinstance(address, str) or not address or not isinstance(token, str) or not token:
        raise LoginFileError(f"{path} lacks address or token; run `projectqa login` again")
    tls_ca_file = document.get("tls_ca_file")
    login = SavedLogin(
        address,
        token,
        tls_ca_file if isinstance(tls_ca_file, str) else None,
        tls=document.get("tls") is True,
        insecure=document.get("insecure") is True,
    )
    if not login.uses_tls and not login.insecure and not is_loopback(address):
        raise LoginFileError(
            f"{path} would send its token to {address} unencrypted (it was saved without "
            f"TLS), so it is not used: run `projectqa login --tls {address}` again (or with "
            "--tls-ca-file FILE; --insecure only on a network you trust)"
        )
    return login


def save_login(login: SavedLogin, path: Path | None = None) -> Path:
    """Writes ``login`` (mode 0600, atomically) and returns the file's path."""
    path = path or login_path()
    _private_folder(path.parent)
    # mkstemp opens O_CREAT|O_EXCL with mode 0600: private from its first byte.
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    temporary = Path(name)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as file:
            file.write(_toml(login))
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    return path


def _private_folder(folder: Path) -> None:
    """Makes ``folder`` (0700), or makes an existing one of ours 0700: others must not be
    able to list it or swap its files. Refuses a folder another user owns."""
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    status = folder.stat()
    if status.st_uid != os.getuid():
        raise LoginFileError(
            f"{folder} belongs to another user (uid {status.st_uid}), so no token is saved "
            "there; remove it, or set XDG_CONFIG_HOME to a folder of yours"
        )
    if stat.S_IMODE(status.st_mode) & 0o077:
        folder.chmod(0o700)


def remove_login(path: Path | None = None) -> Path | None:
    """Deletes the saved login; returns its path, or None when there was none."""
    path = path or login_path()
    try:
        path.unlink()
    except FileNotFoundError:
        return None
    return path


def _toml_string(value: str) -> str:
    # A JSON string without ASCII escaping is a TOML basic string, once DEL is escaped too.
    return json.dumps(value, ensure_ascii=False).replace("\x7f", "\\u007f")


def _toml(login: SavedLogin) -> str:
    values = {"address": login.address, "token": login.token, "tls_ca_file": login.tls_ca_file}
    lines = [f"{key} = {_toml_string(value)}" for key, value in values.items() if value]
    flags = {"tls": login.tls, "insecure": login.insecure}
    lines += [f"{key} = true" for key, value in flags.items() if value]
    return HEADER + "\n".join(lines) + "\n"
