"""Promise: the audit log cannot be rewritten whole by whoever can write the store.

Every write that appends audit events signs a checkpoint (Ed25519, the key outside the store) over
the head and the registry's state; ``govreg audit --verify`` checks the chain, every signature
against a key trusted from outside the store, that the head is the last checkpoint, and that the
registry's tables are what the log replays to. ``govreg audit anchor`` prints the signed head to
keep elsewhere, and ``--verify --anchor`` proves the log still extends it.

Real parts: the sample city applied with the real ``govreg`` CLI in a subprocess to a real SQLite
store file, an access request made through the real GraphQL server on a loopback port (httpx),
the store's writer played by ``sqlite3`` on the same file (deleting, truncating, editing and
re-hashing with govreg's own ``event_hash``, forging, re-signing with another key and with the
key itself), and the real CLI verifying.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from tests.support.paths import CITY

GOVREG = [sys.executable, "-m", "govreg"]
TOKEN_PREFIX = "grt_"  # tokens start with this prefix


def _write_key(path: Path) -> str:
    """A key file as `govreg audit keygen` writes it (PEM, mode 0600); returns the public key."""
    key = Ed25519PrivateKey.generate()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    path.chmod(0o600)
    public = base64.b64encode(
        key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    ).decode("ascii")
    path.with_name(path.name + ".pub").write_text(public + "\n", encoding="ascii")
    return public


def _private(path: Path) -> Ed25519PrivateKey:
    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    assert isinstance(key, Ed25519PrivateKey)
    return key


@dataclass
class Signed:
    root: Path
    home: Path
    db: Path
    key: Path

    @property
    def url(self) -> str:
        return f"sqlite:///{self.db}"

    def govreg(self, *args: str, key: Path | bool | None = True) -> subprocess.CompletedProcess[str]:
        """The real CLI; ``key``: True the store's key file, a path another key file, None no key."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("GOVREG_AUDIT")}
        env.update(COLUMNS="250", GOVREG_ACTOR="auditor", GOVREG_STORE=self.url)
        chosen = self.key if key is True else key
        if isinstance(chosen, Path):
            env["GOVREG_AUDIT_KEY_FILE"] = str(chosen)
        return subprocess.run(
            [*GOVREG, *args], cwd=self.root, env=env, capture_output=True, text=True, timeout=300, check=False
        )

    def verify(self, *args: str, key: Path | bool | None = True) -> subprocess.CompletedProcess[str]:
        return self.govreg("audit", "--verify", *args, key=key)

    def sql(self) -> sqlite3.Connection:
        return sqlite3.connect(self.db, isolation_level=None)


@pytest.fixture
def signed(tmp_path: Path) -> Signed:
    """The sample city applied to a store signed with a key file outside it."""
    home = tmp_path / "home"
    shutil.copytree(CITY, home)
    made = Signed(tmp_path, home, tmp_path / "store.db", tmp_path / "keys" / "audit.key")
    _write_key(made.key)
    applied = made.govreg("apply", "--home", str(home), "--reason", "city")
    assert applied.returncode == 0, applied.stdout + applied.stderr
    return made


def _events(s: Signed) -> int:
    with s.sql() as con:
        return int(con.execute("SELECT max(seq) FROM audit_events").fetchone()[0])


def _rehash_from(con: sqlite3.Connection, first: int) -> None:
    """What a writer with no key does after editing event ``first``: recompute every later hash with
    govreg's own ``event_hash`` and move the head, so the chain is whole again."""
    from registry.store.audit import event_hash

    con.row_factory = sqlite3.Row
    prev = con.execute("SELECT hash FROM audit_events WHERE seq = ?", (first - 1,)).fetchone()
    prev_hash = prev["hash"] if prev else "0" * 64
    for row in con.execute("SELECT * FROM audit_events WHERE seq >= ? ORDER BY seq", (first,)).fetchall():
        event = {**dict(row), "prev_hash": prev_hash}
        prev_hash = event_hash(event)
        con.execute(
            "UPDATE audit_events SET prev_hash = ?, hash = ? WHERE seq = ?",
            (event["prev_hash"], prev_hash, row["seq"]),
        )
    top = con.execute("SELECT max(seq) FROM audit_events").fetchone()[0]
    con.execute("UPDATE audit_head SET seq = ?, hash = ? WHERE id = 1", (top, prev_hash))
    con.row_factory = None


def _resign(con: sqlite3.Connection, key: Ed25519PrivateKey) -> None:
    """Re-sign every checkpoint over the (rewritten) chain with ``key``, as its holder could."""
    from registry.store.audit import checkpoint_message

    public = base64.b64encode(
        key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    ).decode("ascii")
    for seq, state, ts in con.execute("SELECT seq, state, ts FROM audit_checkpoints").fetchall():
        (hash_,) = con.execute("SELECT hash FROM audit_events WHERE seq = ?", (seq,)).fetchone()
        signature = base64.b64encode(key.sign(checkpoint_message(seq, hash_, state, ts, public))).decode()
        con.execute(
            "UPDATE audit_checkpoints SET hash = ?, public_key = ?, signature = ? WHERE seq = ?",
            (hash_, public, signature, seq),
        )


def _broken(result: subprocess.CompletedProcess[str], *needles: str) -> None:
    assert result.returncode == 1, result.stdout + result.stderr
    for needle in needles:
        assert needle in result.stderr, (needle, result.stderr)


@pytest.fixture
def server(signed: Signed) -> Iterator[tuple[str, str]]:
    """The GraphQL server on loopback over the signed store (the server holds the key)."""
    from registry.store import Store
    from registry.store.signing import read_key_file
    from registry.store.tokens import create_token
    from tests.support.api import Server

    store = Store(signed.url, audit_key=read_key_file(signed.key))
    _, plain = create_token(store, department="big_data_center", role="center-admin", actor="t", reason="t")
    with Server(store) as running:
        yield running.url, plain
    store.dispose()


REQUEST = """mutation($consumer: String!, $els: [String!]!, $from: Date!, $reason: String!) {
  requestAccess(consumer: $consumer, elements: $els, purpose: "抽查", validFrom: $from, reason: $reason) {
    ok errors { code message } changeId agreement { code } } }"""


def _request_access(url: str, token: str) -> dict[str, Any]:
    response = httpx.post(
        url + "/graphql",
        json={
            "query": REQUEST,
            "variables": {
                "consumer": "tax",
                "els": ["uscc"],
                "from": date.today().isoformat(),
                "reason": "季度抽查",
            },
        },
        headers={"Authorization": f"Bearer {token}"},
        timeout=60,
    )
    return dict(response.json())


def test_control_an_untouched_store_verifies_after_apply_a_mutation_and_a_second_apply(
    signed: Signed, server: tuple[str, str]
) -> None:
    """Control (passes on the old code too): nothing tampered, nothing reported."""
    first = signed.verify()
    assert first.returncode == 0, first.stdout + first.stderr
    assert "verified" in first.stdout
    got = _request_access(*server)
    assert got.get("data", {}).get("requestAccess", {}).get("ok") is True, got
    after_api = signed.verify()
    assert after_api.returncode == 0, after_api.stdout + after_api.stderr
    again = signed.govreg("apply", "--home", str(signed.home), "--prune", "--reason", "back to git")
    assert again.returncode == 0 and "applied" in again.stdout, again.stdout + again.stderr
    final = signed.verify("--public-key", str(signed.key) + ".pub")
    assert final.returncode == 0, final.stdout + final.stderr
    assert "verified" in final.stdout


def test_deleting_every_event_and_the_head_is_caught(signed: Signed) -> None:
    with signed.sql() as con:
        con.execute("DELETE FROM audit_events")
        con.execute("DELETE FROM audit_head")
    _broken(
        signed.verify(),
        "signs events the log no longer has",
        "settings registry: in the store but not in the audit log",
        "more entities that differ from the log",
    )
    with signed.sql() as con:  # and the checkpoints too: an empty log over a full registry
        con.execute("DELETE FROM audit_checkpoints")
    _broken(
        signed.verify(), "no signed checkpoint", "settings registry: in the store but not in the audit log"
    )


def test_truncating_the_last_ten_events_and_moving_the_head_back_is_caught(signed: Signed) -> None:
    top = _events(signed)
    with signed.sql() as con:
        con.execute("DELETE FROM audit_events WHERE seq > ?", (top - 10,))
        (hash_,) = con.execute("SELECT hash FROM audit_events WHERE seq = ?", (top - 10,)).fetchone()
        con.execute("UPDATE audit_head SET seq = ?, hash = ? WHERE id = 1", (top - 10, hash_))
    _broken(signed.verify(), f"checkpoint at event {top} signs events the log no longer has")
    with signed.sql() as con:  # the writer drops the checkpoints past the new head as well
        con.execute("DELETE FROM audit_checkpoints WHERE seq > ?", (top - 10,))
    _broken(signed.verify(), "in the store but not in the audit log")


def test_editing_an_event_and_recomputing_every_later_hash_is_caught(signed: Signed) -> None:
    with signed.sql() as con:
        con.execute("UPDATE audit_events SET actor = 'someone else', reason = 'nothing to see' WHERE seq = 5")
        _rehash_from(con, 5)
    from registry.store.audit import verify_chain
    from registry.store.db import Store

    with Store(signed.url, upgrade=False).read() as conn:
        assert verify_chain(conn).ok  # the chain alone is whole again: what the old --verify checked
    _broken(signed.verify(), f"checkpoint at event {_events(signed)}: signs hash")


def test_a_forged_event_appended_with_a_valid_hash_is_caught(signed: Signed) -> None:
    """The writer forges an ownership update, changes the table to match, and links the event."""
    from registry.store.audit import event_hash
    from registry.store.rows import canonical

    top = _events(signed)
    with signed.sql() as con:
        (spec, change_id, hash_) = con.execute(
            "SELECT e.spec, e.change_id, h.hash FROM elements e, audit_head h WHERE e.code = 'uscc'"
        ).fetchone()
        forged_spec = canonical({**json.loads(spec), "owner": "tax"})
        (ts,) = con.execute("SELECT ts FROM audit_events WHERE seq = ?", (top,)).fetchone()
        event = {
            "seq": top + 1,
            "ts": ts,
            "actor": "auditor",
            "action": "update",
            "entity_kind": "element",
            "entity_code": "uscc",
            "reason": "routine",
            "change_id": change_id,
            "before": spec,
            "after": forged_spec,
            "prev_hash": hash_,
        }
        event["hash"] = event_hash(event)
        con.execute(
            "INSERT INTO audit_events (seq, ts, actor, action, entity_kind, entity_code, reason, change_id, "
            "before, after, prev_hash, hash) VALUES (:seq, :ts, :actor, :action, :entity_kind, :entity_code, "
            ":reason, :change_id, :before, :after, :prev_hash, :hash)",
            event,
        )
        con.execute("UPDATE audit_head SET seq = ?, hash = ? WHERE id = 1", (top + 1, event["hash"]))
        con.execute(
            "UPDATE elements SET owner = 'tax', spec = ?, spec_hash = ?, updated_at = ? WHERE code = 'uscc'",
            (forged_spec, __import__("hashlib").sha256(forged_spec.encode()).hexdigest(), ts),
        )
    _broken(signed.verify(), f"events {top + 1}–{top + 1} are not covered by a signed checkpoint")


def test_a_direct_update_of_an_owner_with_no_event_is_caught(signed: Signed) -> None:
    with signed.sql() as con:
        con.execute("UPDATE elements SET owner = 'tax' WHERE code = 'uscc'")
    _broken(
        signed.verify(), "element uscc: the stored row differs from what the audit log replays to (owner)"
    )


def test_a_log_rewritten_and_re_signed_with_another_key_is_caught(signed: Signed) -> None:
    other = signed.root / "mallory" / "audit.key"
    _write_key(other)
    with signed.sql() as con:
        con.execute("UPDATE audit_events SET reason = 'approved by nobody' WHERE seq = 3")
        _rehash_from(con, 3)
        _resign(con, _private(other))
    assert signed.verify(key=other).returncode == 0  # consistent under the forger's own key ...
    # ... but the verifier trusts the real key, from outside the store:
    _broken(signed.verify(), "which is not a trusted key")
    _broken(signed.verify("--public-key", str(signed.key) + ".pub", key=None), "which is not a trusted key")


def test_the_key_holders_rewrite_before_an_anchor_is_caught_by_the_anchor(signed: Signed) -> None:
    anchored = signed.govreg("audit", "anchor")
    assert anchored.returncode == 0, anchored.stderr
    anchor = signed.root / "anchor.json"  # kept elsewhere (another system, a printout, a notary)
    anchor.write_text(anchored.stdout, encoding="utf-8")
    head = json.loads(anchored.stdout)
    assert head["seq"] == _events(signed) and head["public_key"] and head["signature"]
    assert signed.verify("--anchor", str(anchor)).returncode == 0
    with signed.sql() as con:  # the key holder rewrites event 7 and re-signs everything with the key
        con.execute("UPDATE audit_events SET actor = 'not me' WHERE seq = 7")
        _rehash_from(con, 7)
        _resign(con, _private(signed.key))
    assert signed.verify().returncode == 0  # the limit: whoever holds the key can re-sign a rewrite
    _broken(
        signed.verify("--anchor", str(anchor)),
        f"anchor at event {head['seq']}",
        "rewritten before the anchor",
    )


def test_a_reason_with_terminal_escapes_is_printed_neutralised(signed: Signed) -> None:
    reason = "routine\x1b[31m FAKE: audit verified\x1b[0m\x1b]0;owned\x07 \u202eevil"
    shutil.copy(signed.home / "registry.yaml", signed.root / "registry.yaml.orig")
    text = (signed.home / "registry.yaml").read_text(encoding="utf-8")
    (signed.home / "registry.yaml").write_text(text.replace("name_en:", "name_en: X", 1), encoding="utf-8")
    applied = signed.govreg("apply", "--home", str(signed.home), "--reason", reason)
    assert applied.returncode == 0, applied.stdout + applied.stderr
    shown = signed.govreg("audit", "--limit", "1")
    assert shown.returncode == 0, shown.stderr
    assert "\x1b" not in shown.stdout and "\x07" not in shown.stdout and "\u202e" not in shown.stdout
    assert "\\x1b[31m FAKE" in shown.stdout and "\\u202e" in shown.stdout  # visible, not obeyed
    as_json = json.loads(signed.govreg("audit", "--limit", "1", "--json").stdout)
    assert as_json[0]["reason"] == reason  # machines get the exact text


def test_a_write_without_the_key_on_a_signed_store_is_refused_with_nothing_written(signed: Signed) -> None:
    text = (signed.home / "registry.yaml").read_text(encoding="utf-8")
    (signed.home / "registry.yaml").write_text(text.replace("name_en:", "name_en: Y", 1), encoding="utf-8")
    with signed.sql() as con:
        before = {t: con.execute(f"SELECT * FROM {t} ORDER BY 1").fetchall() for t in _tables(con)}
    applied = signed.govreg("apply", "--home", str(signed.home), "--reason", "no key", key=None)
    assert applied.returncode == 1, applied.stdout + applied.stderr
    assert "AUD001" in applied.stderr and "GOVREG_AUDIT_KEY" in applied.stderr
    token = signed.govreg("token", "create", "--department", "tax", "--role", "reader", key=None)
    assert token.returncode == 1 and "AUD001" in token.stderr, token.stdout + token.stderr
    assert TOKEN_PREFIX not in token.stdout  # no token printed
    with signed.sql() as con:
        after = {t: con.execute(f"SELECT * FROM {t} ORDER BY 1").fetchall() for t in _tables(con)}
    assert after == before
    assert signed.verify().returncode == 0


def test_keygen_writes_a_private_file_refuses_to_overwrite_and_prints_only_the_public_key(
    tmp_path: Path,
) -> None:
    path = tmp_path / "k" / "audit.key"
    env = {k: v for k, v in os.environ.items() if not k.startswith("GOVREG_AUDIT")}
    made = subprocess.run(
        [*GOVREG, "audit", "keygen", "--key-file", str(path)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
    )
    assert made.returncode == 0, made.stderr
    assert path.stat().st_mode & 0o777 == 0o600
    public = made.stdout.strip().splitlines()[-1]
    assert public == path.with_name("audit.key.pub").read_text().strip()
    assert "PRIVATE" not in made.stdout + made.stderr
    assert path.read_text().split("\n")[1] not in made.stdout + made.stderr
    first = path.read_bytes()
    again = subprocess.run(
        [*GOVREG, "audit", "keygen", "--key-file", str(path)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
    )
    assert again.returncode == 1 and "already exists" in again.stderr
    assert path.read_bytes() == first


def _tables(con: sqlite3.Connection) -> list[str]:
    return [r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")]
