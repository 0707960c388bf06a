"""``govreg impact`` and ``govreg coverage``: what a change to an element touches, and how much SQL
the lineage parser understood.
"""

from __future__ import annotations

from typing import Annotated

import typer

from cli import render
from cli.common import (
    DEFAULT_URL,
    JsonOpt,
    StoreOpt,
    console,
    emit,
    err,
    new_tree,
    open_store,
    stored_registry,
)


def impact(
    element: str,
    store: StoreOpt = DEFAULT_URL,
    depth: Annotated[int, typer.Option(help="How many hops downstream to follow.")] = 10,
    as_json: JsonOpt = False,
) -> None:
    """Everything a change to ELEMENT touches: columns, downstream columns, views, consumers."""
    from registry.queries import impact as compute
    from registry.store.lineage import read_edges

    db = open_store(store)
    result = compute(stored_registry(db), read_edges(db), element, depth=depth)
    if result is None:
        err.print(f"[red]no element '{element}' in the store[/] (apply the home first?)")
        raise typer.Exit(1)
    if as_json:
        emit(result)
        return
    tree = new_tree(f"[bold]{element}[/] {result['name']} / {result['name_en']} — owner {result['owner']}")
    columns = tree.add(f"carried by {len(result['columns'])} column(s)")
    for column in result["columns"]:
        columns.add(column)
    down = tree.add(f"{len(result['downstream'])} downstream column(s)")
    for item in result["downstream"]:
        via = ", ".join(item["via"])
        sources = ", ".join(item["sources"])
        down.add(f"{item['column']}  [dim](depth {item['depth']}, {via}, from {sources})[/]")
    tree.add(
        f"views: {', '.join(result['views']) or '—'}; indicators: {', '.join(result['indicators']) or '—'}"
    )
    consumers = tree.add(f"{len(result['consumers'])} consuming department(s)")
    for dept, reasons in result["consumers"].items():
        node = consumers.add(dept)
        for reason in reasons:
            node.add(reason)
    console.print(tree)


def coverage(store: StoreOpt = DEFAULT_URL, as_json: JsonOpt = False) -> None:
    """Stored SQL statements parsed fully, partially or not at all, by department and dialect."""
    from registry.store.lineage import coverage as compute
    from registry.store.lineage import statements

    rows = statements(open_store(store))
    result = compute(rows)
    if as_json:
        emit(
            {
                **result,
                "failed": [
                    {
                        k: r[k]
                        for k in ("origin_kind", "origin", "position", "status", "reason", "line", "col")
                    }
                    for r in rows
                    if r["status"] != "ok"
                ],
            }
        )
        return
    for kind, counts in result.items():
        render.rows(
            f"lineage coverage by {kind[:-1]}",
            (kind[:-1], "ok", "partial", "failed"),
            ((key, c["ok"], c["partial"], c["failed"]) for key, c in counts.items()),
            identifiers=(kind[:-1],),
            numbers=("ok", "partial", "failed"),
        )
    for r in rows:
        if r["status"] != "ok":
            console.print(
                f"[yellow]{r['status']}[/] {r['origin_kind']} {r['origin']} #{r['position']}: {r['reason']}"
            )
