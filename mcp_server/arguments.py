"""Checking a tool call's arguments against the catalog schema, before any RPC.

The server checks them again (InvokeTool, the typed RPCs' own bounds); checking here
first lets a bad argument come back as a tool error naming the field, the way the
server's ``check_arguments`` names it, whatever RPC the tool maps to.
"""

from __future__ import annotations

from typing import Any

from jsonschema import Draft202012Validator, ValidationError
from jsonschema.exceptions import best_match

from projectqa.mcp.catalog import PROJECT_FIELD
from projectqa.mcp.errors import BadArgument


def check(schema: dict[str, Any], arguments: dict[str, Any]) -> dict[str, Any]:
    """``arguments`` with the schema's top-level defaults filled in; BadArgument if refused."""
    error = best_match(Draft202012Validator(schema).iter_errors(arguments))
    if error is not None:
        raise BadArgument(_field(error), _problem(error))
    defaults = {
        name: spec["default"]
        for name, spec in schema.get("properties", {}).items()
        if isinstance(spec, dict) and "default" in spec
    }
    return {**defaults, **arguments}


def split_project(arguments: dict[str, Any], fixed: str | None) -> tuple[str, dict[str, Any]]:
    """The project a call is about and the tool's own arguments.

    With a fixed project (``--project``) the argument does not exist; else it is required.
    """
    rest = {key: value for key, value in arguments.items() if key != PROJECT_FIELD}
    if fixed is not None:
        if arguments.get(PROJECT_FIELD, fixed) != fixed:
            raise BadArgument(PROJECT_FIELD, f"this server serves project {fixed!r} only")
        return fixed, rest
    project = arguments.get(PROJECT_FIELD)
    if not isinstance(project, str) or not project.strip():
        raise BadArgument(PROJECT_FIELD, "required: a project slug or id (see list_projects)")
    return project.strip(), rest


def _field(error: ValidationError) -> str:
    path = [str(part) for part in error.absolute_path]
    instance, expected = error.instance, error.validator_value
    if error.validator == "required" and isinstance(instance, dict) and isinstance(expected, list):
        path += [name for name in expected if name not in instance][:1]
    elif error.validator == "additionalProperties" and isinstance(instance, dict):
        schema = error.schema if isinstance(error.schema, dict) else {}
        allowed = set(schema.get("properties", {}))
        path += [name for name in instance if name not in allowed][:1]
    return ".".join(path) or "arguments"


def _problem(error: ValidationError) -> str:
    # jsonschema quotes the offending value whole; a pasted report would flood the reply.
    if error.validator == "maxLength":
        return f"must be at most {error.validator_value} characters"
    if error.validator == "additionalProperties":
        return "unknown argument"
    message = error.message
    return message if len(message) <= 300 else message[:297] + "..."
