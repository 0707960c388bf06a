"""``govreg show``, ``owners``, ``conflicts`` and ``quality``: the stored registry, read."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer

from cli import render
from cli.common import (
    DEFAULT_URL,
    JsonOpt,
    StoreOpt,
    TodayOpt,
    console,
    emit,
    err,
    escape,
    open_store,
    parse_today,
    stored_registry,
)

if TYPE_CHECKING:
    from registry.home import Registry

show_app = typer.Typer(
    help="Show one entity as stored, found by its code or by any of its names, synonyms or "
    "identifiers (统一社会信用代码, catalogue code, element id).",
    no_args_is_help=True,
)

_LISTED = {  # list fields of a detail shown as tables, and which of their columns are identifiers
    "datasets": ("dataset", "provider", "column"),
    "columns": ("column", "element", "owner", "replica"),
    "replicas": ("dataset", "column", "element"),
}


def _resolve(kinds: tuple[str, ...], text: str, registry: Registry) -> str:
    """The code of the one entity of ``kinds`` that ``text`` names, or exit 1 saying why."""
    from registry.queries import find, search

    hits = find(registry, text, kinds)
    noun = " or ".join(kinds)
    if len(hits) == 1:
        return str(hits[0]["code"])
    if hits:
        err.print(f"[red]'{escape(text)}' names {len(hits)} entities[/]; give one of their codes:")
        for hit in hits:
            err.print(f"  {hit['kind']} {hit['code']}  {escape(str(hit['name'] or ''))} ({hit['field']})")
        raise typer.Exit(1)
    near = search(registry, text, kinds)[:5]
    err.print(f"[red]no {noun} '{escape(text)}' in the store[/] (apply the home first?)")
    if near:
        err.print("did you mean: " + ", ".join(f"{h['code']} ({escape(str(h['name'] or ''))})" for h in near))
    raise typer.Exit(1)


def _show(kind: str, text: str, store: str, as_json: bool, kinds: tuple[str, ...] | None = None) -> None:
    from registry import queries

    registry = stored_registry(open_store(store))
    code = _resolve(kinds or (kind,), text, registry)
    detail = getattr(queries, f"{kind}_detail")(registry, code)
    if as_json:
        emit(detail)
        return
    shown = str(detail.get("kind", kind))
    entity = detail[shown]
    title = " / ".join(str(entity[k]) for k in ("name", "name_en") if entity.get(k))
    skip = {"code", "columns", "values", "query", "sql"}
    render.fields(
        f"{shown} {code}" + (f": {title}" if title else ""),
        [(k, v) for k, v in entity.items() if k not in skip],
    )
    extra = [(k, v) for k, v in detail.items() if k not in (shown, "kind") and not isinstance(v, list)]
    for key, value in extra:
        console.print(f"[bold]{escape(key)}[/]: {escape(render.human(key, value))}", soft_wrap=True)
    if entity.get("query"):
        console.print(f"[bold]SQL[/] ({entity.get('dialect', '')}):")
        console.print(str(entity["query"]).strip(), soft_wrap=True, markup=False)
    for key, value in detail.items():
        if not isinstance(value, list) or not value:
            continue
        if isinstance(value[0], dict):
            headers = list(value[0])
            render.rows(
                key,
                headers,
                ([render.human(h, row[h]) for h in headers] for row in value),
                identifiers=_LISTED.get(key, ()),
            )
        else:
            console.print(f"[bold]{escape(key)}[/]: {escape(', '.join(map(str, value)))}", soft_wrap=True)


@show_app.command("element")
def show_element(
    text: Annotated[str, typer.Argument(help="Code, name (zh/en), synonym or id.")],
    store: StoreOpt = DEFAULT_URL,
    as_json: JsonOpt = False,
) -> None:
    """An element: its definition, owner, domain, and who collects, shares and uses it."""
    _show("element", text, store, as_json)


@show_app.command("dataset")
def show_dataset(
    text: Annotated[str, typer.Argument(help="Code, name (zh/en) or catalogue code.")],
    store: StoreOpt = DEFAULT_URL,
    as_json: JsonOpt = False,
) -> None:
    """A dataset: its columns, their elements, and its effective security and sharing."""
    _show("dataset", text, store, as_json)


@show_app.command("department")
def show_department(
    text: Annotated[str, typer.Argument(help="Code, name (zh/en), short name or 统一社会信用代码.")],
    store: StoreOpt = DEFAULT_URL,
    as_json: JsonOpt = False,
) -> None:
    """A department: what it owns, provides and consumes."""
    _show("department", text, store, as_json)


@show_app.command("view")
def show_view(
    text: Annotated[str, typer.Argument(help="Code or name (zh/en) of a view or an indicator.")],
    store: StoreOpt = DEFAULT_URL,
    as_json: JsonOpt = False,
) -> None:
    """A view or indicator: its owner, SQL, and the agreements its owner holds."""
    _show("view", text, store, as_json, kinds=("view", "indicator"))


@show_app.command("agreement")
def show_agreement(
    text: Annotated[str, typer.Argument(help="Code or name of a sharing agreement.")],
    store: StoreOpt = DEFAULT_URL,
    as_json: JsonOpt = False,
) -> None:
    """A sharing agreement: parties, what it grants, purpose, term, status, and what rests on it."""
    _show("agreement", text, store, as_json)


def _snippet(value: str, text: str, around: int = 12) -> str:
    """The part of a long ``value`` around where ``text`` occurs, with … where it was cut.

    >>> _snippet("按GB 11714编制的9位组织机构代码；由统一社会信用代码第9至17位承载。", "信用代码", 4)
    '…统一社会信用代码第9至1…'
    """
    at = value.casefold().find(text.strip().casefold())
    if at < 0 or len(value) <= len(text) + 2 * around:
        return value
    start, end = max(0, at - around), min(len(value), at + len(text) + around)
    return ("…" if start else "") + value[start:end] + ("…" if end < len(value) else "")


def _matched(hit: dict[str, Any], text: str) -> str:
    """What a hit matched on: the field alone when its value is already in the row (code, names)."""
    if hit["field"] in ("code", "name", "name_en"):
        return f"{hit['field']} ({hit['rank']})"
    return f"{hit['field']}: {_snippet(hit['matched'], text)}"


def search(
    text: Annotated[str, typer.Argument(help="Chinese or English text: a code, name, synonym, identifier.")],
    kind: Annotated[
        list[str] | None, typer.Option("--kind", help="Only these kinds (repeatable): element, dataset, ...")
    ] = None,
    limit: Annotated[int, typer.Option(help="At most this many hits.")] = 50,
    store: StoreOpt = DEFAULT_URL,
    as_json: JsonOpt = False,
) -> None:
    """Find departments, elements, datasets, views, indicators, agreements, services and code
    lists by code, name, synonym, identifier or description, best match first."""
    from registry.queries import SEARCH_KINDS
    from registry.queries import search as find_all

    kinds = tuple(kind or SEARCH_KINDS)
    unknown = [k for k in kinds if k not in SEARCH_KINDS]
    if unknown:
        err.print(f"[red]unknown kind {', '.join(unknown)}[/]: give {', '.join(SEARCH_KINDS)}")
        raise typer.Exit(2)
    hits = find_all(stored_registry(open_store(store)), text, kinds)
    if as_json:
        emit({"text": text, "total": len(hits), "hits": hits[:limit]})
        return
    if not hits:
        console.print(f"nothing matches '{escape(text)}'")
        raise typer.Exit(1)
    render.rows(
        f"{len(hits)} hit{'s' if len(hits) > 1 else ''} for '{text}'"
        + (f" (first {limit})" if len(hits) > limit else ""),
        ("kind", "code", "name", "name_en", "matched"),
        ((h["kind"], h["code"], h["name"], h["name_en"], _matched(h, text)) for h in hits[:limit]),
        identifiers=("kind", "code"),
    )


def owners(store: StoreOpt = DEFAULT_URL, as_json: JsonOpt = False) -> None:
    """Who owns what: per department, elements owned (by security level) and datasets provided."""
    from registry import queries

    rows = queries.owners(stored_registry(open_store(store)))
    if as_json:
        emit(rows)
        return
    render.rows(
        "owners (一数一源)",
        ("department", "name", "elements", "by security level", "datasets", "agreements (consumer)"),
        (
            (
                row["department"],
                escape(row["name"]) if row["name"] else "[red]unknown department[/]",
                row["elements"],
                ", ".join(f"{render.token('security', k)} {v}" for k, v in row["by_security"].items()),
                row["datasets"],
                row["agreements_as_consumer"],
            )
            for row in rows
        ),
        identifiers=("department",),
        numbers=("elements", "datasets", "agreements (consumer)"),
        markup=True,
    )
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
    render.rows(
        f"{len(found)} conflicts",
        ("code", "severity", "finding", "what to do"),
        ((p.code, p.severity, p.message, str(p.to_json()["hint"])) for p in found),
        identifiers=("code", "severity"),
    )


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
        order = {"error": 0, "failed": 1, "passed": 2}
        styles = {"error": "magenta", "failed": "red", "passed": "green"}
        render.rows(
            f"{dataset}: latest results ({render.when(rows[0]['validated_at'])})",
            ("expectation", "severity", "status", "unexpected", "%", "samples / message"),
            (
                (
                    row["key"],
                    row["severity"],
                    f"[{styles.get(row['status'], 'default')}]{row['status']}[/]",
                    "" if row["unexpected_count"] is None else str(row["unexpected_count"]),
                    "" if row["unexpected_percent"] is None else f"{row['unexpected_percent']:.3f}",
                    escape(
                        row["message"] if row["status"] == "error" else ", ".join(row["samples"][:5]) or ""
                    ),
                )
                for row in sorted(rows, key=lambda r: (order.get(r["status"], 3), r["key"]))
            ),
            identifiers=("expectation", "severity"),
            numbers=("unexpected", "%"),
            markup=True,
        )
        return
    scores = quality_scores(db)
    if as_json:
        emit({kind: [s.to_json() for s in items] for kind, items in scores.items()})
        return
    if not scores["datasets"]:
        console.print("no quality results yet: materialize the datasets (their checks store results)")
        return
    for kind, items in scores.items():
        subject = kind[:-1]
        render.rows(
            f"quality by {subject} (worst first)",
            (subject, "score", "trend", "passed", "failed", "errors", "rows", "validated"),
            (
                (
                    s.subject,
                    "—" if s.score is None else f"{s.score:.2f}",
                    _trend(s.trend),
                    s.passed,
                    s.failed,
                    f"[magenta]{s.errors}[/]" if s.errors else "0",
                    f"{s.rows:,}",
                    render.when(s.validated_at),
                )
                for s in items
            ),
            identifiers=(subject, "validated"),
            numbers=("score", "passed", "failed", "errors", "rows"),
            markup=True,
        )
