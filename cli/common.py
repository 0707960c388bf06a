"""What every command shares: the consoles, the common options, the store and home helpers."""

from __future__ import annotations

import json
import sys
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from typer.core import TyperGroup

from registry.defaults import DEFAULT_URL
from registry.errors import Problem, StoreBusy, display_path, follow_on

if TYPE_CHECKING:
    from registry.home import Registry
    from registry.store import Store

__all__ = ["DEFAULT_URL"]


class LazyConsole:
    """A rich Console made on first use, so that a command printing nothing of its own (``--help``,
    ``--version``) loads no rich. Its width is rich's own measure: the terminal's, or ``COLUMNS``
    when output is piped (80 without it), never a fixed one."""

    def __init__(self, **options: Any) -> None:
        self._options = options
        self._console: Any = None

    def __getattr__(self, name: str) -> Any:
        if self._console is None:
            from rich.console import Console

            self._console = Console(**self._options)
        return getattr(self._console, name)


console: Any = LazyConsole(highlight=False)
err: Any = LazyConsole(stderr=True, highlight=False)


def working(message: str) -> Any:
    """A spinner with the time taken, on standard error, while a step that can take more than a
    second runs; nothing at all when standard error is not a terminal (a pipe, a log, CI).

    Use as ``with working("applying 3,000 entities"):``.
    """
    from contextlib import nullcontext

    if not err.is_terminal:
        return nullcontext()
    return err.status(escape(message), spinner="dots")


def escape(text: str) -> str:
    """rich's markup escaping, imported when first needed."""
    from rich.markup import escape as rich_escape

    return rich_escape(text)


def new_table(*args: Any, **kwargs: Any) -> Any:
    """A rich Table (rich imported when a command first prints one)."""
    from rich.table import Table

    return Table(*args, **kwargs)


def new_tree(*args: Any, **kwargs: Any) -> Any:
    """A rich Tree (rich imported when a command first prints one)."""
    from rich.tree import Tree

    return Tree(*args, **kwargs)


class Commands(TyperGroup):
    """Every command: a store too busy to take a write (after the bounded wait) is a clear
    message and exit 1, not a traceback, whichever command met it."""

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except StoreBusy as exc:
            err.print(f"[red]{escape(str(exc))}[/]", soft_wrap=True)
            raise typer.Exit(1) from None


HomeOpt = Annotated[Path, typer.Option("--home", envvar="GOVREG_HOME", help="Registry home folder.")]
StoreOpt = Annotated[str, typer.Option("--store", envvar="GOVREG_STORE", help="Metadata store URL.")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON for machines.")]
TodayOpt = Annotated[
    str | None, typer.Option("--today", help="Check agreement validity as of this date (YYYY-MM-DD).")
]


def emit(data: Any) -> None:
    sys.stdout.write(json.dumps(data, ensure_ascii=False, indent=2, default=str) + "\n")


def parse_today(text: str | None) -> date | None:
    if text is None:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise typer.BadParameter(f"--today expects YYYY-MM-DD, got {text!r}") from None


def problems_json(problems: list[Problem]) -> dict[str, Any]:
    """``problems`` for ``--json``: what a person is shown, and the follow-on findings of a file
    that was not read, apart (``suppressed``; see :func:`registry.errors.follow_on`)."""
    shown, held = follow_on(problems)
    return {"problems": [p.to_json() for p in shown], "suppressed": [p.to_json() for p in held]}


def print_problems(problems: list[Problem]) -> None:
    """One line per problem, as compilers print them: ``file:line: CODE message — what to do``.

    After a file that could not be read, the registry-wide findings it causes are held back and
    counted instead of printed (``registry.errors.follow_on``): the syntax error comes first and
    alone, not as the 15th of 18 lines.
    """
    problems, held = follow_on(problems)
    errors = [p for p in problems if p.is_error]
    warnings = [p for p in problems if not p.is_error]
    for title, group, style, stream in (
        ("error", errors, "red", err),
        ("warning", warnings, "yellow", console),
    ):
        for p in group:
            hint = p.hint or str(p.to_json()["hint"])
            stream.print(
                f"{escape(str(p.location))}: [bold {style}]{p.code}[/] {escape(p.message)} — {escape(hint)}",
                soft_wrap=True,
            )
        if group:
            stream.print(f"[{style}]{len(group)} {title}{'s' if len(group) > 1 else ''}[/]")
    if held:
        unread = sorted({str(p.location) for p in problems if p.unread})
        rejected = sorted({str(p.location) for p in problems if p.rejected})
        n = len(held)
        cause = (
            f"{', '.join(unread)} could not be read, so the rest of the registry is judged without "
            "what it declares (its elements look unregistered, its departments unknown)"
            if unread
            else f"the declarations at {', '.join(rejected)} were rejected, so the views and "
            "indicators that read their columns are judged at the strictest classification"
        )
        err.print(
            f"[red]{n} follow-on finding{'s' if n > 1 else ''} suppressed[/]: {escape(cause)}; "
            "fix the errors above and validate again, or see them all with --json",
            soft_wrap=True,
        )


def checked_home(home: Path, today: date | None, as_json: bool) -> tuple[Registry, list[Problem]]:
    from registry.load import check_home

    registry, problems = check_home(home, today)
    if any(p.is_error for p in problems):
        if as_json:
            emit({"ok": False, **problems_json(problems)})
        else:
            print_problems(problems)
            err.print(f"[red]{display_path(home)}: the registry home has errors; nothing was changed.[/]")
        raise typer.Exit(1)
    return registry, problems


def open_store(url: str, *, create: bool = False) -> Store:
    """Open the store. Only ``apply`` (``create``) makes a new one: every other command refuses a
    store that does not exist or holds no registry, and creates no file."""
    from registry.errors import StoreBusy
    from registry.store import Store
    from registry.store.db import redact_url, registry_missing, scrub

    try:
        missing = None if create else registry_missing(url)
        if missing is None:
            return Store(url)
    except StoreBusy as exc:  # opening brings the schema up to date: a write
        err.print(f"[red]{escape(redact_url(url))}: {escape(str(exc))}[/]", soft_wrap=True)
        raise typer.Exit(1) from None
    except Exception as exc:  # driver errors, bad URLs, unreachable servers; their text may quote the URL
        shown = f"cannot open the metadata store {redact_url(url)}: {scrub(str(exc), url)}"
        err.print(f"[red]{escape(shown)}[/]", soft_wrap=True)
        raise typer.Exit(1) from None
    err.print(f"[red]{escape(missing)}[/]", soft_wrap=True)
    raise typer.Exit(1)


def stored_registry(store: Store) -> Registry:
    from registry.store.rows import registry_from_specs

    return registry_from_specs(store.read_specs())
