"""``govreg demo``: the main job on the bundled sample city."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any

import typer

from cli import render
from cli.common import (
    console,
    emit,
    err,
    escape,
    print_problems,
    problems_json,
    working,
)
from registry.errors import DeclarationError, GovregError


def demo(
    home: Annotated[
        Path | None, typer.Option(help="Registry home (default: the bundled sample city).")
    ] = None,
    store: Annotated[
        str | None,
        typer.Option(
            "--store", help="Metadata store URL (default: the demo's own, sqlite:///.govreg/demo/store.db)."
        ),
    ] = None,
    data: Annotated[
        Path | None,
        typer.Option("--data", help="Data root: landing folders, warehouse (default: .govreg/demo/data)."),
    ] = None,
    rows: Annotated[int, typer.Option(help="Rows of the largest dataset.")] = 20_000,
    seed: Annotated[int, typer.Option(help="Random seed: same seed, same files.")] = 2026,
    force: Annotated[
        bool,
        typer.Option("--force", help="Apply over a store holding another registry, deleting what differs."),
    ] = False,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print only a JSON summary: steps, loads, checks, defects found.")
    ] = False,
) -> None:
    """The main job on the sample city: validate, apply, generate extracts, materialize, summarise.

    It runs on its own store and data folder (``.govreg/demo``), whatever GOVREG_HOME,
    GOVREG_STORE and GOVREG_DATA say, unless given --home, --store or --data; it refuses a store
    holding another registry unless --force."""
    # The one command that reaches the orchestration layer; imported here so that the registry's
    # own commands never load Dagster.
    from pipelines.demo import run_demo

    if as_json:  # the human report goes nowhere; the summary is the output
        from rich.console import Console

        shown: Any = Console(quiet=True)
    else:
        shown = console
    try:
        result = run_demo(
            home=home,
            store_url=store,
            data=data,
            rows=rows,
            seed=seed,
            console=shown,
            actor=os.environ.get("GOVREG_ACTOR") or "govreg-demo",
            force=force,
            progress=working,
            table_printer=None if as_json else render.rows,  # render.rows prints on the CLI's console
        )
    except DeclarationError as exc:
        if as_json:
            emit({"ok": False, **problems_json(exc.problems)})
        else:
            print_problems(exc.problems)
        raise typer.Exit(1) from exc
    except GovregError as exc:
        if as_json:
            emit({"ok": False, "code": exc.code, "error": str(exc)})
        else:
            err.print(f"[red]{exc.code}: {escape(str(exc))}[/]", soft_wrap=True)
        raise typer.Exit(1) from exc
    ok = not result.failed_steps and result.audit_ok and result.bad_extract_refused
    if as_json:
        emit({"ok": ok, **result.to_json()})
    if not ok:
        raise typer.Exit(1)
