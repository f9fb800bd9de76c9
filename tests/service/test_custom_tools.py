"""Script tools in AdminService (Create/Update/Delete/ListCustomTools) on a real server."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from projectqa.client import Client
from projectqa.v1 import admin_pb2

from .fake_plugin import PLUGIN_NAME
from .helpers import Code, all_pages, as_dict, flatten, rpc_error, struct

SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "files": {"type": "array", "items": {"type": "string"}},
        "select": {"type": "string"},
    },
    "required": ["files"],
}
DEFAULT_SCHEMA = {"type": "object", "properties": {}}


def tool_message(name: str = "lint", **fields: Any) -> admin_pb2.CustomTool:
    values: dict[str, Any] = {
        "name": name,
        "description": "Runs ruff on files",
        "command": ["ruff", "check", "--select={select}", "{files}"],
        "arguments_schema": struct(SCHEMA),
        "enabled": True,
    }
    values.update(fields)
    return admin_pb2.CustomTool(**values)


@pytest.fixture
async def server(start_server):
    """The operator lets project admins run ruff (and nothing else) as script tools."""
    return await start_server(script_tool_programs=["ruff"])


async def create(stub, project: str = "alpha", **fields: Any) -> admin_pb2.CustomTool:
    request = admin_pb2.CreateCustomToolRequest(project=project, tool=tool_message(**fields))
    return (await stub.CreateCustomTool(request)).tool


async def update(stub, name: str = "lint", project: str = "alpha", **fields: Any):
    request = admin_pb2.UpdateCustomToolRequest(project=project, name=name, **fields)
    return (await stub.UpdateCustomTool(request)).tool


async def names(stub, project: str = "alpha") -> list[str]:
    response = await stub.ListCustomTools(admin_pb2.ListCustomToolsRequest(project=project))
    return [t.name for t in response.tools]


async def connector(admin, name: str, project: str = "alpha") -> admin_pb2.Connector:
    request = admin_pb2.CreateConnectorRequest(
        project=project, type="fake-src1", name=name, config=struct({})
    )
    return (await admin.CreateConnector(request)).connector


# -------------------------------------------------------------- lifecycle


async def test_create_list_update_delete(admin, project) -> None:
    created = await create(admin)

    assert created.id.startswith("ctl_")
    assert created.project_id == project.id
    assert list(created.command) == ["ruff", "check", "--select={select}", "{files}"]
    assert as_dict(created.arguments_schema) == SCHEMA
    assert (created.timeout_seconds, created.max_output_bytes) == (30, 65536)  # defaults
    assert (created.side_effects, created.connector, created.enabled) == (False, "", True)
    assert created.create_time == created.update_time
    listed = (await admin.ListCustomTools(admin_pb2.ListCustomToolsRequest(project="alpha"))).tools
    assert list(listed) == [created]

    changed = await update(admin, description="Lints", timeout_seconds=120, side_effects=True)

    assert (changed.description, changed.timeout_seconds, changed.side_effects) == (
        "Lints",
        120,
        True,
    )
    assert list(changed.command) == list(created.command)  # replace_command unset: kept
    assert changed.max_output_bytes == 65536 and changed.enabled
    assert changed.create_time == created.create_time
    assert changed.update_time.ToDatetime() >= created.update_time.ToDatetime()

    replaced = await update(admin, command=["make", "lint"], replace_command=True, enabled=False)
    assert list(replaced.command) == ["make", "lint"]
    assert replaced.enabled is False

    await admin.DeleteCustomTool(admin_pb2.DeleteCustomToolRequest(project="alpha", name="lint"))
    assert await names(admin) == []


async def test_empty_schema_means_no_arguments(admin, project) -> None:
    created = await create(admin, command=["make", "test"], arguments_schema=struct({}))

    assert as_dict(created.arguments_schema) == DEFAULT_SCHEMA


async def test_list_is_by_name_in_pages(admin, project) -> None:
    for name in ("zeta", "alpha", "mid", "beta", "omega", "delta", "kappa"):
        await create(admin, name=name)

    pages = await all_pages(
        admin.ListCustomTools, admin_pb2.ListCustomToolsRequest(project="alpha"), "tools"
    )

    assert [len(page) for page in pages] == [3, 3, 1]
    listed = [t.name for t in flatten(pages)]
    assert listed == ["alpha", "beta", "delta", "kappa", "mid", "omega", "zeta"]


async def test_tools_belong_to_their_project(admin, new_project) -> None:
    await new_project("alpha")
    await new_project("beta")
    await create(admin, project="alpha")
    await create(admin, project="beta")  # the same name in another project is fine

    await admin.DeleteCustomTool(admin_pb2.DeleteCustomToolRequest(project="beta", name="lint"))

    assert await names(admin, "alpha") == ["lint"]
    assert await names(admin, "beta") == []


async def test_deleting_the_project_deletes_its_tools(admin, new_project) -> None:
    await new_project("alpha")
    await create(admin)
    await admin.DeleteProject(admin_pb2.DeleteProjectRequest(project="alpha"))
    await new_project("alpha")

    assert await names(admin) == []


async def test_the_python_client(server, project) -> None:
    def use_client() -> tuple[Any, ...]:
        with Client(server.address, server.admin_token) as client:
            created = client.create_custom_tool(
                "alpha", "tests", description="Runs the tests", command=["make", "test"]
            )
            changed = client.update_custom_tool(
                "alpha", "tests", command=["make", "check", "{target}"],
                arguments_schema={"type": "object", "properties": {"target": {"type": "string"}}},
                timeout_seconds=60,
            )  # fmt: skip
            listed = [t.name for t in client.list_custom_tools("alpha", page_size=1)]
            client.delete_custom_tool("alpha", "tests")
            return created, changed, listed, list(client.list_custom_tools("alpha"))

    created, changed, listed, after = await asyncio.to_thread(use_client)

    assert created.enabled is True and list(created.command) == ["make", "test"]
    assert list(changed.command) == ["make", "check", "{target}"]
    assert changed.timeout_seconds == 60 and changed.description == "Runs the tests"
    assert listed == ["tests"]
    assert after == []


# ---------------------------------------------------------------- access


async def test_project_admin_may_write_and_member_may_only_list(
    admin, project, project_admin, member
) -> None:
    await create(project_admin.stub)
    assert await names(member.stub) == ["lint"]

    await rpc_error(create(member.stub, name="other"), Code.PERMISSION_DENIED, "admin role")
    await rpc_error(update(member.stub, description="x"), Code.PERMISSION_DENIED)
    await rpc_error(
        member.stub.DeleteCustomTool(
            admin_pb2.DeleteCustomToolRequest(project="alpha", name="lint")
        ),
        Code.PERMISSION_DENIED,
    )
    assert await names(admin) == ["lint"]


@pytest.mark.parametrize("program", ["sh", "/usr/bin/ruff", "./ruff"])
async def test_project_admins_run_only_the_programs_the_operator_allows(
    admin, project, project_admin, program
) -> None:
    await rpc_error(
        create(project_admin.stub, command=[program, "-c", "cat /etc/passwd"]),
        Code.PERMISSION_DENIED,
        "PROJECTQA_SCRIPT_TOOL_PROGRAMS: ruff",
        "needs a global admin",
    )
    await create(project_admin.stub)  # ruff is allowed
    await rpc_error(
        update(project_admin.stub, command=[program], replace_command=True),
        Code.PERMISSION_DENIED,
    )
    tool = await create(admin, name="shell", command=[program, "-c", "true"])  # global admin
    assert list(tool.command) == [program, "-c", "true"]


async def test_outsiders_see_no_project(project, new_user) -> None:
    outsider = await new_user("olga")

    await rpc_error(names(outsider.stub), Code.NOT_FOUND, "project 'alpha' not found")
    await rpc_error(create(outsider.stub), Code.NOT_FOUND, "project 'alpha' not found")


# ------------------------------------------------------------ validation


async def test_duplicate_name_already_exists(admin, project) -> None:
    await create(admin)

    await rpc_error(create(admin, description="again"), Code.ALREADY_EXISTS, "'lint'")


@pytest.mark.parametrize("name", ["grep", "open_file", "search", "project_metadata"])
async def test_built_in_names_are_reserved(admin, project, name) -> None:
    await rpc_error(create(admin, name=name), Code.INVALID_ARGUMENT, "name: ", "built-in tool")


async def test_plugin_tool_names_are_taken(admin, project) -> None:
    await rpc_error(
        create(admin, name="echo"), Code.INVALID_ARGUMENT, "name: ", f"plugin {PLUGIN_NAME!r}"
    )


@pytest.mark.parametrize("name", ["", "Lint", "1lint", "has space", "l" * 65, "-x", "a/b"])
async def test_bad_names(admin, project, name) -> None:
    await rpc_error(create(admin, name=name), Code.INVALID_ARGUMENT, "name: ")


@pytest.mark.parametrize(
    ("schema", "fragment"),
    [
        ({"type": "object", "properties": {"x": {"type": "nonsense"}}}, "invalid JSON Schema: "),
        ({"type": "object", "required": "x"}, "invalid JSON Schema: 'x' is not of type 'array'"),
        ({"type": "array"}, '"type": "object"'),
        ({"properties": {}}, '"type": "object"'),
    ],
    ids=["bad-type", "bad-required", "array", "no-type"],
)
async def test_invalid_schemas(admin, project, schema, fragment) -> None:
    await rpc_error(
        create(admin, command=["make"], arguments_schema=struct(schema)),
        Code.INVALID_ARGUMENT,
        "arguments_schema: ",
        fragment,
    )


async def test_update_to_an_invalid_schema(admin, project) -> None:
    await create(admin)

    await rpc_error(
        update(admin, arguments_schema=struct({"type": "object", "properties": 3})),
        Code.INVALID_ARGUMENT,
        "arguments_schema: ",
    )
    # A valid schema that drops a property the command uses.
    await rpc_error(
        update(admin, arguments_schema=struct({"type": "object", "properties": {}})),
        Code.INVALID_ARGUMENT,
        "command[2]: ",
        "{select}",
    )


@pytest.mark.parametrize(
    ("command", "fragment"),
    [
        ([], "command: must have 1-64 items (got 0)"),
        (["x"] * 65, "command: must have 1-64 items (got 65)"),
        (["make", ""], "command[1]: must not be empty"),
        (["make", "x" * 4097], "command[1]: must be at most 4096 characters"),
        (["make", "{nope}"], "command[1]: {nope} names no property of arguments_schema"),
        (["{files}", "x"], "command[0]: the program must be fixed"),
    ],
    ids=["empty", "too-many", "empty-item", "long-item", "unknown-placeholder", "program"],
)
async def test_bad_commands(admin, project, command, fragment) -> None:
    await rpc_error(create(admin, command=command), Code.INVALID_ARGUMENT, fragment)


@pytest.mark.parametrize(
    ("fields", "fragment"),
    [
        ({"description": ""}, "description: must not be empty"),
        ({"description": "d" * 2001}, "description: must be at most 2000"),
        ({"timeout_seconds": 601}, "timeout_seconds: "),
        ({"timeout_seconds": -1}, "timeout_seconds: "),
        ({"max_output_bytes": 1023}, "max_output_bytes: "),
        ({"max_output_bytes": 10 * 1024 * 1024 + 1}, "max_output_bytes: "),
    ],
)
async def test_bad_fields(admin, project, fields, fragment) -> None:
    await rpc_error(create(admin, **fields), Code.INVALID_ARGUMENT, fragment)


async def test_limits_at_their_bounds(admin, project) -> None:
    low = await create(admin, name="low", timeout_seconds=1, max_output_bytes=1024)
    high = await create(admin, name="high", timeout_seconds=600, max_output_bytes=10 * 1024**2)

    assert (low.timeout_seconds, low.max_output_bytes) == (1, 1024)
    assert (high.timeout_seconds, high.max_output_bytes) == (600, 10 * 1024**2)


async def test_connector_by_name_or_id_is_stored_as_its_id(admin, new_project) -> None:
    await new_project("alpha")
    await new_project("beta")
    docs = await connector(admin, "docs")
    other = await connector(admin, "theirs", project="beta")

    by_name = await create(admin, name="a", connector="docs")
    by_id = await create(admin, name="b", connector=docs.id)
    assert by_name.connector == by_id.connector == docs.id

    await rpc_error(create(admin, name="c", connector="nope"), Code.INVALID_ARGUMENT, "connector")
    await rpc_error(
        create(admin, name="d", connector=other.id), Code.INVALID_ARGUMENT, "connector: "
    )
    cleared = await update(admin, name="a", connector="")
    assert cleared.connector == ""


async def test_unknown_tools_are_not_found(admin, project) -> None:
    await rpc_error(update(admin, name="ghost", description="x"), Code.NOT_FOUND, "'ghost'")
    await rpc_error(
        admin.DeleteCustomTool(admin_pb2.DeleteCustomToolRequest(project="alpha", name="ghost")),
        Code.NOT_FOUND,
        "'ghost'",
    )


@pytest.mark.parametrize(
    ("ref", "reason"),
    [("#/nope", "points at nothing"), ("https://example.com/s.json", "only references inside")],
)
async def test_a_schema_whose_reference_cannot_be_followed_is_invalid(
    admin, project, ref, reason
) -> None:
    schema = {"type": "object", "properties": {"files": {"$ref": ref}}}
    await rpc_error(
        create(admin, arguments_schema=struct(schema), command=["ruff"]),
        Code.INVALID_ARGUMENT,
        "arguments_schema",
        reason,
    )
