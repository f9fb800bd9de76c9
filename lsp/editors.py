"""Where the user of a given editor sets the project and the token, for the bridge's messages.

A message such as "no project indexes /src/shop: set …" is only useful if it names the
setting as the user's editor spells it: a VS Code setting means nothing in Neovim. The
editor's name comes from ``clientInfo`` of ``initialize``; an editor that sends none, or
one the bridge does not know, gets names any LSP client can act on.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class SettingNames:
    """How a message names the place to set each setting (read after "set ")."""

    project: str
    token: str


GENERIC = SettingNames(
    project="projectqa.project in the editor's settings (or PROJECTQA_PROJECT)",
    token="projectqa.token in the editor's settings (or PROJECTQA_TOKEN)",
)
NEOVIM = SettingNames(
    project="project in require('projectqa').setup{} (or PROJECTQA_PROJECT)",
    token="token in require('projectqa').setup{} (or PROJECTQA_TOKEN)",
)
VSCODE = SettingNames(
    project="the projectqa.project setting",
    token="the token with the command “ProjectQA: Set Token” (or PROJECTQA_TOKEN)",
)
# VS Code and the editors built from it report their own product names.
_VSCODE_NAMES = ("visual studio code", "code - oss", "vscodium", "cursor", "windsurf")


def setting_names(client_name: str | None) -> SettingNames:
    """The setting names for the editor called ``client_name`` (``clientInfo.name``)."""
    name = (client_name or "").strip().lower()
    if name in ("neovim", "nvim"):
        return NEOVIM
    if name.startswith(_VSCODE_NAMES):
        return VSCODE
    return GENERIC
