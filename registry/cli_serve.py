"""``govreg serve`` and ``govreg token create/revoke``: the GraphQL catalog over HTTP, and the
bearer tokens departments use with it. Registered on the main ``govreg`` app by importing this module."""

from __future__ import annotations

import getpass
from typing import Annotated

import typer

from registry import cli
from registry.cli import DEFAULT_URL, StoreOpt, _open_store, console, err
from registry.errors import StoreError

token_app = typer.Typer(help="API bearer tokens: create (printed once) and revoke.", no_args_is_help=True)
# cli.py imports this module by name at its end; mypy cannot type ``cli.app`` across that cycle
app: typer.Typer = cli.app  # type: ignore[has-type]
app.add_typer(token_app, name="token")

ActorOpt = Annotated[str | None, typer.Option("--actor", help="Who does this (default: the OS user).")]
ReasonOpt = Annotated[str, typer.Option("--reason", help="Why (recorded in the audit log).")]


@app.command()
def serve(
    store: StoreOpt = DEFAULT_URL,
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8080,
    max_body: Annotated[int, typer.Option(help="Largest request body accepted, in bytes.")] = 256 * 1024,
    concurrency: Annotated[int, typer.Option(help="Connections served at once (then 503).")] = 200,
) -> None:
    """Serve the GraphQL catalog: /graphql (GraphiQL in a browser) and /healthz."""
    import uvicorn

    from registry.api.app import create_app

    db = _open_store(store)
    config = uvicorn.Config(
        create_app(db, max_body=max_body),
        host=host,
        port=port,
        timeout_keep_alive=5,
        timeout_graceful_shutdown=10,
        limit_concurrency=concurrency,
        h11_max_incomplete_event_size=64 * 1024,
        log_level="info",
    )
    err.print(f"govreg GraphQL on http://{host}:{port}/graphql (store {db.url})")
    uvicorn.Server(config).run()


@token_app.command("create")
def token_create(
    department: Annotated[str, typer.Option("--department", help="The token's department.")],
    role: Annotated[str, typer.Option("--role", help="center-admin, steward or reader.")],
    store: StoreOpt = DEFAULT_URL,
    label: Annotated[str | None, typer.Option("--label", help="What the token is for.")] = None,
    actor: ActorOpt = None,
    reason: ReasonOpt = "API token issued",
) -> None:
    """Create a token; it is printed once, on the last line, and stored only as a hash."""
    from registry.store.tokens import create_token

    try:
        token, plain = create_token(
            _open_store(store),
            department=department,
            role=role,
            label=label,
            actor=actor or getpass.getuser(),
            reason=reason,
        )
    except StoreError as exc:
        err.print(f"[red]{exc}[/]")
        raise typer.Exit(1) from exc
    err.print(f"token {token.id} for {token.department} ({token.role}); it is shown only once:")
    console.print(plain, soft_wrap=True)


@token_app.command("revoke")
def token_revoke(
    token_id: Annotated[int, typer.Argument(help="The token's id (printed when it was created).")],
    store: StoreOpt = DEFAULT_URL,
    actor: ActorOpt = None,
    reason: ReasonOpt = "API token revoked",
) -> None:
    """Revoke a token: requests with it get 401 from now on."""
    from registry.store.tokens import revoke_token

    try:
        token = revoke_token(_open_store(store), token_id, actor=actor or getpass.getuser(), reason=reason)
    except StoreError as exc:
        err.print(f"[red]{exc}[/]")
        raise typer.Exit(1) from exc
    console.print(f"token {token.id} ({token.department}, {token.role}) revoked at {token.revoked_at}")
