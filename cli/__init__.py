"""``govreg``: the command line of the registry (typer + rich), and the composition root.

Tables for people, ``--json`` for machines. ``--home`` and ``--store`` default to the
environment variables ``GOVREG_HOME`` and ``GOVREG_STORE``. Exit codes: 0 success, 1 the
registry or the audit log has errors, 2 wrong usage.

This package is the only place that puts the layers together: it builds the typer app and adds
each command group explicitly, one module per group (no registration by import side effect).
``registry``, ``lineage``, ``expectations`` and ``pipelines`` never import it.
"""

from __future__ import annotations

import logging
import os
import sys
from typing import Annotated

import typer

from cli import audit, catalog, declare, demo, export, impact, lineage, serve
from cli.common import Commands

app = typer.Typer(
    cls=Commands,
    help="govreg — the government data-architecture registry: who is the source of each data "
    "element, how it is shared, and whether arriving data is any good.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,  # click's plain help: --help loads no rich and answers at once
)


def _version(value: bool) -> None:
    if value:
        from importlib.metadata import PackageNotFoundError, version

        try:
            shown = version("govreg")
        except PackageNotFoundError:  # pragma: no cover - a bare checkout
            shown = "unknown (not installed)"
        typer.echo(f"govreg {shown}")
        raise typer.Exit()


@app.callback()
def main_options(
    show_version: Annotated[
        bool,
        typer.Option("--version", callback=_version, is_eager=True, help="Print govreg's version and exit."),
    ] = False,
) -> None:
    """govreg — the government data-architecture registry: who is the source of each data element,
    how it is shared, and whether arriving data is any good."""


# a registry home: check it, see what applying it changes, apply it
app.command()(declare.validate)
app.command()(declare.plan)
app.command()(declare.apply)
# the stored registry, read
app.add_typer(catalog.show_app, name="show")
app.command()(catalog.search)
app.command()(catalog.owners)
app.command()(catalog.conflicts)
app.command()(catalog.quality)
app.command()(impact.impact)
app.command()(impact.coverage)
app.add_typer(audit.audit_app, name="audit")
# SQL lineage, exports, the API and its tokens, the demo
app.command()(lineage.lineage)
app.command("export")(export.export)
app.command()(serve.serve)
app.add_typer(serve.token_app, name="token")
app.command()(demo.demo)


def main() -> None:
    """The console script (and ``python -m govreg``): run the command, then exit quietly.

    DuckDB's Python bindings (nanobind) print a report of "leaked" instances when the interpreter
    tears down while Dagster or a cache still holds DuckDB objects: a hundred lines of noise on
    stderr after a successful ``govreg demo``. Once the command has finished (its connections
    committed and closed, its output flushed), a process that loaded DuckDB ends without that
    teardown; any other process exits normally.
    """
    code = 0
    try:
        app(prog_name="govreg")
    except SystemExit as exc:
        if isinstance(exc.code, str):
            sys.stderr.write(exc.code + "\n")
            code = 1
        else:
            code = exc.code or 0
    if "duckdb" not in sys.modules:
        raise SystemExit(code)
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
