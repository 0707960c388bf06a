"""``govreg show``, ``owners``, ``conflicts`` and ``quality``: the stored registry, read."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from cli.common import (
    DEFAULT_URL,
    JsonOpt,
    StoreOpt,
    TodayOpt,
    console,
    emit,
    err,
    new_table,
    open_store,
    parse_today,
    stored_registry,
)

show_app = typer.Typer(help="Show one element, dataset or department as stored.", no_args_is_help=True)


def _show(kind: str, code: str, store: str, as_json: bool) -> None:
    from registry import queries

    registry = stored_registry(open_store(store))
    detail = getattr(queries, f"{kind}_detail")(registry, code)
    if detail is None:
        err.print(f"[red]no {kind} '{code}' in the store[/] (apply the home first?)")
        raise typer.Exit(1)
    if as_json:
        emit(detail)
        return
    entity = detail[kind]
    table = new_table(
        title=f"{kind} {code}: {entity.get('name')} / {entity.get('name_en')}", show_header=False
    )
    table.add_column("field", style="bold")
    table.add_column("value", overflow="fold")
    for key, value in entity.items():
        if value in (None, "", [], {}) or key in ("code", "columns", "values", "query"):
            continue
        table.add_row(key, value if isinstance(value, str) else json.dumps(value, ensure_ascii=False))
    for key, value in detail.items():
        if key != kind and not isinstance(value, list):
            table.add_row(key, str(value))
    console.print(table)
    for key, value in detail.items():
        if isinstance(value, list) and value:
            if isinstance(value[0], dict):
                sub = new_table(title=key)
                for column in value[0]:
                    sub.add_column(column, overflow="fold")
                for row in value:
                    sub.add_row(*("" if v is None else str(v) for v in row.values()))
                console.print(sub)
            else:
                console.print(f"[bold]{key}[/]: {', '.join(value)}")


@show_app.command("element")
def show_element(code: str, store: StoreOpt = DEFAULT_URL, as_json: JsonOpt = False) -> None:
    """An element: its definition, owner, domain, and who collects, shares and uses it."""
    _show("element", code, store, as_json)


@show_app.command("dataset")
def show_dataset(code: str, store: StoreOpt = DEFAULT_URL, as_json: JsonOpt = False) -> None:
    """A dataset: its columns, their elements, and its effective security and sharing."""
    _show("dataset", code, store, as_json)


@show_app.command("department")
def show_department(code: str, store: StoreOpt = DEFAULT_URL, as_json: JsonOpt = False) -> None:
    """A department: what it owns, provides and consumes."""
    _show("department", code, store, as_json)


def owners(store: StoreOpt = DEFAULT_URL, as_json: JsonOpt = False) -> None:
    """Who owns what: per department, elements owned (by security level) and datasets provided."""
    from registry import queries

    rows = queries.owners(stored_registry(open_store(store)))
    if as_json:
        emit(rows)
        return
    table = new_table(title="owners (一数一源)")
    for column in (
        "department",
        "name",
        "elements",
        "by security level",
        "datasets",
        "agreements (consumer)",
    ):
        table.add_column(column, overflow="fold")
    for row in rows:
        levels = ", ".join(f"{k} {v}" for k, v in row["by_security"].items())
        name = row["name"] or "[red]unknown department[/]"
        table.add_row(
            row["department"],
            name,
            str(row["elements"]),
            levels,
            str(row["datasets"]),
            str(row["agreements_as_consumer"]),
        )
    console.print(table)
    console.print(f"{sum(r['elements'] for r in rows)} elements, {sum(r['datasets'] for r in rows)} datasets")


def conflicts(store: StoreOpt = DEFAULT_URL, as_json: JsonOpt = False, today: TodayOpt = None) -> None:
    """Duplicate collections, unowned or orphaned elements, ungranted sharing — in the store."""
    from registry import queries

    found = queries.conflicts(stored_registry(open_store(store)), parse_today(today))
    if as_json:
        emit([{k: v for k, v in p.to_json().items() if k not in ("file", "line")} for p in found])
        return
    if not found:
        console.print("[green]no conflicts[/]")
        return
    table = new_table(title=f"{len(found)} conflicts")
    for column in ("code", "severity", "finding", "what to do"):
        table.add_column(column, overflow="fold")
    for p in found:
        table.add_row(p.code, p.severity, p.message, str(p.to_json()["hint"]))
    console.print(table)


def _trend(value: float | None) -> str:
    if value is None:
        return ""
    return f"[green]▲ {value:+.2f}[/]" if value > 0 else f"[red]▼ {value:+.2f}[/]" if value < 0 else "= 0.00"


def quality(
    store: StoreOpt = DEFAULT_URL,
    dataset: Annotated[str | None, typer.Option(help="Show one dataset's latest results in detail.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Quality scores per dataset, department and element (worst first), with their trend."""
    from registry.store.quality import latest_results, quality_scores

    db = open_store(store)
    if dataset:
        rows = latest_results(db, dataset)
        if as_json:
            emit(rows)
            return
        if not rows:
            err.print(f"[red]no quality results for dataset '{dataset}'[/] (run its checks first)")
            raise typer.Exit(1)
        table = new_table(title=f"{dataset}: latest results ({rows[0]['validated_at']})")
        for column in ("expectation", "severity", "status", "unexpected", "%", "samples / message"):
            table.add_column(column, overflow="fold")
        order = {"error": 0, "failed": 1, "passed": 2}
        for row in sorted(rows, key=lambda r: (order.get(r["status"], 3), r["key"])):
            style = {"error": "magenta", "failed": "red", "passed": "green"}.get(row["status"], "")
            pct = "" if row["unexpected_percent"] is None else f"{row['unexpected_percent']:.3f}"
            detail = row["message"] if row["status"] == "error" else ", ".join(row["samples"][:5])
            table.add_row(
                row["key"],
                row["severity"],
                f"[{style}]{row['status']}[/]",
                "" if row["unexpected_count"] is None else str(row["unexpected_count"]),
                pct,
                detail or "",
            )
        console.print(table)
        return
    scores = quality_scores(db)
    if as_json:
        emit({kind: [s.to_json() for s in items] for kind, items in scores.items()})
        return
    if not scores["datasets"]:
        console.print("no quality results yet: materialize the datasets (their checks store results)")
        return
    for kind, items in scores.items():
        table = new_table(title=f"quality by {kind[:-1]} (worst first)")
        for column in (kind[:-1], "score", "trend", "passed", "failed", "errors", "rows", "validated"):
            table.add_column(column, justify="right" if column not in (kind[:-1], "validated") else "left")
        for s in items:
            score = "—" if s.score is None else f"{s.score:.2f}"
            table.add_row(
                s.subject,
                score,
                _trend(s.trend),
                str(s.passed),
                str(s.failed),
                f"[magenta]{s.errors}[/]" if s.errors else "0",
                f"{s.rows:,}",
                s.validated_at or "",
            )
        console.print(table)
