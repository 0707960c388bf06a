"""What every command shares: the consoles, the common options, the store and home helpers."""

from __future__ import annotations

import json
import sys
from datetime import date
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from typer.core import TyperGroup

from registry.errors import Problem, StoreBusy, display_path
from registry.home import Registry
from registry.load import check_home
from registry.store import DEFAULT_URL, Store

__all__ = ["DEFAULT_URL"]

console = Console(highlight=False, width=None if sys.stdout.isatty() else 160)  # wide tables in logs
err = Console(stderr=True, highlight=False)


class Commands(TyperGroup):
    """Every command: a store too busy to take a write (after the bounded wait) is a clear
    message and exit 1, not a traceback, whichever command met it."""

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except StoreBusy as exc:
            from rich.markup import escape

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


def print_problems(problems: list[Problem]) -> None:
    """One line per problem, as compilers print them: ``file:line: CODE message — what to do``."""
    from rich.markup import escape

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


def checked_home(home: Path, today: date | None, as_json: bool) -> tuple[Registry, list[Problem]]:
    registry, problems = check_home(home, today)
    if any(p.is_error for p in problems):
        if as_json:
            emit({"ok": False, "problems": [p.to_json() for p in problems]})
        else:
            print_problems(problems)
            err.print(f"[red]{display_path(home)}: the registry home has errors; nothing was changed.[/]")
        raise typer.Exit(1)
    return registry, problems


def open_store(url: str, *, create: bool = False) -> Store:
    """Open the store. Only ``apply`` (``create``) makes a new one: every other command refuses a
    store that does not exist or holds no registry, and creates no file."""
    from rich.markup import escape

    from registry.errors import StoreBusy
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
