"""``projectqa eval``: recall@k and MRR of a project's search on a question file.

Every question is asked through RetrievalService.Search once per mode; the
metrics are those of :mod:`projectqa.client.evaluation` (a hit counts when its
path equals an expected range's and its lines overlap it). A file of
file-level questions (expected files, no lines: bug localization) reports
acc@k and MRR over the ranked files instead, read off the chunk ranking
(``--files-from chunks``) or from the server's file ranking (``server``).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import click
from rich.table import Table
from rich.text import Text

from projectqa.client.cli.output import console, print_json
from projectqa.client.cli.project_param import ProjectCommand, project_argument
from projectqa.client.cli.state import CliState, pass_state
from projectqa.client.evaluation import (
    ALL_STYLES,
    MODES,
    RECALL,
    FileSearchFunction,
    QuestionFileError,
    QuestionScore,
    ReportRow,
    client_file_search,
    client_search,
    evaluate,
    load_question_set,
    mrr_depth,
    recall_ks,
    report_rows,
)

FILES_FROM = ("chunks", "server")


def render_report(rows: Sequence[ReportRow], top_k: int, title: str) -> None:
    """The rows as a table: set (when several), mode, style (when split), figures."""
    sets = len({row.set_name for row in rows}) > 1
    styles = any(row.style != ALL_STYLES for row in rows)
    table = Table(title=title, title_justify="left", title_style="bold")
    headers = [*(["set"] if sets else []), "mode", *(["style"] if styles else []), "questions"]
    metric = rows[0].metrics.metric if rows else RECALL
    headers += [f"{metric}@{k}" for k in recall_ks(top_k)] + [f"MRR@{mrr_depth(top_k)}"]
    for header in headers:
        table.add_column(header, justify="left" if header in ("set", "mode", "style") else "right")
    for row in rows:
        cells = [*([row.set_name] if sets else []), row.mode]
        cells += [*([row.style] if styles else []), str(row.metrics.questions)]
        cells += [f"{row.metrics.recall[k]:.3f}" for k in recall_ks(top_k)]
        cells.append(f"{row.metrics.mrr:.3f}")
        table.add_row(*(Text(cell) for cell in cells))
    console().print(table)


def report_json(
    rows: Sequence[ReportRow], scores: dict[str, list[QuestionScore]], top_k: int
) -> dict[str, Any]:
    """Rows plus every question's score per mode (to see which questions miss)."""
    depth = mrr_depth(top_k)
    return {
        "top_k": top_k,
        "rows": [row.to_dict(depth) for row in rows],
        "questions": {mode: [s.to_dict() for s in found] for mode, found in scores.items()},
    }


@click.command("eval", cls=ProjectCommand)
@project_argument()
@click.argument(
    "questions_file",
    metavar="QUESTIONS.json",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
)
@click.option(
    "--mode",
    "modes",
    type=click.Choice(MODES),
    multiple=True,
    help="Mode to evaluate (repeatable; default: dense, keyword and hybrid).",
)
@click.option(
    "-k", "--top-k", type=click.IntRange(1, 100), default=10, show_default=True, help="Hits read."
)
@click.option("--by-style", is_flag=True, help="Add a row per question style.")
@click.option(
    "--files-from",
    type=click.Choice(FILES_FROM),
    default="chunks",
    show_default=True,
    help="File-level questions: rank files by first appearance in the chunk ranking, "
    "or ask the server's file ranking (Search grouped by file).",
)
@pass_state
def evaluate_command(
    state: CliState,
    project: str,
    questions_file: Path,
    modes: tuple[str, ...],
    top_k: int,
    by_style: bool,
    files_from: str,
) -> None:
    """Measure how well PROJECT's search finds the expected lines of QUESTIONS.json.

    Prints, per mode, recall@1/5/10 (share of expected ranges found in the top
    k) and MRR (1/rank of the first relevant hit in the top 10). For a file of
    file-level questions (expected files without lines), acc@1/5/10 (any
    expected file among the first k distinct files) and MRR over files.
    """
    try:
        question_set = load_question_set(questions_file)
    except QuestionFileError as error:
        raise click.BadParameter(str(error), param_hint="QUESTIONS.json") from None
    client = state.client()
    # "Which file" questions rank files only: a record (issue, commit) is no answer.
    file_level = any(question.file_level for question in question_set.questions)
    options = {"kinds": ["file"]} if file_level else {}
    search = client_search(client, project, **options)
    files: FileSearchFunction | None = None  # None: read off the chunk ranking
    if files_from == "server":
        files = client_file_search(client, project, **options)
    scores = {
        mode: evaluate(search, question_set.questions, mode, top_k, files)
        for mode in modes or MODES
    }
    rows = report_rows(question_set.name, scores, styles=by_style)
    if state.json_output:
        head = {"project": project, "set": question_set.name}
        print_json({**head, **report_json(rows, scores, top_k)})
    else:
        render_report(rows, top_k, f"{question_set.name} on {project}, top {top_k}")
