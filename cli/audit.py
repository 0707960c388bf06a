"""``govreg audit``: the audit log, filtered, verified, its keys and anchors."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from cli import render
from cli.common import (
    DEFAULT_URL,
    JsonOpt,
    StoreOpt,
    console,
    emit,
    err,
    escape,
    open_store,
)
from registry.errors import GovregError

audit_app = typer.Typer(
    help="The audit log: every change with actor, time, reason, before and after; signed checkpoints.",
)

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
    db = open_store(store)
    with db.read() as conn:
        try:  # a typed time is Asia/Shanghai, as every time govreg shows
            since, until = render.utc_bound(since), render.utc_bound(until, end=True)
        except ValueError as exc:
            err.print(f"[red]--since/--until: {escape(str(exc))}[/] (give YYYY-MM-DD or an ISO time)")
            raise typer.Exit(2) from None
        events = list(
            query_events(
                conn, kind=kind, code=code, actor=actor, action=action, since=since, until=until, limit=limit
            )
        )
    if as_json:
        for event in events:
            for side in ("before", "after"):
                event[side] = json.loads(event[side]) if event[side] else None
        emit(events)
        return
    shown_rows = []
    for event in events:
        before = json.loads(event["before"]) if event["before"] else {}
        after = json.loads(event["after"]) if event["after"] else {}
        fields = sorted(k for k in before.keys() | after.keys() if before.get(k) != after.get(k))
        shown = ", ".join(fields) if event["action"] == "update" else ""
        shown_rows.append(
            (
                event["seq"],
                render.when(event["ts"], offset=False),
                visible(event["actor"]),
                visible(event["action"]),
                visible(event["entity_kind"]) + "\n" + visible(event["entity_code"]),
                visible(event["reason"]),
                visible(shown),
            )
        )
    render.rows(
        f"audit events ({len(events)}, newest first; times in Asia/Shanghai, UTC+08:00)",
        ("seq", "time", "actor", "action", "entity", "reason", "fields"),
        shown_rows,
        identifiers=("seq", "time", "actor", "action", "entity"),
        numbers=("seq",),
        markup=True,  # visible() escaped every value
    )


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
    db = open_store(store)
    with db.read() as conn:
        report = verify_audit(conn, trusted, key_source=source, require_signature=require, anchor=anchor)
    if as_json:
        emit(report.to_json())
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

    db = open_store(store)
    with db.read() as conn:
        head = anchor_of(conn)
    if head is None:
        err.print(
            "[red]the audit log has no signed head to anchor[/]: it is unsigned, or its head is past the "
            "last checkpoint (run govreg audit --verify)"
        )
        raise typer.Exit(1)
    emit(head)
