"""``govreg lineage``: column-level lineage of SQL files."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from cli import render
from cli.common import (
    console,
    err,
    escape,
)
from registry.errors import display_path


def _lineage_schema(schema_file: Path | None, home: Path | None) -> dict[str, list[str]]:
    """The columns to resolve ``*`` with: ``--schema``'s file, else the registry home's, else none."""
    if schema_file is not None:
        try:
            data = json.loads(schema_file.read_text(encoding="utf-8-sig"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise typer.BadParameter(f"cannot read {schema_file}: {exc}", param_hint="--schema") from None
        if not isinstance(data, dict) or not all(
            isinstance(k, str) and isinstance(v, list) and all(isinstance(c, str) for c in v)
            for k, v in data.items()
        ):
            raise typer.BadParameter(
                f'{schema_file} must be a JSON object {{"table": ["column", ...]}}', param_hint="--schema"
            )
        return data
    if home is None:
        return {}
    from lineage.schema import registry_schema
    from registry.load import load_home
    from registry.rules import check_rules

    registry, problems = load_home(home)  # the declarations and rules; quality suites are not needed
    problems += check_rules(registry)
    if not home.is_dir() or any(p.is_error for p in problems):
        err.print(f"[yellow]{display_path(home)} is not a valid registry home: its tables are not used[/]")
        return {}
    return registry_schema(registry)


def _print_lineage(name: str, statements: list[Any]) -> None:

    console.print(f"[bold]{escape(name)}[/]: {len(statements)} statement{'s' * (len(statements) != 1)}")
    styles = {"ok": "green", "partial": "yellow", "failed": "red"}
    for s in statements:
        where = f" at line {s.line}, column {s.col}" if s.line else ""
        status = f"[{styles[s.status]}]{s.status}[/]"
        kind = f" {s.kind}" if s.kind else ""
        reason = f" — {escape(s.reason)}{where}" if s.reason else ""
        console.print(f"statement {s.index + 1}{kind}: {status}{reason}", soft_wrap=True)
        if s.sources or s.targets:
            render.rows(
                "",
                ("sources", "targets"),
                [("\n".join(s.sources) or "—", "\n".join(s.targets) or "—")],
                identifiers=("sources", "targets"),
            )
        if s.columns:
            render.rows(
                "",
                ("source column", "target column", "kind"),
                ((str(e.source), str(e.target), e.kind) for e in s.columns),
                identifiers=("source column", "target column", "kind"),
            )


def lineage(
    files: Annotated[list[str], typer.Argument(help="SQL files; '-' reads standard input.")],
    dialect: Annotated[str, typer.Option(help="SQL dialect (sqlglot's names).")] = "duckdb",
    schema: Annotated[
        Path | None, typer.Option("--schema", help='JSON {"table": ["column", ...]} to expand * with.')
    ] = None,
    home: Annotated[
        Path | None,
        typer.Option("--home", envvar="GOVREG_HOME", help="Registry home: its tables expand *."),
    ] = None,
    target: Annotated[
        str | None,
        typer.Option(
            help="The view a bare SELECT defines, to trace its columns into (default: none; a bare "
            "query writes nothing)."
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON line per file.")] = False,
) -> None:
    """Column-level lineage of SQL files: what each statement reads and writes, column by column.

    A statement that cannot be parsed is reported as failed, not an error; a file that cannot be
    read is an error (exit 1, after the other files).
    """
    from lineage.parse import extract_lineage

    known = _lineage_schema(schema, home)
    missing = False
    for name in files:
        if name == "-":
            text = sys.stdin.read()
        else:
            try:
                text = Path(name).read_text(encoding="utf-8-sig")
            except (OSError, UnicodeDecodeError) as exc:
                reason = "no such file" if isinstance(exc, FileNotFoundError) else exc.__class__.__name__
                err.print(f"[red]{name}: cannot read ({reason})[/]", soft_wrap=True)
                missing = True
                continue
        statements = extract_lineage(
            text, dialect, schema=known, default_target=target.lower() if target else None
        )
        if as_json:
            line = {"file": name, "statements": [s.to_json() for s in statements]}
            sys.stdout.write(json.dumps(line, ensure_ascii=False) + "\n")
        else:
            _print_lineage("<stdin>" if name == "-" else name, statements)
    raise typer.Exit(1 if missing else 0)
