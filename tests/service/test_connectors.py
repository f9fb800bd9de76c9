"""Connectors: ListConnectorTypes, CreateConnector, UpdateConnector, DeleteConnector,
ListConnectors, and the write-only secret fields of their configs."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import grpc
import pytest

from projectqa.server.models import Connector, new_id, utcnow
from projectqa.v1 import admin_pb2, admin_pb2_grpc

from .conftest import RunningServer
from .fake_plugin import CONNECTOR_TYPE_NAMES, GIT_SCHEMA, PLAIN_SCHEMA, PLUGIN_NAME, SECRET_FIELD
from .helpers import (
    Code,
    all_pages,
    as_dict,
    assert_never_logged,
    assert_not_in_response,
    bearer_interceptors,
    flatten,
    rpc_error,
    struct,
)

SECRET = "s3cr3t-connector-token-4f9a"
GIT_CONFIG = {"url": "https://example.com/repo.git", "branch": "main", "depth": 5}


async def create_git(stub, name="repo", project="alpha", **config):
    request = admin_pb2.CreateConnectorRequest(
        project=project, type="fake-git", name=name, config=struct({**GIT_CONFIG, **config})
    )
    return (await stub.CreateConnector(request)).connector


async def update(stub, connector_id, **fields):
    request = admin_pb2.UpdateConnectorRequest(connector_id=connector_id, **fields)
    return (await stub.UpdateConnector(request)).connector


async def test_list_connector_types_describes_each_type(admin) -> None:
    response = await admin.ListConnectorTypes(admin_pb2.ListConnectorTypesRequest())

    types = {t.name: t for t in response.connector_types}
    assert list(types) == sorted(CONNECTOR_TYPE_NAMES)
    git = types["fake-git"]
    assert (git.description, git.plugin) == ("A fake git source", PLUGIN_NAME)
    assert as_dict(git.config_schema) == GIT_SCHEMA
    assert list(git.secret_fields) == [SECRET_FIELD]
    assert as_dict(types["fake-src1"].config_schema) == PLAIN_SCHEMA
    assert list(types["fake-src1"].secret_fields) == []


async def test_list_connector_types_follows_pages_by_name(member) -> None:
    pages = await all_pages(
        member.stub.ListConnectorTypes, admin_pb2.ListConnectorTypesRequest(), "connector_types"
    )

    assert [len(page) for page in pages] == [3, 3, 1]
    assert [t.name for t in flatten(pages)] == sorted(CONNECTOR_TYPE_NAMES)


async def test_create_connector_returns_it_without_secrets(admin, project) -> None:
    request = admin_pb2.CreateConnectorRequest(
        project="alpha",
        type="fake-git",
        name="repo",
        config=struct({**GIT_CONFIG, SECRET_FIELD: SECRET}),
    )

    response = await admin.CreateConnector(request)

    connector = response.connector
    assert connector.id.startswith("con_")
    assert (connector.project_id, connector.type, connector.name) == (
        project.id,
        "fake-git",
        "repo",
    )
    assert as_dict(connector.config) == GIT_CONFIG
    assert list(connector.secret_fields_set) == [SECRET_FIELD]
    assert connector.create_time == connector.update_time
    assert_not_in_response(response, SECRET)


async def test_create_connector_without_its_secret_lists_no_secret_set(admin, project) -> None:
    connector = await create_git(admin)

    assert list(connector.secret_fields_set) == []


async def test_list_connectors_returns_them_without_secrets(admin, member) -> None:
    created = await create_git(admin, token=SECRET)

    response = await member.stub.ListConnectors(admin_pb2.ListConnectorsRequest(project="alpha"))

    assert list(response.connectors) == [created]
    assert_not_in_response(response, SECRET)


async def test_get_connector_returns_it_without_secrets(admin, member) -> None:
    created = await create_git(admin, token=SECRET)

    response = await member.stub.GetConnector(
        admin_pb2.GetConnectorRequest(connector_id=created.id)
    )

    assert response.connector == created
    assert as_dict(response.connector.config) == GIT_CONFIG
    assert list(response.connector.secret_fields_set) == [SECRET_FIELD]
    assert_not_in_response(response, SECRET)


async def test_get_missing_connector_is_not_found(admin) -> None:
    await rpc_error(
        admin.GetConnector(admin_pb2.GetConnectorRequest(connector_id="con_missing")),
        Code.NOT_FOUND,
        "connector 'con_missing' not found",
    )


async def test_list_connectors_follows_pages(admin, project) -> None:
    ids = [(await create_git(admin, name=f"repo{i}")).id for i in range(7)]

    pages = await all_pages(
        admin.ListConnectors, admin_pb2.ListConnectorsRequest(project="alpha"), "connectors"
    )

    assert [len(page) for page in pages] == [3, 3, 1]
    listed = [c.id for c in flatten(pages)]
    assert sorted(listed) == sorted(ids)
    assert listed == sorted(listed)


async def test_update_connector_name_only_keeps_config_and_secret(admin, server, project) -> None:
    created = await create_git(admin, token=SECRET)

    updated = await update(admin, created.id, name="renamed")

    assert updated.name == "renamed"
    assert as_dict(updated.config) == GIT_CONFIG
    assert list(updated.secret_fields_set) == [SECRET_FIELD]
    assert updated.create_time == created.create_time
    assert updated.update_time.ToDatetime() >= created.update_time.ToDatetime()
    assert server.server.store.get_connector(created.id).secrets == {SECRET_FIELD: SECRET}


async def test_update_connector_same_config_without_the_secret_keeps_the_secret(
    admin, server, project
) -> None:
    created = await create_git(admin, token=SECRET)

    response = await admin.UpdateConnector(
        admin_pb2.UpdateConnectorRequest(
            connector_id=created.id, name="renamed", config=struct(GIT_CONFIG)
        )
    )

    assert as_dict(response.connector.config) == GIT_CONFIG
    assert list(response.connector.secret_fields_set) == [SECRET_FIELD]
    assert server.server.store.get_connector(created.id).secrets == {SECRET_FIELD: SECRET}
    assert_not_in_response(response, SECRET)


async def test_a_changed_config_must_repeat_or_clear_stored_secrets(admin, server, project) -> None:
    """A stored secret never follows a connector to a target its author did not see."""
    created = await create_git(admin, token=SECRET)
    new_config = {"url": "https://attacker.example/other.git"}
    request = admin_pb2.UpdateConnectorRequest(connector_id=created.id, config=struct(new_config))

    before = server.server.store.get_connector(created.id)
    await rpc_error(admin.UpdateConnector(request), Code.INVALID_ARGUMENT, "config", SECRET_FIELD)
    assert server.server.store.get_connector(created.id) == before  # nothing written

    request.clear_secret_fields.append(SECRET_FIELD)
    response = await admin.UpdateConnector(request)
    assert as_dict(response.connector.config) == new_config
    assert list(response.connector.secret_fields_set) == []


async def test_a_secret_cannot_be_both_set_and_cleared(admin, project) -> None:
    created = await create_git(admin, token=SECRET)
    request = admin_pb2.UpdateConnectorRequest(
        connector_id=created.id,
        config=struct({**GIT_CONFIG, SECRET_FIELD: "new"}),
        clear_secret_fields=[SECRET_FIELD],
    )
    await rpc_error(admin.UpdateConnector(request), Code.INVALID_ARGUMENT, "clear_secret_fields")


async def test_update_connector_with_a_new_secret_replaces_it(admin, server, project) -> None:
    created = await create_git(admin, token=SECRET)

    response = await admin.UpdateConnector(
        admin_pb2.UpdateConnectorRequest(
            connector_id=created.id, config=struct({**GIT_CONFIG, SECRET_FIELD: "rotated-7c1e"})
        )
    )

    assert list(response.connector.secret_fields_set) == [SECRET_FIELD]
    assert server.server.store.get_connector(created.id).secrets == {SECRET_FIELD: "rotated-7c1e"}
    assert_not_in_response(response, SECRET, "rotated-7c1e")


async def test_clear_secret_fields_erases_the_secret(admin, server, project) -> None:
    created = await create_git(admin, token=SECRET)

    cleared = await update(admin, created.id, clear_secret_fields=[SECRET_FIELD])

    assert list(cleared.secret_fields_set) == []
    assert as_dict(cleared.config) == GIT_CONFIG
    assert server.server.store.get_connector(created.id).secrets == {}
    listed = await admin.ListConnectors(admin_pb2.ListConnectorsRequest(project="alpha"))
    assert list(listed.connectors[0].secret_fields_set) == []


async def test_clearing_a_field_that_is_no_secret_is_invalid(admin, project) -> None:
    created = await create_git(admin, token=SECRET)

    await rpc_error(
        admin.UpdateConnector(
            admin_pb2.UpdateConnectorRequest(connector_id=created.id, clear_secret_fields=["url"])
        ),
        Code.INVALID_ARGUMENT,
        "clear_secret_fields: ",
        "url",
    )


async def test_connector_secrets_never_reach_the_server_log(admin, project, server_log) -> None:
    created = await create_git(admin, token=SECRET)
    await update(admin, created.id, config=struct({**GIT_CONFIG, SECRET_FIELD: "rotated-7c1e"}))
    await update(admin, created.id, name="renamed")
    await admin.GetConnector(admin_pb2.GetConnectorRequest(connector_id=created.id))
    await admin.ListConnectors(admin_pb2.ListConnectorsRequest(project="alpha"))
    # A failing call with a secret in the request must not log it either.
    await rpc_error(
        create_git(admin, name="bad", depth=0, token="failing-secret-91"), Code.INVALID_ARGUMENT
    )

    assert_never_logged(server_log.records, SECRET, "rotated-7c1e", "failing-secret-91")


async def test_a_secret_of_the_wrong_type_is_not_echoed_in_the_error(admin, project) -> None:
    details = await rpc_error(
        create_git(admin, token=["leaky-secret-value"]),
        Code.INVALID_ARGUMENT,
        f"config.{SECRET_FIELD}",
    )

    assert "leaky-secret-value" not in details


async def test_create_connector_with_a_taken_name_already_exists(admin, new_project) -> None:
    await new_project("alpha")
    await new_project("beta")
    await create_git(admin, name="repo")

    await rpc_error(create_git(admin, name="repo"), Code.ALREADY_EXISTS, "repo")
    # Names are unique per project only.
    assert (await create_git(admin, name="repo", project="beta")).name == "repo"


async def test_renaming_a_connector_to_a_taken_name_already_exists(admin, project) -> None:
    await create_git(admin, name="one")
    two = await create_git(admin, name="two")

    await rpc_error(update(admin, two.id, name="one"), Code.ALREADY_EXISTS, "one")


@pytest.mark.parametrize(
    ("type_name", "name", "config", "fragments"),
    [
        ("nope", "c", {"url": "u"}, ["type: ", "nope"]),
        ("", "c", {"url": "u"}, ["type: "]),
        ("fake-git", "c", {"url": "u", "depth": 0}, ["config.depth: "]),
        ("fake-git", "c", {"url": "u", "depth": 1.5}, ["config.depth: ", "integer"]),
        ("fake-git", "c", {"url": 7}, ["config.url: ", "string"]),
        ("fake-git", "c", {"branch": "main"}, ["config: ", "'url'"]),
        ("fake-git", "c", {"url": "u", "extra": 1}, ["config: ", "'extra'"]),
        ("fake-git", "", {"url": "u"}, ["name: "]),
        ("fake-git", "n" * 129, {"url": "u"}, ["name: "]),
    ],
    ids=[
        "unknown-type",
        "empty-type",
        "depth-below-minimum",
        "depth-not-integer",
        "url-not-string",
        "url-missing",
        "extra-property",
        "empty-name",
        "name-129",
    ],
)
async def test_create_connector_rejects_bad_fields_naming_the_field(
    admin, project, type_name, name, config, fragments
) -> None:
    request = admin_pb2.CreateConnectorRequest(
        project="alpha", type=type_name, name=name, config=struct(config)
    )

    details = await rpc_error(admin.CreateConnector(request), Code.INVALID_ARGUMENT, *fragments)

    assert details.startswith(fragments[0])
    listed = await admin.ListConnectors(admin_pb2.ListConnectorsRequest(project="alpha"))
    assert list(listed.connectors) == []


@pytest.mark.parametrize("number", [float("nan"), float("inf"), float("-inf")])
@pytest.mark.parametrize("rpc", ["CreateConnector", "UpdateConnector"])
async def test_non_finite_numbers_in_a_config_are_invalid(admin, project, rpc, number) -> None:
    config = struct({**GIT_CONFIG, "depth": number})
    if rpc == "CreateConnector":
        call = admin.CreateConnector(
            admin_pb2.CreateConnectorRequest(
                project="alpha", type="fake-git", name="c", config=config
            )
        )
    else:
        call = update(admin, (await create_git(admin)).id, config=config)

    await rpc_error(call, Code.INVALID_ARGUMENT, "config")


async def test_unknown_connector_type_error_names_the_known_types(admin, project) -> None:
    request = admin_pb2.CreateConnectorRequest(project="alpha", type="jira", name="c")

    await rpc_error(admin.CreateConnector(request), Code.INVALID_ARGUMENT, "type: ", "fake-git")


@pytest.mark.parametrize(
    ("config", "fragment"),
    [({"url": "u", "depth": -3}, "config.depth: "), ({"depth": 2}, "config: ")],
    ids=["depth-below-minimum", "url-missing"],
)
async def test_update_connector_validates_the_new_config(admin, project, config, fragment) -> None:
    created = await create_git(admin)

    await rpc_error(
        update(admin, created.id, config=struct(config)), Code.INVALID_ARGUMENT, fragment
    )

    listed = await admin.ListConnectors(admin_pb2.ListConnectorsRequest(project="alpha"))
    assert list(listed.connectors) == [created]


async def test_delete_connector_removes_it(admin, project) -> None:
    keep = await create_git(admin, name="keep")
    gone = await create_git(admin, name="gone")

    await admin.DeleteConnector(admin_pb2.DeleteConnectorRequest(connector_id=gone.id))

    listed = await admin.ListConnectors(admin_pb2.ListConnectorsRequest(project="alpha"))
    assert list(listed.connectors) == [keep]
    await rpc_error(
        admin.DeleteConnector(admin_pb2.DeleteConnectorRequest(connector_id=gone.id)),
        Code.NOT_FOUND,
        f"connector {gone.id!r} not found",
    )
    await rpc_error(update(admin, gone.id, name="x"), Code.NOT_FOUND)
    await rpc_error(
        admin.GetConnector(admin_pb2.GetConnectorRequest(connector_id=gone.id)), Code.NOT_FOUND
    )


@pytest.mark.parametrize("rpc", ["GetConnector", "UpdateConnector", "DeleteConnector"])
async def test_connector_rpcs_need_a_connector_id(admin, rpc) -> None:
    request = getattr(admin_pb2, f"{rpc}Request")()

    await rpc_error(getattr(admin, rpc)(request), Code.INVALID_ARGUMENT, "connector_id")


async def test_config_keys_with_dots_and_dollars_round_trip(admin, project) -> None:
    config = {"path": "/srv/docs", "a.b": 1, "$c": "d", "nested": {"x.y": [1, "two", None]}}
    created = (
        await admin.CreateConnector(
            admin_pb2.CreateConnectorRequest(
                project="alpha", type="fake-src1", name="docs", config=struct(config)
            )
        )
    ).connector

    fetched = await admin.GetConnector(admin_pb2.GetConnectorRequest(connector_id=created.id))

    assert as_dict(created.config) == as_dict(fetched.connector.config) == config


async def test_connector_of_an_unregistered_type_can_be_read_and_deleted_not_updated(
    admin, server, project
) -> None:
    # As if the plugin that registered "retired" had been uninstalled since.
    now = utcnow()
    orphan = Connector(
        new_id("con"), project.id, "retired", "old", {"k": "v"}, {"pw": SECRET}, now, now
    )
    server.server.store.create_connector(orphan)

    fetched = await admin.GetConnector(admin_pb2.GetConnectorRequest(connector_id=orphan.id))
    assert (fetched.connector.type, fetched.connector.name) == ("retired", "old")
    assert list(fetched.connector.secret_fields_set) == ["pw"]
    assert_not_in_response(fetched, SECRET)
    await rpc_error(
        update(admin, orphan.id, name="new"),
        Code.FAILED_PRECONDITION,
        "'retired' is not registered",
    )
    await admin.DeleteConnector(admin_pb2.DeleteConnectorRequest(connector_id=orphan.id))
    listed = await admin.ListConnectors(admin_pb2.ListConnectorsRequest(project="alpha"))
    assert list(listed.connectors) == []


# --- Credentials written into a URL (user:password@) are write-only, like secret fields.
URL_PASSWORD = "pa55-in-the-url-8d2e"
BARE_URL = "https://example.com/repo.git"
URL_WITH_PASSWORD = f"https://alice:{URL_PASSWORD}@example.com/repo.git"


async def test_a_password_in_a_url_is_stored_as_a_secret_and_never_returned(
    admin, member, server, project
) -> None:
    created = await create_git(admin, url=URL_WITH_PASSWORD)
    got = await member.stub.GetConnector(admin_pb2.GetConnectorRequest(connector_id=created.id))
    listed = await member.stub.ListConnectors(admin_pb2.ListConnectorsRequest(project="alpha"))

    for connector in (created, got.connector, listed.connectors[0]):
        assert as_dict(connector.config)["url"] == BARE_URL
        assert list(connector.secret_fields_set) == ["url"]
        assert_not_in_response(connector, URL_PASSWORD, "alice")
    stored = server.server.store.get_connector(created.id)
    assert stored.config["url"] == BARE_URL
    assert stored.secrets == {"url": URL_WITH_PASSWORD}  # what a run connects with


async def test_a_token_as_the_user_of_an_https_url_is_a_secret_too(admin, project) -> None:
    created = await create_git(admin, url=f"https://{URL_PASSWORD}@example.com/repo.git")

    assert as_dict(created.config)["url"] == BARE_URL
    assert list(created.secret_fields_set) == ["url"]


@pytest.mark.parametrize(
    "url",
    [
        f" https://alice:{URL_PASSWORD}@example.com/repo.git",  # pasted with a space
        f"\thttps://{URL_PASSWORD}@example.com/repo.git",
        f"https://example.com/repo.git?private_token={URL_PASSWORD}",  # GitLab
        f"https://example.com/repo.git?ref=main&access_token={URL_PASSWORD}",
        f"https://example.com/repo.git?API_KEY={URL_PASSWORD}#top",
    ],
)
async def test_credentials_written_otherwise_in_a_url_are_secrets_too(
    admin, member, server, project, url
) -> None:
    created = await create_git(admin, url=url)
    got = await member.stub.GetConnector(admin_pb2.GetConnectorRequest(connector_id=created.id))

    for connector in (created, got.connector):
        assert list(connector.secret_fields_set) == ["url"]
        assert_not_in_response(connector, URL_PASSWORD)
        assert as_dict(connector.config)["url"].strip().startswith(BARE_URL)
    assert server.server.store.get_connector(created.id).secrets == {"url": url}


async def test_a_query_token_is_kept_when_the_url_is_sent_back_without_it(
    admin, server, project
) -> None:
    url = f"https://example.com/repo.git?ref=main&private_token={URL_PASSWORD}"
    created = await create_git(admin, url=url)
    assert as_dict(created.config)["url"] == f"{BARE_URL}?ref=main"

    updated = await update(admin, created.id, config=struct(as_dict(created.config)))

    assert list(updated.secret_fields_set) == ["url"]
    assert server.server.store.get_connector(created.id).secrets == {"url": url}


@pytest.mark.parametrize("delimiter", ["/", "?", "#"])
async def test_a_password_with_an_unencoded_delimiter_is_refused(
    admin, server, project, delimiter
) -> None:
    url = f"https://alice:pa55{delimiter}word-8d2e@example.com/repo.git"

    details = await rpc_error(
        create_git(admin, url=url), Code.INVALID_ARGUMENT, "config.url", "percent-encode"
    )
    assert "word-8d2e" not in details
    await rpc_error(  # nor below the top level
        admin.CreateConnector(
            admin_pb2.CreateConnectorRequest(
                project="alpha", type="fake-src1", name="m", config=struct({"mirrors": [url]})
            )
        ),
        Code.INVALID_ARGUMENT,
        "config.mirrors[0]",
    )
    listed = await admin.ListConnectors(admin_pb2.ListConnectorsRequest(project="alpha"))
    assert list(listed.connectors) == []


async def test_a_port_or_an_at_sign_in_the_path_is_no_credential(admin, project) -> None:
    for name, url in [
        ("port", "https://example.com:8443/@scope/repo.git"),
        ("path", "https://example.com/users/@ann/repo.git?ref=main"),
    ]:
        created = await create_git(admin, name=name, url=url)
        assert as_dict(created.config)["url"] == url
        assert list(created.secret_fields_set) == []


async def test_an_ssh_user_name_is_no_secret(admin, project) -> None:
    url = "ssh://git@example.com/repo.git"
    created = await create_git(admin, url=url)
    assert as_dict(created.config)["url"] == url
    assert list(created.secret_fields_set) == []

    with_password = await create_git(admin, name="pw", url=f"ssh://git:{URL_PASSWORD}@h/r.git")
    assert as_dict(with_password.config)["url"] == "ssh://git@h/r.git"
    assert list(with_password.secret_fields_set) == ["url"]


async def test_sending_the_url_back_without_credentials_keeps_them(admin, server, project) -> None:
    created = await create_git(admin, url=URL_WITH_PASSWORD, token=SECRET)

    updated = await update(admin, created.id, config=struct(as_dict(created.config)))

    assert list(updated.secret_fields_set) == ["token", "url"]
    assert server.server.store.get_connector(created.id).secrets == {
        "token": SECRET,
        "url": URL_WITH_PASSWORD,
    }


async def test_new_url_credentials_replace_the_stored_ones(admin, server, project) -> None:
    created = await create_git(admin, url=URL_WITH_PASSWORD)
    rotated = "https://alice:rotated-9f1c@example.com/repo.git"

    updated = await update(admin, created.id, config=struct({**GIT_CONFIG, "url": rotated}))

    assert as_dict(updated.config)["url"] == BARE_URL
    assert_not_in_response(updated, "rotated-9f1c", URL_PASSWORD)
    assert server.server.store.get_connector(created.id).secrets == {"url": rotated}


async def test_url_credentials_do_not_follow_a_changed_url(admin, server, project) -> None:
    created = await create_git(admin, url=URL_WITH_PASSWORD)
    elsewhere = {**GIT_CONFIG, "url": "https://attacker.example/repo.git"}
    request = admin_pb2.UpdateConnectorRequest(connector_id=created.id, config=struct(elsewhere))

    await rpc_error(admin.UpdateConnector(request), Code.INVALID_ARGUMENT, "config", "url")
    request.clear_secret_fields.append("url")
    moved = (await admin.UpdateConnector(request)).connector

    assert list(moved.secret_fields_set) == []
    assert server.server.store.get_connector(created.id).secrets == {}


async def test_url_credentials_can_be_cleared(admin, server, project) -> None:
    created = await create_git(admin, url=URL_WITH_PASSWORD)

    cleared = await update(admin, created.id, clear_secret_fields=["url"])

    assert as_dict(cleared.config)["url"] == BARE_URL
    assert list(cleared.secret_fields_set) == []
    stored = server.server.store.get_connector(created.id)
    assert (stored.config["url"], stored.secrets) == (BARE_URL, {})


async def test_url_credentials_in_a_nested_value_are_refused(admin, project) -> None:
    request = admin_pb2.CreateConnectorRequest(
        project="alpha",
        type="fake-src1",
        name="mirrors",
        config=struct({"path": "p", "mirrors": [BARE_URL, URL_WITH_PASSWORD]}),
    )

    details = await rpc_error(
        admin.CreateConnector(request), Code.INVALID_ARGUMENT, "config.mirrors[1]"
    )
    assert URL_PASSWORD not in details


async def test_a_connector_stored_with_url_credentials_before_is_shown_without_them(
    admin, server, project
) -> None:
    # A connector written before URL credentials were split off.
    now = utcnow()
    legacy = Connector(
        new_id("con"), project.id, "fake-git", "legacy", {"url": URL_WITH_PASSWORD}, {}, now, now
    )
    server.server.store.create_connector(legacy)

    got = await admin.GetConnector(admin_pb2.GetConnectorRequest(connector_id=legacy.id))
    listed = await admin.ListConnectors(admin_pb2.ListConnectorsRequest(project="alpha"))
    renamed = await update(admin, legacy.id, name="renamed", config=struct({"url": BARE_URL}))

    for connector in (got.connector, listed.connectors[0], renamed):
        assert as_dict(connector.config) == {"url": BARE_URL}
        assert list(connector.secret_fields_set) == ["url"]
    stored = server.server.store.get_connector(legacy.id)
    assert (stored.config, stored.secrets) == ({"url": BARE_URL}, {"url": URL_WITH_PASSWORD})


async def test_url_credentials_never_reach_the_server_log(admin, project, server_log) -> None:
    created = await create_git(admin, url=URL_WITH_PASSWORD)
    await update(admin, created.id, config=struct({**GIT_CONFIG, "url": URL_WITH_PASSWORD}))
    await admin.GetConnector(admin_pb2.GetConnectorRequest(connector_id=created.id))
    changed = {**GIT_CONFIG, "branch": "dev"}  # the stored credentials must be given again
    await rpc_error(update(admin, created.id, config=struct(changed)), Code.INVALID_ARGUMENT)
    await rpc_error(
        create_git(admin, name="bad", url=URL_WITH_PASSWORD, depth=0), Code.INVALID_ARGUMENT
    )

    assert_never_logged(server_log.records, URL_PASSWORD)


@pytest.fixture
async def builtin_admin(
    start_server: Callable[..., Awaitable[RunningServer]],
) -> AsyncIterator[admin_pb2_grpc.AdminServiceStub]:
    """The global admin of a server with the built-in ``local`` and ``git`` types and a
    project ``files``."""
    running = await start_server(plugins=["local", "git"])
    interceptors = bearer_interceptors(running.admin_token)
    async with grpc.aio.insecure_channel(running.address, interceptors=interceptors) as channel:
        stub = admin_pb2_grpc.AdminServiceStub(channel)
        await stub.CreateProject(admin_pb2.CreateProjectRequest(slug="files", name="files"))
        yield stub


def file_connector(type_name: str, folder: Path, **config: object) -> dict[str, object]:
    folder.mkdir(exist_ok=True)
    return {"path" if type_name == "local" else "url": str(folder), **config}


@pytest.mark.parametrize("type_name", ["local", "git"])
async def test_invalid_patterns_are_refused_when_a_connector_is_saved(
    builtin_admin: admin_pb2_grpc.AdminServiceStub, tmp_path: Path, type_name: str
) -> None:
    """Issue #13 item 7: they were accepted, and every run of the connector then failed."""
    folder = tmp_path / "sources"
    for field, patterns in (("exclude", ["*.log", "build/", "!"]), ("include", ["[z-a]"])):
        config = file_connector(type_name, folder, **{field: patterns})
        request = admin_pb2.CreateConnectorRequest(
            project="files", type=type_name, name="files", config=struct(config)
        )
        bad = len(patterns) - 1
        details = await rpc_error(
            builtin_admin.CreateConnector(request), Code.INVALID_ARGUMENT, f"config.{field}[{bad}]"
        )
        assert details == (
            f"config.{field}[{bad}]: {patterns[bad]!r} is not a valid .gitignore pattern"
        )

    good = file_connector(type_name, folder, exclude=["*.log"])
    created = (
        await builtin_admin.CreateConnector(
            admin_pb2.CreateConnectorRequest(
                project="files", type=type_name, name="files", config=struct(good)
            )
        )
    ).connector
    bad_update = struct({**good, "exclude": ["*.log", "!"]})
    await rpc_error(
        update(builtin_admin, created.id, config=bad_update),
        Code.INVALID_ARGUMENT,
        "config.exclude[1]: '!' is not a valid .gitignore pattern",
    )
    listed = await builtin_admin.ListConnectors(admin_pb2.ListConnectorsRequest(project="files"))
    assert list(listed.connectors) == [created]


async def test_a_password_in_an_scp_style_git_url_is_refused(
    builtin_admin: admin_pb2_grpc.AdminServiceStub, server_log: pytest.LogCaptureFixture
) -> None:
    """Security review of issue #13: ``bob:pw@host:repo.git`` passed the git connector's
    checks but holds no credential ``has_credentials`` knows, so every member saw the
    password. ssh never uses a password written there, so it is refused, unechoed."""
    for url in (f"bob:{URL_PASSWORD}@example.com:repo.git", f" bob:{URL_PASSWORD}@h:o/r.git"):
        request = admin_pb2.CreateConnectorRequest(
            project="files", type="git", name="repo", config=struct({"url": url})
        )
        details = await rpc_error(
            builtin_admin.CreateConnector(request), Code.INVALID_ARGUMENT, "config.url"
        )
        assert URL_PASSWORD not in details
    listed = await builtin_admin.ListConnectors(admin_pb2.ListConnectorsRequest(project="files"))
    assert list(listed.connectors) == []
    assert_never_logged(server_log.records, URL_PASSWORD)

    account = admin_pb2.CreateConnectorRequest(
        project="files", type="git", name="repo", config=struct({"url": "git@h:o/@scope/r.git"})
    )
    created = (await builtin_admin.CreateConnector(account)).connector
    assert as_dict(created.config)["url"] == "git@h:o/@scope/r.git"
