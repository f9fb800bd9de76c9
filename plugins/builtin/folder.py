"""Listing a folder on disk for the ``local`` connector.

Symlinks are never followed, to files or folders: one that leaves the folder or
dangles is reported, one that stays inside is skipped quietly (its target is
listed under its own path). So no link can read outside the folder, and linked
folders cannot make the walk loop. ``.gitignore`` files in the tree are honoured
as git does (a deeper file overrides a shallower one); ``.git`` is never entered.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from pathspec import GitIgnoreSpec

from projectqa.server.sources import SourceWarning

from .files import FileRules

Ignores = list[tuple[str, GitIgnoreSpec]]  # (folder key prefix, its .gitignore)


@dataclass(frozen=True, slots=True)
class FoundFile:
    """A regular file in the folder, as listed (the read re-checks it)."""

    key: str
    path: Path
    size: int
    mtime_ns: int


@dataclass
class FolderListing:
    """The files to read, sorted by key, and what was skipped while listing."""

    files: list[FoundFile] = field(default_factory=list)
    warnings: list[SourceWarning] = field(default_factory=list)


def list_folder(root: Path, rules: FileRules) -> FolderListing:
    """Every file under ``root`` that ``rules`` and the tree's ``.gitignore`` files take."""
    root = root.resolve()
    listing = FolderListing()
    pending: list[tuple[Path, str, Ignores]] = [(root, "", [])]
    while pending:  # a stack, not recursion: folder depth is unbounded
        folder, prefix, ignores = pending.pop()
        pending.extend(_scan(root, folder, prefix, ignores, rules, listing))
    listing.files.sort(key=lambda found: found.key)
    listing.warnings.sort(key=lambda warning: warning.key)
    return listing


def _scan(
    root: Path,
    folder: Path,
    prefix: str,
    ignores: Ignores,
    rules: FileRules,
    listing: FolderListing,
) -> list[tuple[Path, str, Ignores]]:
    """File one folder's entries into ``listing``; return the sub-folders to visit."""
    try:
        with os.scandir(folder) as scan:
            entries = list(scan)
    except OSError as exc:
        where = prefix.rstrip("/") or "."
        listing.warnings.append(SourceWarning(where, f"cannot list: {exc.strerror}"))
        return []
    if gitignore := _read_gitignore(folder / ".gitignore", prefix, listing):
        ignores = [*ignores, (prefix, gitignore)]  # a new list: siblings must not see it
    sub_folders = []
    for entry in entries:
        key = prefix + entry.name
        if not _valid_name(entry.name, key, listing):
            continue
        if entry.is_dir(follow_symlinks=False):
            if not rules.excludes(key, is_dir=True) and not _ignored(key + "/", ignores):
                sub_folders.append((Path(entry.path), key + "/", ignores))
        elif rules.takes(key) and not _ignored(key, ignores):
            _take(root, entry, key, listing)
    return sub_folders


def _valid_name(name: str, key: str, listing: FolderListing) -> bool:
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:  # undecodable bytes, kept by surrogateescape
        shown = key.encode("utf-8", "replace").decode("utf-8")
        listing.warnings.append(SourceWarning(shown, "file name is not valid UTF-8"))
        return False
    return True


def _ignored(path: str, ignores: Ignores) -> bool:
    """Git's rule: the deepest ``.gitignore`` with a matching pattern decides."""
    for prefix, spec in reversed(ignores):
        if path.startswith(prefix):
            decision = spec.check_file(path[len(prefix) :]).include
            if decision is not None:
                return decision
    return False


def _read_gitignore(path: Path, prefix: str, listing: FolderListing) -> GitIgnoreSpec | None:
    if not path.is_file() or path.is_symlink():
        return None
    try:
        lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError as exc:
        listing.warnings.append(SourceWarning(prefix + ".gitignore", f"not read: {exc.strerror}"))
        return None
    return GitIgnoreSpec.from_lines(lines)


def _take(root: Path, entry: os.DirEntry[str], key: str, listing: FolderListing) -> None:
    if entry.is_symlink():
        _check_symlink(root, entry, key, listing)
    elif entry.is_file(follow_symlinks=False):
        _add_file(entry, key, listing)
    # FIFOs, sockets and devices are skipped quietly: reading them could block.


def _check_symlink(root: Path, entry: os.DirEntry[str], key: str, listing: FolderListing) -> None:
    target = Path(os.path.realpath(entry.path))
    if not target.exists():
        listing.warnings.append(SourceWarning(key, "broken symlink; skipped"))
    elif not target.is_relative_to(root):
        listing.warnings.append(
            SourceWarning(key, "symlink points outside the folder; not followed")
        )


def _add_file(entry: os.DirEntry[str], key: str, listing: FolderListing) -> None:
    try:
        info = entry.stat(follow_symlinks=False)
    except OSError as exc:
        listing.warnings.append(SourceWarning(key, f"cannot stat: {exc.strerror}"))
        return
    listing.files.append(FoundFile(key, Path(entry.path), info.st_size, info.st_mtime_ns))
