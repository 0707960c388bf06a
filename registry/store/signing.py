"""The audit key: an Ed25519 key that signs the audit log's checkpoints, kept outside the store.

Who can write the store can rewrite a hash chain (``event_hash`` needs no secret), so the chain
alone proves nothing against the store's writer. Every write that appends audit events also
writes a *checkpoint* (:mod:`registry.store.audit`): the head's sequence number and hash and a
digest of the registry's state, signed with this key. The private key never goes into the store:

* ``GOVREG_AUDIT_KEY``: the key itself (PEM, or base64 of the 32-byte raw private key); else
* ``GOVREG_AUDIT_KEY_FILE``: a file holding it (a file that does not exist is an error); else
* ``.govreg/audit.key`` (relative to the working directory) if it exists.

``govreg audit keygen`` makes a key file (mode 0600, never overwritten without ``--force``) and
``<file>.pub`` beside it (the public key, base64 of the 32 raw bytes), and prints the public key.

The keys ``audit --verify`` trusts come from outside the store too, never from a table its writer
can rewrite: every ``--public-key`` given (a key or a file holding one; give several across a
key rotation), else ``GOVREG_AUDIT_PUBLIC_KEY`` (comma-separated), else the public part of the
configured private key. The public key stored beside each checkpoint only says which trusted key
to try; a checkpoint signed by a key that is not trusted fails.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from registry.errors import StoreError

ENV_KEY = "GOVREG_AUDIT_KEY"
ENV_KEY_FILE = "GOVREG_AUDIT_KEY_FILE"
ENV_PUBLIC = "GOVREG_AUDIT_PUBLIC_KEY"
DEFAULT_KEY_FILE = Path(".govreg/audit.key")


class AuditKeyError(StoreError):
    """The audit key is missing where it is needed, or cannot be read."""

    code = "AUD001"


def _raw_public(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def public_text(key: Ed25519PublicKey) -> str:
    """A public key as text: base64 of its 32 raw bytes (what checkpoints and anchors carry)."""
    return base64.b64encode(_raw_public(key)).decode("ascii")


def fingerprint(public: str) -> str:
    """A short, stable name of a public key for messages: ``ed25519:<first 16 hex of SHA-256>``."""
    try:
        raw = base64.b64decode(public, validate=True)
    except (binascii.Error, ValueError):
        raw = public.encode("utf-8", "replace")
    return "ed25519:" + hashlib.sha256(raw).hexdigest()[:16]


@dataclass(frozen=True)
class AuditKey:
    """The private signing key, and its public part as text."""

    private: Ed25519PrivateKey
    source: str  # where it came from, for messages (never the key itself)

    @property
    def public(self) -> str:
        return public_text(self.private.public_key())

    def sign(self, message: bytes) -> str:
        return base64.b64encode(self.private.sign(message)).decode("ascii")

    def pem(self) -> bytes:
        return self.private.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )

    def __repr__(self) -> str:  # never print the private key
        return f"AuditKey({fingerprint(self.public)} from {self.source})"


def parse_private(text: str, source: str) -> AuditKey:
    """A private key from PEM text or base64 of the 32 raw bytes; :class:`AuditKeyError` if neither."""
    text = text.strip()
    try:
        if text.startswith("-----BEGIN"):
            key = serialization.load_pem_private_key(text.encode("ascii"), password=None)
            if not isinstance(key, Ed25519PrivateKey):
                raise ValueError("not an Ed25519 key")
            return AuditKey(key, source)
        raw = base64.b64decode(text, validate=True)
        return AuditKey(Ed25519PrivateKey.from_private_bytes(raw), source)
    except (ValueError, TypeError, binascii.Error):
        raise AuditKeyError(
            f"the audit key from {source} is not an Ed25519 private key (PEM, or base64 of 32 raw "
            "bytes): make one with `govreg audit keygen`"
        ) from None


def parse_public(text: str) -> Ed25519PublicKey:
    """A public key from base64 of its 32 raw bytes, PEM, or a file holding either."""
    text = text.strip()
    if not text.startswith("-----BEGIN") and len(text) != 44 and Path(text).is_file():
        text = Path(text).read_text(encoding="utf-8").strip()
    try:
        if text.startswith("-----BEGIN PRIVATE KEY"):
            return parse_private(text, "a public-key option").private.public_key()
        if text.startswith("-----BEGIN"):
            key = serialization.load_pem_public_key(text.encode("ascii"))
            if not isinstance(key, Ed25519PublicKey):
                raise ValueError("not an Ed25519 key")
            return key
        return Ed25519PublicKey.from_public_bytes(base64.b64decode(text, validate=True))
    except (ValueError, TypeError, binascii.Error, AuditKeyError):
        raise AuditKeyError(
            f"{text[:60]!r} is not an Ed25519 public key (base64 of 32 raw bytes, PEM, or a file "
            "holding one, such as the .pub file `govreg audit keygen` writes)"
        ) from None


def key_file(env: Mapping[str, str] | None = None) -> Path:
    env = os.environ if env is None else env
    return Path(env[ENV_KEY_FILE]) if env.get(ENV_KEY_FILE) else DEFAULT_KEY_FILE


def read_key_file(path: Path) -> AuditKey:
    if os.name == "posix" and path.stat().st_mode & 0o077:
        raise AuditKeyError(
            f"the audit key file {path} can be read by others (mode {path.stat().st_mode & 0o777:o}): "
            f"chmod 600 {path}"
        )
    return parse_private(path.read_text(encoding="ascii", errors="replace"), str(path))


def configured_key(env: Mapping[str, str] | None = None) -> AuditKey | None:
    """The signing key the environment names, or None when none is configured at all.

    A key that is named but cannot be read (a ``GOVREG_AUDIT_KEY_FILE`` that does not exist, a
    malformed key, a key file others can read) is an error, not "no key": fail closed.
    """
    env = os.environ if env is None else env
    if env.get(ENV_KEY):
        return parse_private(env[ENV_KEY], ENV_KEY)
    path = key_file(env)
    if env.get(ENV_KEY_FILE) and not path.is_file():
        raise AuditKeyError(f"{ENV_KEY_FILE} names {path}, which does not exist (govreg audit keygen)")
    if not path.is_file():
        return None
    return read_key_file(path)


def generate(path: Path, *, force: bool = False) -> AuditKey:
    """Write a new key to ``path`` (mode 0600) and its public key to ``<path>.pub``."""
    if path.exists() and not force:
        raise AuditKeyError(
            f"{path} already exists: a store signed with it could no longer be written; pass --force "
            "to replace it (keep the old public key to verify the checkpoints it signed)"
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    key = AuditKey(Ed25519PrivateKey.generate(), str(path))
    tmp = path.with_name(path.name + ".tmp")
    if tmp.exists():
        tmp.unlink()
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(key.pem())
    os.replace(tmp, path)
    os.chmod(path, 0o600)
    path.with_name(path.name + ".pub").write_text(key.public + "\n", encoding="ascii")
    return key


def trusted_keys(
    given: Iterable[str] = (), env: Mapping[str, str] | None = None
) -> tuple[dict[str, Ed25519PublicKey], str]:
    """The public keys ``--verify`` trusts (text → key) and where they came from."""
    env = os.environ if env is None else env
    given = [g for g in given if g.strip()]
    if given:
        keys = [parse_public(g) for g in given]
        source = "--public-key"
    elif env.get(ENV_PUBLIC):
        keys = [parse_public(g) for g in env[ENV_PUBLIC].split(",") if g.strip()]
        source = ENV_PUBLIC
    else:
        own = configured_key(env)
        if own is None:
            return {}, "no key configured"
        keys = [own.private.public_key()]
        source = f"the public part of {own.source}"
    return {public_text(k): k for k in keys}, source


def verify_signature(key: Ed25519PublicKey, signature: str, message: bytes) -> bool:
    try:
        key.verify(base64.b64decode(signature, validate=True), message)
    except (InvalidSignature, binascii.Error, ValueError):
        return False
    return True
