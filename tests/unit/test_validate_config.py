"""``ConnectorType.validate_config``: what the catalog accepts, and the check of file patterns."""

from __future__ import annotations

import pytest

from projectqa.plugins.files import check_patterns
from projectqa.server.registry import ConfigProblem, ConnectorType, ContributionError, PluginCatalog


def test_a_validate_config_that_is_not_callable_is_refused() -> None:
    bad = ConnectorType("x", "x", {"type": "object"}, iter, validate_config="nope")  # type: ignore[arg-type]
    with pytest.raises(ContributionError, match="'x': validate_config is not callable"):
        PluginCatalog().add("plugin", bad)


@pytest.mark.parametrize(
    ("config", "field", "pattern"),
    [
        ({"exclude": ["*.log", "!"]}, "exclude[1]", "!"),
        ({"exclude": ["ok"], "include": ["src/", "[z-a]", "\\"]}, "include[1]", "[z-a]"),
    ],
)
def test_the_first_invalid_pattern_is_named(
    config: dict[str, list[str]], field: str, pattern: str
) -> None:
    with pytest.raises(ConfigProblem) as caught:
        check_patterns(config)
    assert (caught.value.field, caught.value.message) == (
        field,
        f"{pattern!r} is not a valid .gitignore pattern",
    )


def test_valid_or_missing_patterns_pass() -> None:
    check_patterns({"path": "/srv", "exclude": ["*.log", "!keep.log", "build/"], "include": None})
    check_patterns({})
