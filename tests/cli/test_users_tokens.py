"""``projectqa admin user``, ``token`` and ``whoami`` against a real server."""

from __future__ import annotations


def test_user_create_and_list(admin_cli, unique) -> None:
    name = unique("alice")
    created = admin_cli.json(
        "admin", "user", "create", name, "--display-name", "Alice", "--global-admin"
    )
    assert created["id"].startswith("usr_")
    assert created["display_name"] == "Alice"
    assert created["global_admin"] is True

    listed = admin_cli.json("admin", "user", "list")
    assert name in [user["name"] for user in listed]
    assert name in admin_cli.ok("admin", "user", "list").stdout


def test_duplicate_user_exits_6(admin_cli, unique) -> None:
    name = unique("bob")
    admin_cli.ok("admin", "user", "create", name)
    assert admin_cli("admin", "user", "create", name).exit_code == 6


def test_whoami_describes_the_caller(admin_cli) -> None:
    me = admin_cli.json("admin", "whoami")
    assert me["user"]["global_admin"] is True
    assert me["token"]["id"].startswith("tok_")
    table = admin_cli.ok("admin", "whoami").stdout
    assert me["user"]["name"] in table and me["token"]["id"] in table


def test_token_secret_is_printed_once_and_works(admin_cli, unique) -> None:
    name = unique("carol")
    admin_cli.ok("admin", "user", "create", name)
    result = admin_cli.ok(
        "admin", "token", "create", "--user", name, "--description", "ci", "--ttl", "30d"
    )
    secret = result.stdout.strip().splitlines()[-1]
    assert "shown only now" in result.stderr

    carol = admin_cli.as_user(secret)
    me = carol.json("admin", "whoami")
    assert me["user"]["name"] == name
    assert me["token"]["description"] == "ci"
    assert me["token"]["expire_time"]

    tokens = admin_cli.json("admin", "token", "list", "--user", name)
    assert [token["id"] for token in tokens] == [me["token"]["id"]]
    assert secret not in admin_cli.ok("admin", "token", "list", "--user", name).output
    assert secret not in admin_cli.ok("--json", "admin", "token", "list", "--user", name).output


def test_revoked_token_is_refused_with_exit_4(admin_cli, member_cli) -> None:
    token_id = member_cli.json("admin", "whoami")["token"]["id"]
    revoked = admin_cli.json("admin", "token", "revoke", token_id)
    assert revoked["revoke_time"]
    result = member_cli("admin", "whoami")
    assert result.exit_code == 4
    assert result.stderr.startswith("error: UNAUTHENTICATED: ")


def test_user_issues_and_lists_own_tokens(member_cli) -> None:
    issued = member_cli.json("admin", "token", "create", "--description", "laptop")
    assert issued["secret"]
    descriptions = [token["description"] for token in member_cli.json("admin", "token", "list")]
    assert "laptop" in descriptions


def test_bad_ttl_is_a_usage_error(admin_cli) -> None:
    result = admin_cli("admin", "token", "create", "--ttl", "soon")
    assert result.exit_code == 2
    assert "duration" in result.stderr
