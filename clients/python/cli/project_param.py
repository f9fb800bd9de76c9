"""The project a command works on: positional ``PROJECT`` or ``-p/--project``, both everywhere.

``projectqa search demo "retry"`` and ``projectqa search -p demo "retry"`` are the
same command, and so are ``ask -p demo "…"`` and ``ask demo "…"``. A command declares
it with ``cls=ProjectCommand`` and :func:`project_argument`; before click binds the
positional arguments, :class:`ProjectCommand` works out whether the first positional
is the project or was left out in favour of ``-p`` (there is one positional fewer than
the command has), and puts the project in its place. So the function still receives
``project`` as a plain argument.

A project given both ways must be the same, and ``-p`` given twice must name one
project. Without ``-p``, the positional words are left to click (so
``search shop`` says "Missing argument 'QUERY'"), unless there are none at all ("which
project?") or the command has a default (``ask`` and ``chat``: ``PROJECTQA_PROJECT``,
else the caller's only project): then a word short means the project was left out,
and the function receives "" (``ask shop`` asks "shop" of the default project).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any, TypeVar

import click

F = TypeVar("F", bound=Callable[..., Any])

PROJECT_OPTION = "project_option"  # the parser's name of -p/--project
PROJECT_ENV = "PROJECTQA_PROJECT"


class ProjectArgument(click.Argument):
    """The positional PROJECT; ``-p/--project`` may stand in for it.

    ``has_default``: the command picks a project itself when none is given.
    """

    def __init__(self, *args: Any, has_default: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.has_default = has_default


def project_argument(
    name: str = "project", *, metavar: str = "PROJECT", has_default: bool = False
) -> Callable[[F], F]:
    """Adds the positional ``name`` (shown as ``metavar``) and ``-p/--project``."""
    help_text = f"Project id or slug; the same as giving {metavar} as the first argument."
    if has_default:
        help_text += f" [env {PROJECT_ENV}; default: your only project]"

    def decorate(function: F) -> F:
        # multiple: so that `-p a -p b` can be refused instead of silently taking b.
        function = click.option(
            "-p",
            "--project",
            PROJECT_OPTION,
            metavar=metavar,
            multiple=True,
            expose_value=False,
            help=help_text,
        )(function)
        return click.argument(
            name,
            cls=ProjectArgument,
            metavar=f"[{metavar}]",
            required=False,
            default="",
            has_default=has_default,
        )(function)

    return decorate


def _name(param: ProjectArgument) -> str:
    """PROJECT (or P): the metavar without the brackets that mark it optional."""
    return (param.metavar or "PROJECT").strip("[]")


def _word(value: Any) -> str | None:
    """The word the parser bound, or None (click marks what was not given with None or,
    since 8.2, a sentinel)."""
    return value if isinstance(value, str) else None


def _project_flag(ctx: click.Context, given: Any) -> str | None:
    """The project -p/--project named (None when not given); one project only."""
    flags = [value for value in given or () if isinstance(value, str)]
    if len(set(flags)) > 1:
        named = " and ".join(repr(value) for value in dict.fromkeys(flags))
        raise click.UsageError(
            f"-p/--project is given more than once, differently ({named}); give one project",
            ctx,
        )
    return flags[-1] if flags else None


class ProjectCommand(click.Command):
    """A command whose first positional is a :class:`ProjectArgument`."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if not ctx.resilient_parsing:  # shell completion: leave the words as typed
            args = self._with_project_first(ctx, args)
        return super().parse_args(ctx, args)

    def _project_param(self, ctx: click.Context) -> ProjectArgument:
        return next(p for p in self.get_params(ctx) if isinstance(p, ProjectArgument))

    def _with_project_first(self, ctx: click.Context, args: list[str]) -> list[str]:
        try:
            opts, _, _ = self.make_parser(ctx).parse_args(args=list(args))
        except click.UsageError:
            return args  # the real parse reports it
        if any(p.is_eager and p.name in opts for p in self.get_params(ctx)):
            return args  # --help, --version: nothing to check
        flag = _project_flag(ctx, opts.get(PROJECT_OPTION))
        param = self._project_param(ctx)
        if self._positional_given(ctx, opts, flag):
            positional = opts[param.name or "project"]
            if flag is not None and flag != positional:
                raise click.UsageError(
                    f"the project is given twice, differently: {_name(param)} "
                    f"{positional!r} and --project {flag!r}; give it once",
                    ctx,
                )
            return args
        if flag is not None:
            return [flag, *args]
        if param.has_default:
            return [os.environ.get(PROJECT_ENV, ""), *args]
        if _word(opts.get(param.name or "project")) is not None:
            return args  # words, but too few: click names the argument that is missing
        raise click.UsageError(
            f"which project? Give {_name(param)} (id or slug) as the first argument "
            "or with -p/--project",
            ctx,
        )

    def _positional_given(self, ctx: click.Context, opts: dict[str, Any], flag: str | None) -> bool:
        """Whether the first positional word is the project (not the next argument)."""
        arguments = [p for p in self.get_params(ctx) if isinstance(p, click.Argument)]
        first = _word(opts.get(arguments[0].name or ""))
        if first is None:
            return False  # no positional word at all
        if any(p.nargs == -1 for p in arguments):
            # Words cannot be counted against a variadic argument: with -p, the positional
            # words belong to the arguments after the project, unless the first repeats it.
            return flag is None or first == flag
        given = sum(_word(opts.get(p.name or "")) is not None for p in arguments)
        return given == len(arguments)
