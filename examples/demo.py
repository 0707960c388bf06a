"""The main job on the bundled sample city: validate, apply, generate extracts, summarise.

``make demo`` runs it through ``govreg demo``. Later stages (Dagster ingestion, quality checks)
extend it; each stage reports into the same per-department summary.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from rich.console import Console
from rich.table import Table

from registry.load import display_path, load_valid_home
from registry.store import Store
from registry.store.apply import apply_registry
from registry.store.audit import verify_chain

CITY = Path(__file__).resolve().parent / "city"


@dataclass(frozen=True)
class DemoResult:
    warnings: int
    applied_events: int
    datasets: int
    rows: int
    defects: int
    audit_ok: bool


def run_demo(
    *,
    home: Path | None,
    store_url: str,
    out: Path,
    rows: int,
    seed: int,
    console: Console,
    actor: str,
    today: date | None = None,
) -> DemoResult:
    from examples.generator import generate

    home = home or CITY
    started = time.perf_counter()
    registry, warnings = load_valid_home(home)
    console.print(f"[bold]1. validate[/] {display_path(home)}: valid, {len(warnings)} warning(s)")
    for problem in warnings:
        console.print(f"   {problem.location}: [yellow]{problem.code}[/] {problem.message}", soft_wrap=True)

    store = Store(store_url)
    result = apply_registry(store, registry, actor=actor, reason="govreg demo: sample city", source=str(home))
    counts = result.plan.counts()
    with store.read() as conn:
        chain = verify_chain(conn)
    console.print(
        f"[bold]2. apply[/] to {store_url}: {counts['create']} created, {counts['update']} updated, "
        f"{counts['delete']} deleted, {result.events} audit events; audit chain "
        f"{'verified' if chain.ok else '[red]BROKEN[/]'} ({chain.events} events)"
    )

    manifest = generate(registry, out, rows=rows, seed=seed, today=today)
    console.print(
        f"[bold]3. generate[/] extracts for {len(manifest.datasets)} datasets into {display_path(out)} "
        f"(seed {seed}, {rows:,} rows in the largest; manifest.json lists the injected defects)"
    )

    per_dept: dict[str, Counter[str]] = {code: Counter() for code in registry.departments}
    for code, entry in manifest.datasets.items():
        dept = per_dept[registry.datasets[code].provider]
        dept["datasets"] += 1
        dept["rows"] += entry.rows
        injected = sum(n for column in entry.defects.columns.values() for n in column.values())
        dept["defects"] += injected + (entry.defects.duplicate_key or 0)
    for element in registry.elements.values():
        per_dept[element.owner]["elements"] += 1
    findings = Counter(
        registry.datasets[p.message.split("'")[1]].provider for p in warnings if p.code == "GOV006"
    )

    table = Table(title=f"sample city: {registry.settings.name}")
    for column in (
        "department",
        "名称",
        "elements owned",
        "datasets",
        "rows generated",
        "defects injected",
        "duplicate collections",
    ):
        table.add_column(column, justify="right" if column not in ("department", "名称") else "left")
    for code, c in per_dept.items():
        table.add_row(
            code,
            registry.departments[code].name,
            str(c["elements"]),
            str(c["datasets"]),
            f"{c['rows']:,}",
            str(c["defects"]),
            str(findings.get(code, 0)),
        )
    console.print(table)
    total = Counter[str]()
    for c in per_dept.values():
        total.update(c)
    console.print(
        f"done in {time.perf_counter() - started:.1f} s: {total['datasets']} datasets, "
        f"{total['rows']:,} rows, {total['defects']} injected defects"
    )
    return DemoResult(
        len(warnings), result.events, total["datasets"], total["rows"], total["defects"], chain.ok
    )
