"""A large repository, real plus generated, written once under ``bench/.work/big_repo``.

``assemble(files, seed)`` gives a folder of ``files`` files:

- real: the Django sdist's files (tests, docs, locale catalogs and all: 6,890 at 5.2.8),
  in the share they have of 20,000 (about a third), taken evenly in path order when
  fewer are asked for, under ``django/``;
- generated, from ``seed`` (deterministic): Python services (``services/<svc>/<pkg>/``,
  modules with docstrings, classes, methods and functions named from a business
  vocabulary, 40 to 400 lines), Markdown pages (``docs/<area>/``: headings, prose,
  lists, fenced code), and the machine-made files a monorepo carries: protobuf modules
  (``gen/proto/*_pb2.py``, one long serialized-descriptor line and generated classes) and
  vendored minified JavaScript (``vendor/<lib>/dist/<lib>.min.js``), about 3 % together.

A marker file beside the folder (never inside: it would be indexed) says it is whole.
"""

from __future__ import annotations

import random
import shutil
from pathlib import Path

from sdists import unpacked_sdist

WORK = Path(__file__).resolve().parent / ".work" / "big_repo"
FULL_SIZE = 20_000
SHARE_PROTO, SHARE_VENDOR, SHARE_DOCS = 0.015, 0.015, 0.2

# fmt: off
NOUNS = (
    "invoice", "ledger", "account", "shipment", "tenant", "order", "payment", "customer",
    "refund", "warehouse", "catalog", "price", "discount", "subscription", "quota", "session",
    "token", "report", "audit", "schedule", "carrier", "parcel", "route", "batch", "export",
    "import", "webhook", "notification", "template", "region", "currency", "balance", "journal",
    "entry", "policy", "claim", "vendor", "supplier", "contract", "renewal", "inventory", "stock",
    "reservation", "booking", "slot", "metric", "alert", "incident"
)
VERBS = (
    "compute", "reconcile", "validate", "apply", "fetch", "load", "store", "publish", "resolve",
    "merge", "split", "schedule", "cancel", "retry", "refresh", "expire", "archive", "render",
    "parse", "normalize", "aggregate", "dispatch", "enqueue", "approve", "reject", "allocate",
    "release", "estimate", "charge", "settle"
)
WORDS = (
    "the", "a", "each", "every", "when", "if", "unless", "before", "after", "with", "without",
    "per", "from", "into", "over", "is", "are", "was", "becomes", "stays", "returns", "raises",
    "keeps", "drops", "sends", "reads", "writes", "checks", "value", "record", "request",
    "response", "cache", "store", "queue", "worker", "client", "server", "field", "limit",
    "default", "timeout", "retry", "error", "state", "list", "map", "set", "count", "total",
    "first", "last", "new", "old", "current", "pending", "active", "closed", "open", "valid",
    "invalid", "empty", "full"
)
# fmt: on
LIBS = ("chartkit", "datepick", "tablesort", "modalbox", "formcheck", "iconset", "toastr2")


def assemble(files: int, seed: int, version: str = "5.2.8") -> Path:
    """The folder of ``files`` files (made once per size and seed)."""
    root = WORK / f"repo-{files}-seed{seed}"
    marker = WORK / f"repo-{files}-seed{seed}.complete"
    if marker.exists():
        return root
    shutil.rmtree(root, ignore_errors=True)
    real = real_files(version, files)
    sdist = unpacked_sdist("django", version)
    for path in real:
        target = root / "django" / path
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(sdist / path, target)
    write_generated(root, files - len(real), random.Random(seed))
    marker.touch()
    return root


def real_files(version: str, files: int) -> list[Path]:
    sdist = unpacked_sdist("django", version)
    every = sorted(
        p.relative_to(sdist) for p in sdist.rglob("*") if p.is_file() and ".git" not in p.parts
    )
    count = min(len(every), round(files * len(every) / FULL_SIZE))
    step = len(every) / max(count, 1)
    return [every[int(i * step)] for i in range(count)]


def write_generated(root: Path, count: int, rng: random.Random) -> None:
    protos, vendored = round(count * SHARE_PROTO), round(count * SHARE_VENDOR)
    docs = round(count * SHARE_DOCS)
    code = count - protos - vendored - docs
    for i in range(code):
        svc, pkg = f"svc_{i % 40:02d}_{rng.choice(NOUNS)}", f"{rng.choice(NOUNS)}_{i // 40 % 12}"
        write(root / "services" / svc / pkg / f"{name(rng)}_{i}.py", python_module(rng))
    for i in range(docs):
        write(root / "docs" / f"area_{i % 25:02d}" / f"{name(rng, '-')}-{i}.md", markdown(rng))
    for i in range(protos):
        write(root / "gen" / "proto" / f"{rng.choice(NOUNS)}_{i}_pb2.py", protobuf(rng, i))
    for i in range(vendored):
        lib = f"{LIBS[i % len(LIBS)]}{i}"
        write(root / "vendor" / lib / "dist" / f"{lib}.min.js", minified(rng))


def write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def name(rng: random.Random, sep: str = "_") -> str:
    return sep.join((rng.choice(VERBS), rng.choice(NOUNS)))


def camel(rng: random.Random) -> str:
    return "".join(w.capitalize() for w in (rng.choice(NOUNS), rng.choice(NOUNS), "Service"))


def sentence(rng: random.Random, words: int = 12) -> str:
    text = " ".join(rng.choice(WORDS + NOUNS) for _ in range(rng.randint(min(6, words), words)))
    return text.capitalize() + "."


def docstring(rng: random.Random, indent: str) -> list[str]:
    lines = [f'{indent}"""{sentence(rng)}']
    if rng.random() < 0.5:
        lines += ["", *(f"{indent}{sentence(rng, 16)}" for _ in range(rng.randint(1, 3)))]
        lines += [f"{indent}:param {rng.choice(NOUNS)}: {sentence(rng, 8)}"]
    return [*lines, f'{indent}"""']


def body(rng: random.Random, indent: str, params: list[str]) -> list[str]:
    lines = []
    for _ in range(rng.randint(2, 14)):
        target, source = rng.choice(NOUNS), rng.choice(params or NOUNS)
        pick = rng.random()
        if pick < 0.3:
            lines.append(
                f"{indent}{target} = self._{name(rng)}({source}, limit={rng.randint(1, 500)})"
            )
        elif pick < 0.5:
            lines += [
                f"{indent}if not {source}:",
                f'{indent}    raise ValueError("{sentence(rng, 6)}")',
            ]
        elif pick < 0.7:
            lines += [
                f"{indent}for item in {source}:",
                f"{indent}    {target}_total += item.{rng.choice(NOUNS)}",
            ]
        elif pick < 0.85:
            lines.append(f"{indent}# {sentence(rng, 10)}")
        else:
            lines.append(f'{indent}log.info("{name(rng)} %s", {source})')
    return [*lines, f"{indent}return {rng.choice(params or ['None'])}"]


def function(rng: random.Random, indent: str, method: bool) -> list[str]:
    params = [rng.choice(NOUNS) for _ in range(rng.randint(0, 3))]
    params = list(dict.fromkeys(params))
    signature = ", ".join((["self"] if method else []) + params)
    head = [f"{indent}def {name(rng)}({signature}):"]
    inner = indent + "    "
    return [*head, *docstring(rng, inner), *body(rng, inner, params), ""]


def python_module(rng: random.Random) -> str:
    lines = [
        '"""' + sentence(rng, 14),
        "",
        sentence(rng, 20),
        '"""',
        "",
        "from __future__ import annotations",
        "",
        "import logging",
        f"from ..{rng.choice(NOUNS)} import {camel(rng)}",
        "",
        "log = logging.getLogger(__name__)",
        f"DEFAULT_{rng.choice(NOUNS).upper()}_LIMIT = {rng.randint(10, 1000)}",
        "",
    ]
    for _ in range(rng.randint(0, 2)):
        lines += [f"class {camel(rng)}:", *docstring(rng, "    "), ""]
        for _ in range(rng.randint(2, 7)):
            lines += function(rng, "    ", method=True)
    for _ in range(rng.randint(1, 5)):
        lines += function(rng, "", method=False)
    return "\n".join(lines) + "\n"


def markdown(rng: random.Random) -> str:
    lines = [f"# {sentence(rng, 6)[:-1]}", ""]
    for _ in range(rng.randint(2, 6)):
        lines += [
            f"## {sentence(rng, 5)[:-1]}",
            "",
            " ".join(sentence(rng, 18) for _ in range(rng.randint(2, 6))),
            "",
        ]
        if rng.random() < 0.5:
            lines += [f"- {sentence(rng, 8)}" for _ in range(rng.randint(2, 5))] + [""]
        if rng.random() < 0.4:
            lines += ["```python", f"client.{name(rng)}({rng.choice(NOUNS)}_id=42)", "```", ""]
    return "\n".join(lines)


def protobuf(rng: random.Random, i: int) -> str:
    blob = "".join(rng.choice("\\x0123456789abcdef") for _ in range(rng.randint(2000, 6000)))
    lines = [
        "# -*- coding: utf-8 -*-",
        "# Generated by the protocol buffer compiler.  DO NOT EDIT!",
        f"# source: {rng.choice(NOUNS)}_{i}.proto",
        '"""Generated protocol buffer code."""',
        "from google.protobuf import descriptor_pool as _descriptor_pool",
        "",
        f"DESCRIPTOR = _descriptor_pool.Default().AddSerializedFile(b'{blob}')",
        "",
    ]
    for _ in range(rng.randint(3, 12)):
        message = camel(rng).replace("Service", "Message")
        lines += [
            f"_{message.upper()} = DESCRIPTOR.message_types_by_name['{message}']",
            f"{message} = _reflection.GeneratedProtocolMessageType('{message}', "
            f"(_message.Message,), {{'DESCRIPTOR': _{message.upper()}}})",
        ]
    return "\n".join(lines) + "\n"


def minified(rng: random.Random) -> str:
    parts = []
    for _ in range(rng.randint(200, 900)):
        a, b = rng.choice("abcdefghijklmnopqrstuvwxyz"), rng.choice("abcdefghijklmnopqrstuvwxyz")
        parts.append(
            f"function {a}{b}(e,t){{return e.{rng.choice(NOUNS)}?t[{rng.randint(0, 9)}]"
            f":{a}(e,t-1)}}"
        )
    text = ";".join(parts)
    # Minifiers wrap at a fixed width or not at all; 500 characters a line here.
    return "\n".join(text[i : i + 500] for i in range(0, len(text), 500)) + "\n"
