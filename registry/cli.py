"""``govreg``: the command line of the registry (typer + rich).

Tables for people, ``--json`` for machines. ``--home`` and ``--store`` default to the
environment variables ``GOVREG_HOME`` and ``GOVREG_STORE``. Exit codes: 0 success, 1 the
registry or the audit log has errors, 2 wrong usage.
"""

from __future__ import annotations

import getpass
import json
import os
import sys
from datetime import date
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table
from typer.core import TyperGroup

from registry.errors import DeclarationError, GovregError, Problem, StoreBusy
from registry.home import Registry
from registry.load import check_home, display_path
from registry.store import DEFAULT_URL, Store

console = Console(highlight=False, width=None if sys.stdout.isatty() else 160)  # wide tables in logs
err = Console(stderr=True, highlight=False)


class _Commands(TyperGroup):
    """Every command: a store too busy to take a write (after the bounded wait) is a clear
    message and exit 1, not a traceback, whichever command met it."""

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except StoreBusy as exc:
            from rich.markup import escape

            err.print(f"[red]{escape(str(exc))}[/]", soft_wrap=True)
            raise typer.Exit(1) from None


app = typer.Typer(
    cls=_Commands,
    help="govreg — the government data-architecture registry: who is the source of each data "
    "element, how it is shared, and whether arriving data is any good.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)

HomeOpt = Annotated[Path, typer.Option("--home", envvar="GOVREG_HOME", help="Registry home folder.")]
StoreOpt = Annotated[str, typer.Option("--store", envvar="GOVREG_STORE", help="Metadata store URL.")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON for machines.")]
TodayOpt = Annotated[
    str | None, typer.Option("--today", help="Check agreement validity as of this date (YYYY-MM-DD).")
]


def _emit(data: Any) -> None:
    sys.stdout.write(json.dumps(data, ensure_ascii=False, indent=2, default=str) + "\n")


def _today(text: str | None) -> date | None:
    if text is None:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise typer.BadParameter(f"--today expects YYYY-MM-DD, got {text!r}") from None


def _print_problems(problems: list[Problem]) -> None:
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


def _checked_home(home: Path, today: date | None, as_json: bool) -> tuple[Registry, list[Problem]]:
    registry, problems = check_home(home, today)
    if any(p.is_error for p in problems):
        if as_json:
            _emit({"ok": False, "problems": [p.to_json() for p in problems]})
        else:
            _print_problems(problems)
            err.print(f"[red]{display_path(home)}: the registry home has errors; nothing was changed.[/]")
        raise typer.Exit(1)
    return registry, problems


def _open_store(url: str, *, create: bool = False) -> Store:
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


def _stored_registry(store: Store) -> Registry:
    from registry.store.rows import registry_from_specs

    return registry_from_specs(store.read_specs())


@app.command()
def validate(home: HomeOpt = Path("."), as_json: JsonOpt = False, today: TodayOpt = None) -> None:
    """Check a registry home: every problem with file:line, rule code and what to do."""
    registry, problems = check_home(home, _today(today))
    ok = not any(p.is_error for p in problems)
    if as_json:
        _emit(
            {
                "ok": ok,
                "counts": {s: len(e) for s, e in registry.sections()},
                "problems": [p.to_json() for p in problems],
            }
        )
    else:
        _print_problems(problems)
        counts = ", ".join(f"{len(e)} {s}" for s, e in registry.sections())
        verdict = "[green]valid[/]" if ok else "[red]invalid[/]"
        console.print(f"{display_path(home)}: {verdict} — {counts}", soft_wrap=True)
    raise typer.Exit(0 if ok else 1)


def _print_plan(plan: Any) -> None:
    from rich.markup import escape

    table = Table(title="plan", show_lines=False)
    for column in ("", "kind", "code", "change"):
        table.add_column(column, overflow="fold")
    marks = {"create": "[green]+[/]", "update": "[yellow]~[/]", "delete": "[red]-[/]"}
    for change in plan.changes:
        if change.action == "update":
            data = change.to_json()["fields"]
            detail = "\n".join(
                f"{f}: {escape(json.dumps(v['before'], ensure_ascii=False))} → "
                f"{escape(json.dumps(v['after'], ensure_ascii=False))}"
                for f, v in data.items()
            )
        else:
            spec = change.after_spec or change.before_spec or {}
            detail = escape(str(spec.get("name") or spec.get("purpose") or ""))
        if plan.origin(change) is not None:
            detail += "\n[magenta](made through the API)[/]"
        table.add_row(marks[change.action], change.kind, change.code, detail)
    if plan.changes:
        console.print(table)
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


@app.command()
def plan(
    home: HomeOpt = Path("."), store: StoreOpt = DEFAULT_URL, as_json: JsonOpt = False, today: TodayOpt = None
) -> None:
    """Show what applying the home would create, change and remove, with before and after."""
    from registry.plan import make_plan
    from registry.store.apply import plan_registry
    from registry.store.db import registry_missing
    from registry.store.rows import home_specs

    registry, _ = _checked_home(home, _today(today), as_json)
    try:
        missing = registry_missing(store)
    except Exception:
        missing = None
    if missing is None:
        result = plan_registry(_open_store(store), registry)
    else:  # nothing to read: the plan of a first apply, and no store is created by looking
        err.print(f"{missing}: planned against an empty store", soft_wrap=True)
        result = make_plan(home_specs(registry), {})
    from registry.plan import status_moves

    moves = status_moves(result, {code: e.loc for code, e in registry.elements.items()})
    if as_json:
        _emit({**result.to_json(), **({"problems": [p.to_json() for p in moves]} if moves else {})})
    else:
        _print_plan(result)
        if moves:
            _print_problems(moves)
            err.print("[red]apply would refuse this plan (GOV035): fix the statuses first.[/]")
    if moves:
        raise typer.Exit(1)


@app.command()
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

    registry, _ = _checked_home(home, _today(today), as_json)
    who = actor or getpass.getuser()
    why = reason or f"apply registry home {display_path(home)}"
    try:
        result = apply_registry(
            _open_store(store, create=True),
            registry,
            actor=who,
            reason=why,
            source=str(home.resolve()),
            prune=prune,
        )
    except DeclarationError as exc:  # refused against the store (GOV035): nothing was changed
        if as_json:
            _emit({"ok": False, "problems": [p.to_json() for p in exc.problems]})
        else:
            _print_problems(exc.problems)
            err.print("[red]apply refused; nothing was changed.[/]")
        raise typer.Exit(1) from exc
    except GovregError as exc:
        err.print(f"[red]{exc.code}: {exc}[/]")
        raise typer.Exit(1) from exc
    if as_json:
        _emit({**result.plan.to_json(), "change_id": result.change_id, "events": result.events})
        return
    if result.plan.is_empty:
        console.print("no changes: the store already holds this registry")
        return
    _print_plan(result.plan)
    console.print(f"[green]applied[/] change {result.change_id}: {result.events} audit events by {who}")


show_app = typer.Typer(help="Show one element, dataset or department as stored.", no_args_is_help=True)
app.add_typer(show_app, name="show")


def _show(kind: str, code: str, store: str, as_json: bool) -> None:
    from registry import queries

    registry = _stored_registry(_open_store(store))
    detail = getattr(queries, f"{kind}_detail")(registry, code)
    if detail is None:
        err.print(f"[red]no {kind} '{code}' in the store[/] (apply the home first?)")
        raise typer.Exit(1)
    if as_json:
        _emit(detail)
        return
    entity = detail[kind]
    table = Table(title=f"{kind} {code}: {entity.get('name')} / {entity.get('name_en')}", show_header=False)
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
                sub = Table(title=key)
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


@app.command()
def owners(store: StoreOpt = DEFAULT_URL, as_json: JsonOpt = False) -> None:
    """Who owns what: per department, elements owned (by security level) and datasets provided."""
    from registry import queries

    rows = queries.owners(_stored_registry(_open_store(store)))
    if as_json:
        _emit(rows)
        return
    table = Table(title="owners (一数一源)")
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


@app.command()
def conflicts(store: StoreOpt = DEFAULT_URL, as_json: JsonOpt = False, today: TodayOpt = None) -> None:
    """Duplicate collections, unowned or orphaned elements, ungranted sharing — in the store."""
    from registry import queries

    found = queries.conflicts(_stored_registry(_open_store(store)), _today(today))
    if as_json:
        _emit([{k: v for k, v in p.to_json().items() if k not in ("file", "line")} for p in found])
        return
    if not found:
        console.print("[green]no conflicts[/]")
        return
    table = Table(title=f"{len(found)} conflicts")
    for column in ("code", "severity", "finding", "what to do"):
        table.add_column(column, overflow="fold")
    for p in found:
        table.add_row(p.code, p.severity, p.message, str(p.to_json()["hint"]))
    console.print(table)


audit_app = typer.Typer(
    help="The audit log: every change with actor, time, reason, before and after; signed checkpoints.",
)
app.add_typer(audit_app, name="audit")

PublicKeyOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--public-key",
        help="A trusted public key (base64, PEM, or a file such as audit.key.pub); repeat across a "
        "key rotation. Default: GOVREG_AUDIT_PUBLIC_KEY, else the configured audit key's public part.",
    ),
]


def visible(text: object) -> str:
    """``text`` safe for a terminal: control and format characters (ESC, CR, bidi overrides, ...)
    shown as visible escapes (``\\x1b``), never raw, and rich markup escaped."""
    import unicodedata

    from rich.markup import escape

    out = []
    for ch in str(text):
        if unicodedata.category(ch) in ("Cc", "Cf", "Zl", "Zp"):
            code = ord(ch)
            out.append(f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}")
        else:
            out.append(ch)
    return escape("".join(out))


def _key_error(exc: GovregError) -> typer.Exit:
    err.print(f"[red]{exc.code}: {visible(exc)}[/]", soft_wrap=True)
    return typer.Exit(1)


@audit_app.callback(invoke_without_command=True)
def audit(
    ctx: typer.Context,
    store: StoreOpt = DEFAULT_URL,
    kind: Annotated[str | None, typer.Option(help="Entity kind, e.g. element.")] = None,
    code: Annotated[str | None, typer.Option(help="Entity code.")] = None,
    actor: Annotated[str | None, typer.Option(help="Who acted.")] = None,
    action: Annotated[str | None, typer.Option(help="create, update, delete, ...")] = None,
    since: Annotated[str | None, typer.Option(help="From this time (ISO date or datetime).")] = None,
    until: Annotated[str | None, typer.Option(help="Up to this time (ISO date or datetime).")] = None,
    limit: Annotated[int, typer.Option(help="At most this many events, newest first.")] = 50,
    verify: Annotated[
        bool,
        typer.Option(
            "--verify",
            help="Verify the chain, every signed checkpoint, and that the registry is what the log "
            "replays to.",
        ),
    ] = False,
    public_key: PublicKeyOpt = None,
    anchor: Annotated[
        Path | None,
        typer.Option(
            "--anchor", help="With --verify: prove the log still extends this signed head (audit anchor)."
        ),
    ] = None,
    require_signature: Annotated[
        bool, typer.Option("--require-signature", help="With --verify: an unsigned log fails.")
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """The audit log: every change with actor, time, reason, before and after.

    ``--verify`` exits 1 naming what broke and where: the chain, a checkpoint's signature (only
    keys trusted from outside the store count), events after the last signed checkpoint, or a
    registry row that differs from what the log replays to."""
    if ctx.invoked_subcommand is not None:
        return
    from registry.store.audit import query_events

    if verify or anchor is not None or require_signature or public_key:
        _verify(store, public_key or [], anchor, require_signature, as_json)
        return
    db = _open_store(store)
    with db.read() as conn:
        if until and len(until) == 10:
            until = until + "T23:59:59.999999Z"
        events = list(
            query_events(
                conn, kind=kind, code=code, actor=actor, action=action, since=since, until=until, limit=limit
            )
        )
    if as_json:
        for event in events:
            for side in ("before", "after"):
                event[side] = json.loads(event[side]) if event[side] else None
        _emit(events)
        return
    table = Table(title=f"audit events ({len(events)}, newest first)")
    for column in ("seq", "time", "actor", "action", "entity", "reason", "fields"):
        table.add_column(column, overflow="fold")
    for event in events:
        before = json.loads(event["before"]) if event["before"] else {}
        after = json.loads(event["after"]) if event["after"] else {}
        fields = sorted(k for k in before.keys() | after.keys() if before.get(k) != after.get(k))
        shown = ", ".join(fields) if event["action"] == "update" else ""
        table.add_row(
            str(event["seq"]),
            visible(event["ts"]),
            visible(event["actor"]),
            visible(event["action"]),
            visible(f"{event['entity_kind']} {event['entity_code']}"),
            visible(event["reason"]),
            visible(shown),
        )
    console.print(table)


def _verify(
    store: str, public_keys: list[str], anchor_file: Path | None, require: bool, as_json: bool
) -> None:
    from registry.store.audit import verify_audit
    from registry.store.signing import trusted_keys

    try:
        trusted, source = trusted_keys(public_keys)
    except GovregError as exc:
        raise _key_error(exc) from exc
    anchor: dict[str, Any] | None = None
    if anchor_file is not None:
        try:
            anchor = json.loads(anchor_file.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            err.print(f"[red]cannot read the anchor {visible(anchor_file)}: {visible(exc)}[/]")
            raise typer.Exit(1) from exc
        if not isinstance(anchor, dict):
            err.print(
                f"[red]{visible(anchor_file)} is not an audit anchor (govreg audit anchor writes one)[/]"
            )
            raise typer.Exit(1)
    db = _open_store(store)
    with db.read() as conn:
        report = verify_audit(conn, trusted, key_source=source, require_signature=require, anchor=anchor)
    if as_json:
        _emit(report.to_json())
        raise typer.Exit(0 if report.ok else 1)
    for note in report.notes:
        console.print(f"[yellow]AUDIT[/] {visible(note)}")
    for problem in report.problems:
        err.print(f"[red]AUDIT[/] {visible(problem)}", soft_wrap=True)
    if not report.ok:
        err.print(
            f"[red]audit log broken[/]: {len(report.problems)} problem(s) in {report.events} events, "
            f"{report.checkpoints} checkpoints, {report.entities} entities"
        )
        raise typer.Exit(1)
    signed = (
        f"{report.checkpoints} signed checkpoints (trusted: {visible(source)}), head at event "
        f"{report.head['seq']}"
        if report.head
        else "unsigned"
    )
    extends = f"; extends the anchor at event {anchor['seq']}" if anchor else ""
    console.print(
        f"[green]audit log verified[/]: {report.events} events, no break; {signed}; "
        f"{report.entities} entities match the log{extends}"
    )


@audit_app.command("keygen")
def audit_keygen(
    key_file: Annotated[
        Path | None,
        typer.Option(
            "--key-file", help="Where to write the key (default GOVREG_AUDIT_KEY_FILE or .govreg/audit.key)."
        ),
    ] = None,
    force: Annotated[bool, typer.Option("--force", help="Replace an existing key file.")] = False,
) -> None:
    """Make the audit signing key (Ed25519, mode 0600) and <file>.pub; prints the public key only."""
    from registry.store import signing

    path = key_file or signing.key_file()
    try:
        key = signing.generate(path, force=force)
    except GovregError as exc:
        raise _key_error(exc) from exc
    err.print(
        f"wrote the audit key to {visible(path)} (mode 600) and its public key to {visible(path)}.pub; "
        "keep the public key (or an anchor) somewhere the store's writer cannot change"
    )
    sys.stdout.write(key.public + "\n")


@audit_app.command("anchor")
def audit_anchor(store: StoreOpt = DEFAULT_URL) -> None:
    """Print the signed head (JSON) to keep elsewhere; `audit --verify --anchor FILE` proves the log
    still extends it."""
    from registry.store.audit import anchor_of

    db = _open_store(store)
    with db.read() as conn:
        head = anchor_of(conn)
    if head is None:
        err.print(
            "[red]the audit log has no signed head to anchor[/]: it is unsigned, or its head is past the "
            "last checkpoint (run govreg audit --verify)"
        )
        raise typer.Exit(1)
    _emit(head)


def _trend(value: float | None) -> str:
    if value is None:
        return ""
    return f"[green]▲ {value:+.2f}[/]" if value > 0 else f"[red]▼ {value:+.2f}[/]" if value < 0 else "= 0.00"


@app.command()
def quality(
    store: StoreOpt = DEFAULT_URL,
    dataset: Annotated[str | None, typer.Option(help="Show one dataset's latest results in detail.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Quality scores per dataset, department and element (worst first), with their trend."""
    from registry.store.quality import latest_results, quality_scores

    db = _open_store(store)
    if dataset:
        rows = latest_results(db, dataset)
        if as_json:
            _emit(rows)
            return
        if not rows:
            err.print(f"[red]no quality results for dataset '{dataset}'[/] (run its checks first)")
            raise typer.Exit(1)
        table = Table(title=f"{dataset}: latest results ({rows[0]['validated_at']})")
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
        _emit({kind: [s.to_json() for s in items] for kind, items in scores.items()})
        return
    if not scores["datasets"]:
        console.print("no quality results yet: materialize the datasets (their checks store results)")
        return
    for kind, items in scores.items():
        table = Table(title=f"quality by {kind[:-1]} (worst first)")
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


@app.command()
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
) -> None:
    """The main job on the sample city: validate, apply, generate extracts, materialize, summarise.

    It runs on its own store and data folder (``.govreg/demo``), whatever GOVREG_HOME,
    GOVREG_STORE and GOVREG_DATA say, unless given --home, --store or --data; it refuses a store
    holding another registry unless --force."""
    # The one command that reaches the orchestration layer; imported here so that the registry's
    # own commands never load Dagster.
    from pipelines.demo import run_demo

    try:
        result = run_demo(
            home=home,
            store_url=store,
            data=data,
            rows=rows,
            seed=seed,
            console=console,
            actor=os.environ.get("GOVREG_ACTOR") or "govreg-demo",
            force=force,
        )
    except DeclarationError as exc:
        _print_problems(exc.problems)
        raise typer.Exit(1) from exc
    except GovregError as exc:
        from rich.markup import escape

        err.print(f"[red]{exc.code}: {escape(str(exc))}[/]", soft_wrap=True)
        raise typer.Exit(1) from exc
    if result.failed_steps or not result.audit_ok or not result.bad_extract_refused:
        raise typer.Exit(1)


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
    from rich.markup import escape

    console.print(f"[bold]{escape(name)}[/]: {len(statements)} statement{'s' * (len(statements) != 1)}")
    styles = {"ok": "green", "partial": "yellow", "failed": "red"}
    for s in statements:
        where = f" at line {s.line}, column {s.col}" if s.line else ""
        status = f"[{styles[s.status]}]{s.status}[/]"
        kind = f" {s.kind}" if s.kind else ""
        reason = f" — {escape(s.reason)}{where}" if s.reason else ""
        console.print(f"statement {s.index + 1}{kind}: {status}{reason}", soft_wrap=True)
        if s.sources or s.targets:
            tables = Table(show_header=True)
            tables.add_column("sources", overflow="fold")
            tables.add_column("targets", overflow="fold")
            tables.add_row("\n".join(s.sources) or "—", "\n".join(s.targets) or "—")
            console.print(tables)
        if s.columns:
            edges = Table(show_header=True)
            for column in ("source column", "target column", "kind"):
                edges.add_column(column, overflow="fold")
            for e in s.columns:
                edges.add_row(str(e.source), str(e.target), e.kind)
            console.print(edges)


@app.command()
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


@app.command()
def export(
    fmt: Annotated[str, typer.Option("--format", help="Export format: openlineage.")] = "openlineage",
    home: HomeOpt = Path("."),
    out: Annotated[Path | None, typer.Option("--out", help="Write here instead of standard output.")] = None,
) -> None:
    """The lineage of every view and indicator as OpenLineage RunEvents, one JSON event a line."""
    from lineage.openlineage import to_run_events
    from lineage.parse import extract_lineage
    from lineage.schema import registry_schema

    if fmt != "openlineage":
        raise typer.BadParameter(f"unknown format {fmt!r} (known: openlineage)", param_hint="--format")
    registry, _ = _checked_home(home, None, False)
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
        err.print(f"{len(events)} OpenLineage events written to {out}")


def main() -> None:  # pragma: no cover - console-script shim
    app()


from registry import cli_impact  # noqa: E402,F401 - registers impact and coverage on the app
from registry.cli_serve import token_app as _token_app  # noqa: E402,F401 - registers serve and token
