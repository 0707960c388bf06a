"""``govreg validate``, ``plan`` and ``apply``: check a registry home, show what applying it
changes, apply it.
"""

from __future__ import annotations

import getpass
import json
from pathlib import Path
from typing import Annotated, Any

import typer

from cli import render
from cli.common import (
    DEFAULT_URL,
    HomeOpt,
    JsonOpt,
    StoreOpt,
    TodayOpt,
    checked_home,
    console,
    emit,
    err,
    escape,
    open_store,
    parse_today,
    print_problems,
    problems_json,
    working,
)
from registry.errors import DeclarationError, GovregError, display_path


def validate(home: HomeOpt = Path("."), as_json: JsonOpt = False, today: TodayOpt = None) -> None:
    """Check a registry home: every problem with file:line, rule code and what to do."""
    from registry.load import check_home

    registry, problems = check_home(home, parse_today(today))
    ok = not any(p.is_error for p in problems)
    if as_json:
        emit(
            {
                "ok": ok,
                "counts": {s: len(e) for s, e in registry.sections()},
                **problems_json(problems),
            }
        )
    else:
        print_problems(problems)
        counts = ", ".join(f"{len(e)} {s}" for s, e in registry.sections())
        verdict = "[green]valid[/]" if ok else "[red]invalid[/]"
        console.print(f"{display_path(home)}: {verdict} — {counts}", soft_wrap=True)
    raise typer.Exit(0 if ok else 1)


def _print_plan(plan: Any) -> None:

    marks = {"create": "[green]+[/]", "update": "[yellow]~[/]", "delete": "[red]-[/]"}
    shown = []
    for change in plan.changes:
        if change.action == "update":
            data = change.to_json()["fields"]
            detail = "\n".join(
                f"{escape(f)}: {escape(json.dumps(v['before'], ensure_ascii=False))} → "
                f"{escape(json.dumps(v['after'], ensure_ascii=False))}"
                for f, v in data.items()
            )
        else:
            spec = change.after_spec or change.before_spec or {}
            detail = escape(str(spec.get("name") or spec.get("purpose") or ""))
        if plan.origin(change) is not None:
            detail += "\n[magenta](made through the API)[/]"
        shown.append((marks[change.action], change.kind, escape(change.code), detail))
    if plan.changes:
        render.rows(
            "plan", ("", "kind", "code", "change"), shown, identifiers=("", "kind", "code"), markup=True
        )
    counts = plan.counts()
    console.print(
        f"plan: {counts['create']} to create, {counts['update']} to update, {counts['delete']} to delete"
    )
    for change in plan.changes:
        origin = plan.origin(change)
        if origin is not None:
            todo = (
                "export before apply, or --prune to remove"
                if change.action == "delete"
                else "export before apply"
            )
            console.print(
                f"[magenta]{change.kind} {escape(change.code)}[/]: {escape(origin.describe())}: {todo}",
                soft_wrap=True,
            )
    if plan.api_made_deletes:
        console.print(
            f"[magenta]{len(plan.api_made_deletes)} of the deletes remove what was made through the API: "
            "apply refuses them (GOV037) unless --prune; govreg export --yaml --out <home> keeps them[/]",
            soft_wrap=True,
        )


def plan(
    home: HomeOpt = Path("."), store: StoreOpt = DEFAULT_URL, as_json: JsonOpt = False, today: TodayOpt = None
) -> None:
    """Show what applying the home would create, change and remove, with before and after."""
    from registry.plan import make_plan
    from registry.store.apply import plan_registry
    from registry.store.db import registry_missing
    from registry.store.rows import home_specs

    registry, _ = checked_home(home, parse_today(today), as_json)
    try:
        missing = registry_missing(store)
    except Exception:
        missing = None
    if missing is None:
        result = plan_registry(open_store(store), registry)
    else:  # nothing to read: the plan of a first apply, and no store is created by looking
        err.print(f"{missing}: planned against an empty store", soft_wrap=True)
        result = make_plan(home_specs(registry), {})
    from registry.plan import status_moves

    moves = status_moves(result, {code: e.loc for code, e in registry.elements.items()})
    if as_json:
        emit({**result.to_json(), **({"problems": [p.to_json() for p in moves]} if moves else {})})
    else:
        _print_plan(result)
        if moves:
            print_problems(moves)
            err.print("[red]apply would refuse this plan (GOV035): fix the statuses first.[/]")
    if moves:
        raise typer.Exit(1)


def apply(
    home: HomeOpt = Path("."),
    store: StoreOpt = DEFAULT_URL,
    actor: Annotated[str | None, typer.Option(envvar="GOVREG_ACTOR", help="Who applies (audit).")] = None,
    reason: Annotated[str | None, typer.Option(help="Why (audit); defaults to the home's path.")] = None,
    prune: Annotated[
        bool,
        typer.Option("--prune", help="Also delete what was made through the API and is not in the home."),
    ] = False,
    as_json: JsonOpt = False,
    today: TodayOpt = None,
) -> None:
    """Apply the home to the store in one transaction, with an audit event per change.

    What the API made and the home does not hold is kept: the apply is refused (GOV037) unless
    ``--prune``."""
    from registry.store.apply import apply_registry

    registry, _ = checked_home(home, parse_today(today), as_json)
    who = actor or getpass.getuser()
    why = reason or f"apply registry home {display_path(home)}"
    try:
        with working(f"applying {registry.count():,} entities to {store.split('://')[0]} store"):
            result = apply_registry(
                open_store(store, create=True),
                registry,
                actor=who,
                reason=why,
                source=str(home.resolve()),
                prune=prune,
            )
    except DeclarationError as exc:  # refused against the store (GOV035): nothing was changed
        if as_json:
            emit({"ok": False, **problems_json(exc.problems)})
        else:
            print_problems(exc.problems)
            err.print("[red]apply refused; nothing was changed.[/]")
        raise typer.Exit(1) from exc
    except GovregError as exc:
        err.print(f"[red]{exc.code}: {exc}[/]")
        raise typer.Exit(1) from exc
    if as_json:
        emit({**result.plan.to_json(), "change_id": result.change_id, "events": result.events})
        return
    if result.plan.is_empty:
        console.print("no changes: the store already holds this registry")
        return
    _print_plan(result.plan)
    console.print(f"[green]applied[/] change {result.change_id}: {result.events} audit events by {who}")
