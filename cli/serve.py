"""``govreg serve`` and ``govreg token``: the GraphQL catalog over HTTP, and the bearer tokens
departments use with it.
"""

from __future__ import annotations

import getpass
import logging
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
from registry.api.limits import Limits as _Limits
from registry.errors import StoreError

token_app = typer.Typer(
    help="API bearer tokens: create (printed once), list and revoke.", no_args_is_help=True
)

ActorOpt = Annotated[
    str | None,
    typer.Option("--actor", envvar="GOVREG_ACTOR", help="Who does this (audit; default: the OS user)."),
]
_LIMITS = _Limits()
ReasonOpt = Annotated[str, typer.Option("--reason", help="Why (recorded in the audit log).")]


def _coded(exc: StoreError) -> str:
    """The message, led by its code when it has its own (AUD001, ...)."""
    return f"{exc.code}: {exc}" if exc.code != StoreError.code else str(exc)


def serve(
    store: StoreOpt = DEFAULT_URL,
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8080,
    max_body: Annotated[int, typer.Option(help="Largest request body accepted, in bytes.")] = 256 * 1024,
    concurrency: Annotated[int, typer.Option(help="Connections served at once (then 503).")] = 200,
    http: Annotated[
        str,
        typer.Option(
            "--http",
            help="HTTP parser: auto (httptools when installed), h11 or httptools; each reads at most "
            "64 KB of request line and headers.",
        ),
    ] = "auto",
    max_cost: Annotated[int, typer.Option(help="Most work one request may cost (then COST_LIMIT).")] = (
        _LIMITS.cost
    ),
    max_depth: Annotated[int, typer.Option(help="Deepest nesting (then DEPTH_LIMIT).")] = _LIMITS.depth,
    max_aliases: Annotated[
        int, typer.Option(help="Aliases in one request (then ALIAS_LIMIT).")
    ] = _LIMITS.aliases,
    max_selections: Annotated[
        int, typer.Option(help="Field selections in one request, fragments expanded (then ALIAS_LIMIT).")
    ] = _LIMITS.selections,
    max_query: Annotated[
        int, typer.Option(help="Characters of query text, refused unparsed beyond (then PAYLOAD_TOO_LARGE).")
    ] = _LIMITS.query,
    time_budget: Annotated[
        float, typer.Option(help="Seconds one request may resolve for (then TIME_LIMIT).")
    ] = _LIMITS.time,
    heavy_cost: Annotated[
        int, typer.Option(help="Cost from which a request counts as heavy.")
    ] = _LIMITS.heavy_cost,
    heavy_per_token: Annotated[
        int, typer.Option(help="Heavy requests one token may have in flight (then HTTP 429).")
    ] = _LIMITS.heavy_per_token,
    cost_budget: Annotated[
        int, typer.Option(help="Cost one token may spend per minute, refilled continuously (then 429).")
    ] = _LIMITS.budget,
    deny_window: Annotated[
        float, typer.Option(help="Seconds over which identical denials are aggregated in the audit log.")
    ] = _LIMITS.deny_window,
    requests_per_token: Annotated[
        int, typer.Option(help="Requests one token may have in flight, cheap or heavy (then HTTP 429).")
    ] = _LIMITS.per_token,
    strikes: Annotated[
        int,
        typer.Option(help="Refused requests of one token within a minute that cool it down (0: never)."),
    ] = _LIMITS.strikes,
    cooldown: Annotated[
        float, typer.Option(help="Seconds of the first cool-down; each next one twice as long, to 60.")
    ] = _LIMITS.cooldown,
    tarpit: Annotated[
        float, typer.Option(help="Seconds, at most, a cooled-down token's refusal is held back.")
    ] = _LIMITS.tarpit,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print where it serves as one JSON line on standard output.")
    ] = False,
) -> None:
    """Serve the GraphQL catalog: /graphql (GraphiQL in a browser) and /healthz."""
    import uvicorn

    from registry.api.app import create_app
    from registry.api.guards import MAX_HEADER_BYTES, http_protocol

    try:
        protocol = http_protocol(http, MAX_HEADER_BYTES)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--http") from None
    from registry.api.limits import Limits

    limits = Limits(
        depth=max_depth,
        cost=max_cost,
        aliases=max_aliases,
        selections=max_selections,
        query=max_query,
        time=time_budget,
        heavy_cost=heavy_cost,
        heavy_per_token=heavy_per_token,
        budget=cost_budget,
        deny_window=deny_window,
        per_token=requests_per_token,
        strikes=strikes,
        cooldown=cooldown,
        tarpit=tarpit,
    )
    db = open_store(store)
    api_log = logging.getLogger("govreg.api")  # INTERNAL errors' details, by request id: here only
    if not api_log.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(levelname)s:    %(name)s: %(message)s"))
        api_log.addHandler(handler)
        api_log.setLevel(logging.INFO)
    try:  # a signed store the server could not write to (AUD001 on every mutation): refuse to start
        from registry.store.audit import require_audit_key

        require_audit_key(db)
    except StoreError as exc:
        err.print(f"[red]{_coded(exc)}[/]", soft_wrap=True)
        raise typer.Exit(1) from exc
    config = uvicorn.Config(
        create_app(db, max_body=max_body, limits=limits),
        host=host,
        port=port,
        http=protocol,
        timeout_keep_alive=5,
        timeout_graceful_shutdown=10,
        limit_concurrency=concurrency,
        h11_max_incomplete_event_size=MAX_HEADER_BYTES,
        log_level="info",
    )
    base = f"http://{host}:{port}"
    if as_json:  # one line, flushed before serving: a supervisor can read it and go on
        import json
        import sys

        line = {"graphql": f"{base}/graphql", "healthz": f"{base}/healthz", "store": db.shown_url}
        sys.stdout.write(json.dumps(line, ensure_ascii=False) + "\n")
        sys.stdout.flush()
    else:
        err.print(f"govreg GraphQL on {base}/graphql (store {db.shown_url})", soft_wrap=True)
    uvicorn.Server(config).run()


@token_app.command("create")
def token_create(
    department: Annotated[str, typer.Option("--department", help="The token's department.")],
    role: Annotated[str, typer.Option("--role", help="center-admin, steward or reader.")],
    store: StoreOpt = DEFAULT_URL,
    label: Annotated[str | None, typer.Option("--label", help="What the token is for.")] = None,
    actor: ActorOpt = None,
    reason: ReasonOpt = "API token issued",
    as_json: JsonOpt = False,
) -> None:
    """Create a token; it is printed once, on the last line, and stored only as a hash."""
    from registry.store.tokens import create_token

    try:
        token, plain = create_token(
            open_store(store),
            department=department,
            role=role,
            label=label,
            actor=actor or getpass.getuser(),
            reason=reason,
        )
    except StoreError as exc:
        err.print(f"[red]{escape(_coded(exc))}[/]", soft_wrap=True)
        raise typer.Exit(1) from exc
    if as_json:  # the secret once, in the JSON: the caller asked for it to store it somewhere
        emit({**_token_json(token), "token": plain})
        return
    err.print(f"token {token.id} for {token.department} ({token.role}); it is shown only once:")
    console.print(plain, soft_wrap=True)


def _token_json(token: Any) -> dict[str, Any]:
    """A token's record without its secret (the store keeps only a hash of it anyway)."""
    return {
        "id": token.id,
        "department": token.department,
        "role": token.role,
        "label": token.label,
        "created_at": token.created_at,
        "created_by": token.created_by,
        "last_used_at": token.last_used_at,
        "revoked_at": token.revoked_at,
    }


@token_app.command("list")
def token_list(
    store: StoreOpt = DEFAULT_URL,
    department: Annotated[str | None, typer.Option("--department", help="Only this department's.")] = None,
    show_all: Annotated[bool, typer.Option("--all", help="Revoked tokens too.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """The tokens issued: id, department, role, label, who made it, when last used (never the
    secret: only its hash is stored)."""
    from registry.store.tokens import list_tokens

    tokens = [
        t
        for t in list_tokens(open_store(store))
        if (show_all or t.revoked_at is None) and (department is None or t.department == department)
    ]
    if as_json:
        emit([_token_json(t) for t in tokens])
        return
    if not tokens:
        console.print("no tokens" + ("" if show_all else " in use (--all shows revoked ones)"))
        return
    render.rows(
        f"{len(tokens)} token{'s' if len(tokens) > 1 else ''} (times in Asia/Shanghai, UTC+08:00)",
        ("id", "department", "role", "label", "created", "by", "last used", "revoked"),
        (
            (
                t.id,
                t.department,
                t.role,
                t.label,
                render.when(t.created_at, offset=False),
                t.created_by,
                render.when(t.last_used_at, offset=False) if t.last_used_at else "never",
                render.when(t.revoked_at, offset=False),
            )
            for t in tokens
        ),
        identifiers=("id", "department", "role"),
        numbers=("id",),
    )


@token_app.command("revoke")
def token_revoke(
    token_id: Annotated[int, typer.Argument(help="The token's id (printed when it was created).")],
    store: StoreOpt = DEFAULT_URL,
    actor: ActorOpt = None,
    reason: ReasonOpt = "API token revoked",
    as_json: JsonOpt = False,
) -> None:
    """Revoke a token: requests with it get 401 from now on."""
    from registry.store.tokens import revoke_token

    try:
        token = revoke_token(open_store(store), token_id, actor=actor or getpass.getuser(), reason=reason)
    except StoreError as exc:
        err.print(f"[red]{_coded(exc)}[/]")
        raise typer.Exit(1) from exc
    if as_json:
        emit(_token_json(token))
        return
    console.print(
        f"token {token.id} ({token.department}, {token.role}) revoked at {render.when(token.revoked_at)}"
    )
