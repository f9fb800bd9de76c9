"""The Docker image and the compose file, checked without a Docker engine (none runs here or in CI).

The image test builds the wheel from exactly the files the Dockerfile's COPY lines bring into
the image (after .dockerignore), as its ``RUN pip install .`` does, installs it into a scratch
virtualenv and imports every package and entry point from there.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
import sysconfig
import textwrap
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import pytest
import yaml

from projectqa.server.config import ENV_PREFIX, Settings, load_settings

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"
COMPOSE = ROOT / "docker-compose.yml"
COMPOSE_OLLAMA = ROOT / "docker-compose.ollama.yml"
SETUPTOOLS = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
BUILD_TIMEOUT_S = 600  # a bound against a hung pip, far above a build on a loaded machine


# ------------------------------------------------------------------ Dockerfile
def instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) in order: continuation lines joined, comments dropped."""
    joined, found = "", []
    for line in text.splitlines():
        if line.lstrip().startswith("#"):  # comments may sit inside a continued instruction too
            continue
        if line.endswith("\\"):
            joined += line[:-1] + " "
            continue
        joined += line
        if joined.strip():
            keyword, _, arguments = joined.strip().partition(" ")
            found.append((keyword.upper(), arguments.strip()))
        joined = ""
    return found


@dataclass(frozen=True)
class Copy:
    """One COPY from the build context: sources relative to it, destination in the image."""

    sources: tuple[str, ...]
    dest: PurePosixPath
    into_dir: bool  # the destination is a folder (trailing "/" or several sources)


@dataclass(frozen=True)
class ImageBuild:
    copies: list[Copy]
    install_dir: PurePosixPath  # the WORKDIR of `RUN pip install .`
    base_images: list[str]


def parse_dockerfile(text: str) -> ImageBuild:
    workdir, copies, install_dirs, bases = PurePosixPath("/"), [], [], []
    for keyword, arguments in instructions(text):
        if keyword == "FROM":
            bases.append(arguments.split()[0])
        elif keyword == "WORKDIR":
            workdir = workdir / arguments
        elif keyword == "ADD":
            pytest.fail(f"use COPY, not ADD: {arguments}")
        elif keyword == "COPY":
            copy = _copy(arguments, workdir)
            if copy is not None:
                copies.append(copy)
        elif keyword == "RUN" and re.search(r"\bpip install \.(\s|$)", arguments):
            install_dirs.append(workdir)
    assert len(install_dirs) == 1, "expected one `RUN pip install .`"
    return ImageBuild(copies, install_dirs[0], bases)


def _copy(arguments: str, workdir: PurePosixPath) -> Copy | None:
    """A COPY from the build context; None for one from another stage (``--from``)."""
    words = shlex.split(arguments) if not arguments.startswith("[") else yaml.safe_load(arguments)
    flags = [w for w in words if w.startswith("--")]
    if any(flag.startswith("--from") for flag in flags):
        return None
    *sources, dest = [w for w in words if not w.startswith("--")]
    into_dir = dest.endswith("/") or len(sources) > 1
    return Copy(tuple(sources), workdir / dest, into_dir)


# ---------------------------------------------------------------- .dockerignore
def ignore_rules(text: str) -> list[tuple[re.Pattern[str], bool]]:
    """(pattern, excludes) pairs as Docker reads them: anchored at the context root, ``**``
    for any number of folders, ``!`` re-includes, the last matching rule wins."""
    rules = []
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        excludes = not line.startswith("!")
        pattern = os.path.normpath(line.removeprefix("!").strip().lstrip("/"))
        rules.append((re.compile(_pattern_regex(pattern)), excludes))
    return rules


def _pattern_regex(pattern: str) -> str:
    out, i = "", 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out, i = out + "(?:.*/)?", i + 3
        elif pattern.startswith("**", i):
            out, i = out + ".*", i + 2
        elif pattern[i] == "*":
            out, i = out + "[^/]*", i + 1
        elif pattern[i] == "?":
            out, i = out + "[^/]", i + 1
        else:
            out, i = out + re.escape(pattern[i]), i + 1
    return out


def is_ignored(rules: list[tuple[re.Pattern[str], bool]], path: str) -> bool:
    """Whether the context leaves ``path`` out: a rule matching a folder covers what is in it."""
    parts = PurePosixPath(path).parts
    prefixes = ["/".join(parts[: n + 1]) for n in range(len(parts))]
    ignored = False
    for pattern, excludes in rules:
        if any(pattern.fullmatch(prefix) for prefix in prefixes):
            ignored = excludes
    return ignored


def context_files(source: Path, rules: list[tuple[re.Pattern[str], bool]]) -> Iterator[Path]:
    """Files below ``source`` (a file or folder in the checkout) that reach the build context."""
    candidates = [source] if source.is_file() else sorted(source.rglob("*"))
    for path in candidates:
        relative = path.relative_to(ROOT).as_posix()
        if path.is_file() and not is_ignored(rules, relative):
            yield path


# ------------------------------------------------------------------ the build
def stage_install_dir(build: ImageBuild, staging: Path) -> None:
    """Lay out in ``staging`` what the image holds in its install dir when pip runs there."""
    rules = ignore_rules(DOCKERIGNORE.read_text())
    for copy in build.copies:
        for source in copy.sources:
            origin = ROOT / source
            assert origin.exists(), f"COPY {source}: not in the checkout"
            assert not is_ignored(rules, source), f"COPY {source}: left out by .dockerignore"
            for file in context_files(origin, rules):
                target = _image_path(copy, origin, file)
                if not target.is_relative_to(build.install_dir):
                    continue  # not part of what `pip install .` reads
                placed = staging / target.relative_to(build.install_dir)
                placed.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(file, placed)


def _image_path(copy: Copy, origin: Path, file: Path) -> PurePosixPath:
    if origin.is_dir():  # COPY dir dest: the folder's contents go into dest
        return copy.dest / file.relative_to(origin).as_posix()
    return copy.dest / origin.name if copy.into_dir else copy.dest


def run(command: list[str], cwd: Path, env: dict[str, str] | None = None) -> str:
    done = subprocess.run(
        command, cwd=cwd, env=env, capture_output=True, text=True, timeout=BUILD_TIMEOUT_S
    )
    assert done.returncode == 0, (
        f"{shlex.join(command)}\n{done.stdout[-3000:]}{done.stderr[-3000:]}"
    )
    return done.stdout


def scratch_venv(folder: Path) -> Path:
    """A venv whose own site-packages comes first; the project's dependencies are reached
    through a plain path entry to this venv's site-packages, whose .pth files (among them
    the checkout's editable install) are therefore not run."""
    run([sys.executable, "-m", "venv", "--without-pip", str(folder)], cwd=folder.parent)
    python = folder / "bin" / "python"
    purelib = run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"], cwd=folder
    )
    (Path(purelib.strip()) / "projectqa-deps.pth").write_text(sysconfig.get_path("purelib") + "\n")
    return python


IMPORT_CHECK = textwrap.dedent(
    """
    import importlib, importlib.metadata as md, importlib.resources as res, sys
    scratch, packages = sys.argv[1], sys.argv[2:]
    dist = md.distribution("projectqa")
    assert str(dist.locate_file("")).startswith(scratch), dist.locate_file("")
    for name in packages:
        module = importlib.import_module(name)
        assert module.__file__.startswith(scratch), (name, module.__file__)
    for entry_point in dist.entry_points:
        entry_point.load()
    assert list(res.files("projectqa.server.store").joinpath("migrations").glob("*.sql"))
    assert list(res.files("projectqa.v1").glob("*.proto"))
    print(len(packages), len(dist.entry_points))
    """
)


@pytest.fixture(scope="module")
def installed_image(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The scratch venv with the wheel built from the image's files; its python."""
    work = tmp_path_factory.mktemp("image")
    staging, wheels = work / "app", work / "wheels"
    stage_install_dir(parse_dockerfile(DOCKERFILE.read_text()), staging)
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check"]
    offline = ["--no-deps", "--no-index", "--no-build-isolation"]
    run([*pip, "wheel", *offline, "-w", str(wheels), str(staging)], cwd=work)
    [wheel] = wheels.glob("projectqa-*.whl")
    python = scratch_venv(work / "venv")
    run([*pip, "--python", str(python), "install", "--no-deps", "--no-index", str(wheel)], cwd=work)
    return python


def test_the_wheel_built_from_the_image_files_imports_everything(installed_image: Path) -> None:
    scratch = str(installed_image.parent.parent)
    packages = SETUPTOOLS["packages"]
    out = run(
        [str(installed_image), "-I", "-c", IMPORT_CHECK, scratch, *packages], cwd=Path(scratch)
    )
    assert out.split() == [str(len(packages)), str(sum(map(len, entry_point_groups())))]


def entry_point_groups() -> list[dict[str, str]]:
    return [PROJECT["scripts"], *PROJECT["entry-points"].values()]


@pytest.mark.parametrize(
    "command",
    [["projectqa", "serve"], ["projectqa", "worker"], ["projectqa", "health"], ["projectqa-lsp"]],
    ids=" ".join,
)
def test_the_image_commands_run(installed_image: Path, command: list[str]) -> None:
    """The console scripts the image's CMD and HEALTHCHECK, compose's worker, editors start."""
    script = installed_image.parent / command[0]
    out = run([str(script), *command[1:], "--help"], cwd=installed_image.parent)
    assert "usage" in out.lower()


def test_every_package_folder_is_copied_into_the_image() -> None:
    build = parse_dockerfile(DOCKERFILE.read_text())
    rules = ignore_rules(DOCKERIGNORE.read_text())
    copied = {source.rstrip("/") for copy in build.copies for source in copy.sources}
    for package, folder in SETUPTOOLS["package-dir"].items():
        covered = any(folder == source or folder.startswith(f"{source}/") for source in copied)
        assert covered, f"{package}: the Dockerfile copies no folder holding {folder}/"
        assert not is_ignored(rules, f"{folder}/__init__.py"), (
            f"{folder}: left out by .dockerignore"
        )
    for needed in ("pyproject.toml", PROJECT["readme"]):
        assert needed in copied, f"COPY {needed}: pip install . reads it"


# ------------------------------------------------------------------ pins
FULL_VERSION = re.compile(r"\d+\.\d+\.\d+")


def test_the_base_image_is_pinned_to_a_patch_release() -> None:
    for image in parse_dockerfile(DOCKERFILE.read_text()).base_images:
        _, _, tag = image.partition(":")
        assert FULL_VERSION.match(tag), (
            f"FROM {image}: pin a patch version (e.g. 3.11.13-slim-bookworm)"
        )
        assert "slim" in tag and not tag.endswith("-slim"), f"FROM {image}: name the Debian release"


def compose(path: Path = COMPOSE) -> dict:
    return yaml.safe_load(path.read_text())


def environment(service: dict) -> dict[str, str]:
    """A service's environment, given as a mapping or as a list of NAME=value."""
    found = service.get("environment") or {}
    if isinstance(found, list):
        return dict(item.partition("=")[::2] for item in found)
    return {name: "" if value is None else str(value) for name, value in found.items()}


def test_every_pulled_compose_image_is_pinned_to_a_version() -> None:
    services = compose()["services"]
    built = {service["image"] for service in services.values() if "build" in service}
    for name, service in services.items():
        if "build" in service or service["image"] in built:
            continue  # built here from the pinned Dockerfile (the worker runs the server's)
        image = service["image"]
        _, _, tag = image.rpartition(":")
        assert FULL_VERSION.fullmatch(tag), f"{name}: {image} is not pinned to an x.y.z version"


def test_the_default_server_is_not_pointed_at_ollama() -> None:
    """Without the ollama profile nothing answers there, and every LLM ask would fail instead
    of answering extractively."""
    services = compose()["services"]
    assert "OLLAMA_HOST" not in environment(services["server"])
    assert services["ollama"]["profiles"] == ["ollama"]
    assert all("profiles" not in service for service in (services["server"], services["mongo"]))


def test_the_ollama_override_points_the_server_at_the_ollama_service() -> None:
    override = compose(COMPOSE_OLLAMA)["services"]
    assert set(override) == {"server"}
    assert environment(override["server"])["OLLAMA_HOST"] == "http://ollama:11434"
    assert "docker-compose.ollama.yml" in COMPOSE.read_text()  # documented where users look


# ------------------------------------------------------------ workers
STORE_SETTINGS = (
    "PROJECTQA_MONGODB_URI",
    "PROJECTQA_MONGODB_DATABASE",
    "PROJECTQA_DATA_DIR",
    "PROJECTQA_EMBEDDING_MODEL",  # a run waits for a worker with the model it was queued with
    "PROJECTQA_EMBEDDER",  # ... and the embedder kind (int8 and fp32 vectors never mix)
)


def command(service: dict) -> list[str]:
    """A service's command as a list, given as a list or as one shell-style string."""
    found = service.get("command") or []
    return shlex.split(found) if isinstance(found, str) else list(found)


def mounts(service: dict) -> set[str]:
    """``source:target`` of each volume, in the short or the long syntax."""
    found = set()
    for volume in service.get("volumes") or []:
        if isinstance(volume, str):
            source, _, target = volume.partition(":")
            found.add(f"{source}:{target.partition(':')[0]}")
        else:
            found.add(f"{volume['source']}:{volume['target']}")
    return found


def test_the_worker_service_runs_projectqa_worker_from_the_server_image() -> None:
    services = compose()["services"]
    worker, server = services["worker"], services["server"]
    assert command(worker) == ["projectqa", "worker"]
    assert worker["image"] == server["image"]  # the image the server service builds
    assert "build" not in worker  # built once, by the server service
    assert "profiles" not in worker  # started by a plain `docker compose up`


def test_the_worker_reaches_the_same_store_and_data_as_the_server() -> None:
    """Same MongoDB, and the same data volume: the server's tools read the git clones a
    worker makes in <data dir>/sources (indexes travel through GridFS, not the volume)."""
    services = compose()["services"]
    worker, server = environment(services["worker"]), environment(services["server"])
    for name in STORE_SETTINGS:
        assert worker.get(name) == server[name], f"worker {name} differs from the server's"
    data = {m for m in mounts(services["server"]) if m.endswith(f":{server['PROJECTQA_DATA_DIR']}")}
    assert data and data <= mounts(services["worker"])
    assert services["worker"]["depends_on"]["mongo"]["condition"] == "service_healthy"


def test_the_server_leaves_runs_to_the_worker_service() -> None:
    services = compose()["services"]
    assert environment(services["server"])["PROJECTQA_EMBEDDED_WORKER"] == "off"


@pytest.mark.parametrize("service", ["server", "worker"])
def test_the_services_settings_are_settings_the_code_accepts(
    service: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A misspelt PROJECTQA_ variable would be ignored without a word, a bad value would
    stop the container at start: both are caught here."""
    given = environment(compose()["services"][service])
    names = {f"{ENV_PREFIX}{name.upper()}" for name in Settings.model_fields}
    names.add(f"{ENV_PREFIX}CONFIG")  # the settings file, read by load_settings
    unknown = {k for k in given if k.startswith(ENV_PREFIX)} - names
    assert not unknown, f"{service}: not a setting: {sorted(unknown)}"
    for name in names:
        monkeypatch.delenv(name, raising=False)
    for name, value in given.items():
        monkeypatch.setenv(name, value)
    load_settings()  # SettingsError names the bad variable


def test_the_worker_service_can_be_scaled() -> None:
    """`docker compose up --scale worker=3`: nothing a second copy would collide on, and no
    health check of a gRPC port a worker does not serve (the image's HEALTHCHECK)."""
    worker = compose()["services"]["worker"]
    assert "ports" not in worker and "container_name" not in worker
    assert worker["healthcheck"] == {"disable": True}
    assert "--scale worker=" in COMPOSE.read_text()  # documented where users look


def test_the_worker_gets_time_to_hand_its_runs_back() -> None:
    """On SIGTERM a worker hands its runs back within PROJECTQA_SHUTDOWN_GRACE_S; Docker's
    default 10 s would kill it first."""
    worker = compose()["services"]["worker"]
    grace_s = float(environment(worker).get("PROJECTQA_SHUTDOWN_GRACE_S", "10"))
    assert _seconds(worker["stop_grace_period"]) > grace_s
    assert worker["restart"] == "unless-stopped"


@pytest.mark.parametrize("service", ["server", "worker"])
def test_the_projectqa_services_reap_orphaned_processes(service: str) -> None:
    """git's helpers outlive a git killed on cancel, a script tool's children its group:
    they are re-parented to PID 1, which projectqa would never wait for (zombies)."""
    assert compose()["services"][service].get("init") is True


def _seconds(duration: str) -> float:
    """A compose duration such as ``30s`` or ``1m`` (the forms this file uses)."""
    found = re.fullmatch(r"(\d+(?:\.\d+)?)(s|m)", duration)
    assert found, f"unexpected duration {duration!r}"
    return float(found[1]) * (60 if found[2] == "m" else 1)


# ------------------------------------------------------------ .dockerignore
@pytest.mark.parametrize(
    "path",
    [
        ".venv/bin/python",
        ".git/config",
        "clients/node/node_modules/@grpc/grpc-js/package.json",
        "clients/vscode/node_modules/vscode-languageclient/package.json",
        "node_modules/x/index.js",
        "data/admin.token",
        "data/projectqa.sqlite3",
        "projectqa.sqlite3-wal",
        "projectqa.egg-info/PKG-INFO",
        "server/__pycache__/app.cpython-311.pyc",
        ".env",
        "tests/conftest.py",
        "bench/overload.py",
        "typecheck/projectqa/server",
        "build/lib/x.py",
        "dist/projectqa-0.1.0.whl",
        ".pytest_cache/v/cache/nodeids",
    ],
)
def test_dockerignore_keeps_local_state_out_of_the_build_context(path: str) -> None:
    assert is_ignored(ignore_rules(DOCKERIGNORE.read_text()), path)


def test_dockerignore_matches_as_docker_does() -> None:
    rules = ignore_rules("tests\n**/node_modules\n*.log\n!keep.log\n")
    assert is_ignored(rules, "tests/unit/x.py")
    assert not is_ignored(rules, "server/tests/x.py")  # anchored at the root
    assert is_ignored(rules, "a/b/node_modules/c.js") and is_ignored(rules, "node_modules/c")
    assert is_ignored(rules, "debug.log") and not is_ignored(rules, "keep.log")
    assert not is_ignored(rules, "logs/debug.log")  # "*" stays within one folder
