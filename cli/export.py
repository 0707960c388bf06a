"""``govreg export``: the store back as a registry home (YAML), or the lineage as OpenLineage events."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from cli.common import (
    DEFAULT_URL,
    HomeOpt,
    StoreOpt,
    checked_home,
    console,
    emit,
    err,
    escape,
    open_store,
    working,
)
from registry.errors import StoreError, display_path


def openlineage_export(
    fmt: Annotated[str, typer.Option("--format", help="Export format: openlineage.")] = "openlineage",
    home: HomeOpt = Path("."),
    out: Annotated[Path | None, typer.Option("--out", help="Write here instead of standard output.")] = None,
    as_json: bool = False,
) -> None:
    """The lineage of every view and indicator as OpenLineage RunEvents, one JSON event a line."""
    from lineage.openlineage import to_run_events
    from lineage.parse import extract_lineage
    from lineage.schema import registry_schema

    if fmt != "openlineage":
        raise typer.BadParameter(f"unknown format {fmt!r} (known: openlineage)", param_hint="--format")
    registry, _ = checked_home(home, None, False)
    known = registry_schema(registry)
    queries = {**registry.views, **registry.indicators}
    statements = {
        code: extract_lineage(q.query or "", q.dialect, schema=known, default_target=code)
        for code, q in queries.items()
    }
    from importlib.metadata import PackageNotFoundError, version

    try:
        producer = f"https://pypi.org/project/govreg/{version('govreg')}"
    except PackageNotFoundError:  # pragma: no cover - running from a bare checkout
        producer = "https://pypi.org/project/govreg/"
    events = to_run_events(
        statements,
        namespace=f"govreg://{registry.settings.name}",
        producer=producer,
        queries={code: q.query or "" for code, q in queries.items()},
        dialects={code: q.dialect for code, q in queries.items()},
    )
    text = "".join(json.dumps(e, ensure_ascii=False) + "\n" for e in events)
    if out is None:
        sys.stdout.write(text)
    else:
        out.write_text(text, encoding="utf-8")
        if as_json:
            emit({"format": "openlineage", "out": str(out), "events": len(events)})
        else:
            err.print(f"{len(events)} OpenLineage events written to {out}")


def export(
    as_yaml: Annotated[
        bool, typer.Option("--yaml", help="Write the store's registry as a registry home (YAML and SQL).")
    ] = False,
    fmt: Annotated[
        str, typer.Option("--format", help="openlineage, or yaml (same as --yaml).")
    ] = "openlineage",
    out: Annotated[
        Path | None,
        typer.Option("--out", help="The folder (--yaml) or file (openlineage; default standard output)."),
    ] = None,
    store: StoreOpt = DEFAULT_URL,
    home: HomeOpt = Path("."),
    replace: Annotated[
        bool,
        typer.Option(
            "--replace",
            help="--yaml: remove the folder's YAML and SQL files first, and write every file anew "
            "(without it, a folder holding a home is updated in place: only what changed is written).",
        ),
    ] = False,
    prune: Annotated[
        bool,
        typer.Option(
            "--prune", help="--yaml in place: also remove what the home declares and the store does not hold."
        ),
    ] = False,
    as_json: Annotated[
        bool,
        typer.Option(
            "--json",
            help="Say what was written as JSON (OpenLineage to standard output is JSON lines already).",
        ),
    ] = False,
) -> None:
    """Write the store's registry back as a registry home (--yaml, for review and commit in git:
    over a home, in place, only what changed), or the lineage of the home's views and indicators
    as OpenLineage events (--format openlineage)."""
    if not as_yaml and fmt != "yaml":
        with working("tracing the lineage of every view and indicator"):
            openlineage_export(fmt=fmt, home=home, out=out, as_json=as_json)
        return
    from registry.export import export_home
    from registry.store.rows import registry_from_specs

    if out is None:
        err.print("[red]--yaml needs --out: the folder to write the registry home to[/]")
        raise typer.Exit(2)
    db = open_store(store)
    kept: list[str] = []
    try:
        with working(f"writing the store's registry to {out}"):
            written = export_home(
                registry_from_specs(db.read_specs()),
                out,
                replace=replace,
                suites_from=home,
                prune=prune,
                kept=kept,
            )
    except StoreError as exc:
        if as_json:
            emit({"ok": False, "error": str(exc)})
        else:
            err.print(f"[red]{escape(str(exc))}[/]", soft_wrap=True)
        raise typer.Exit(1) from exc
    if as_json:
        emit(
            {
                "ok": True,
                "format": "yaml",
                "out": str(out),
                "store": db.shown_url,
                "written": [display_path(p) for p in written],
                "kept": kept,
            }
        )
        return
    if kept:
        shown = ", ".join(kept[:10]) + (f", … ({len(kept)} in all)" if len(kept) > 10 else "")
        err.print(
            f"[yellow]kept what {out} declares and the store does not hold (not applied yet?): {shown}; "
            "--prune removes them[/]",
            soft_wrap=True,
        )
    if not written:
        console.print(
            f"{out} already holds the store's registry: nothing written (store {db.shown_url})",
            soft_wrap=True,
        )
        return
    console.print(f"exported {len(written)} files to {out} (store {db.shown_url})", soft_wrap=True)
