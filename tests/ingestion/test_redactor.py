"""The Redactor that scrubs a connector's secrets from its plugin's messages: which values
are secrets, and the forms of them it finds."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime
from urllib.parse import quote_plus

import pytest

from projectqa.server.models import Connector
from projectqa.server.redaction import REDACTED, Redactor
from projectqa.server.url_credentials import written_credentials

TOKEN = "s3cr3t/t0ken+x=y"


def connector(config: dict[str, object], secrets: dict[str, object]) -> Connector:
    now = datetime(2024, 1, 1, tzinfo=UTC)
    return Connector("con_1", "prj_1", "third-party", "c", config, secrets, now, now)


@pytest.mark.parametrize("prefix", ["", "a", "ab", "abc", "user@example.com:"])
@pytest.mark.parametrize("suffix", ["", "1", "12", "123"])
def test_a_secret_inside_base64_is_found_at_every_offset(prefix: str, suffix: str) -> None:
    blob = base64.b64encode(f"{prefix}{TOKEN}{suffix}".encode()).decode()
    urlsafe = base64.urlsafe_b64encode(f"{prefix}{TOKEN}{suffix}".encode()).decode()
    redact = Redactor([TOKEN])

    assert redact(f"Authorization: Basic {blob}.") == f"Authorization: Basic {REDACTED}."
    assert redact(f"token={urlsafe}") == f"token={REDACTED}"


def test_written_forms_are_scrubbed_and_other_words_kept() -> None:
    redact = Redactor([TOKEN, "abc", " "])
    message = " | ".join(
        [TOKEN, quote_plus(TOKEN), "s3cr3t%2Ft0ken%2Bx%3Dy", json.dumps({"t": TOKEN}), "abc"]
    )

    assert redact(message) == f'{REDACTED} | {REDACTED} | {REDACTED} | {{"t": "{REDACTED}"}} | abc'
    assert redact("nothing secret here, abcdef") == "nothing secret here, abcdef"


def test_a_url_loses_its_credentials_and_its_parts_are_scrubbed_anywhere() -> None:
    url = "https://bot:p%40ss-w0rd@git.example.com/r.git"
    redact = Redactor([url])

    assert redact(f"cannot fetch {url}") == "cannot fetch https://git.example.com/r.git"
    assert redact("login bot:p@ss-w0rd failed") == f"login {REDACTED} failed"
    assert redact("password p%40ss-w0rd") == f"password {REDACTED}"
    written = ["bot:p%40ss-w0rd", "p%40ss-w0rd", "bot:p@ss-w0rd", "p@ss-w0rd"]
    assert written_credentials(url) == written
    assert written_credentials("https://tok3n@h/x") == ["tok3n"]
    assert written_credentials("ssh://git@h/x") == []


def test_any_url_with_credentials_in_a_message_is_shown_bare() -> None:
    redact = Redactor([])

    assert redact("redirected to 'https://u:pw@other.example/x'") == (
        "redirected to 'https://other.example/x'"
    )
    assert redact("to https://u:p@ss@h/x, as a@b.c") == "to https://h/x, as a@b.c"
    assert redact("ssh://git@h/r.git and a@b.c") == "ssh://git@h/r.git and a@b.c"


def test_a_connectors_secrets_are_its_secret_fields_stored_secrets_and_url_credentials() -> None:
    legacy_url = "https://old:legacy-pw@h/x"  # saved before URL credentials were split off
    stored = connector(
        {"url": legacy_url, "project": "PROJ", "webhook_secret": "hook-secret-1"},
        {"api_token": TOKEN, "extra": {"nested": ["nested-secret"]}, "pin": 918273},
    )
    redact = Redactor.of_connector(stored, ["webhook_secret", "api_token"])

    message = f"{legacy_url} hook-secret-1 {TOKEN} nested-secret 918273 PROJ"
    assert redact(message) == f"https://h/x {REDACTED} {REDACTED} {REDACTED} {REDACTED} PROJ"
