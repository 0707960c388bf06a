"""Every test signs its stores' audit logs with a fixture key (the signed path is the one tested).

``GOVREG_AUDIT_KEY`` is set for the whole session, so stores made in-process and ``govreg`` run in a
subprocess sign their checkpoints with it, and ``audit --verify`` trusts its public part. A key
file or public key from the developer's environment is ignored. Tests that need no key, or another
one, override the environment for their own subprocess.
"""

from __future__ import annotations

import base64
import os

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

_KEY = Ed25519PrivateKey.generate()
FIXTURE_AUDIT_KEY = base64.b64encode(
    _KEY.private_bytes(
        serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
    )
).decode("ascii")
FIXTURE_AUDIT_PUBLIC = base64.b64encode(
    _KEY.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
).decode("ascii")


def pytest_configure() -> None:
    # every suite is checked by GX in every test (the cache of passed suites is tested on its own)
    os.environ["GOVREG_CACHE_DIR"] = "off"
    os.environ["GOVREG_AUDIT_KEY"] = FIXTURE_AUDIT_KEY
    os.environ.pop("GOVREG_AUDIT_KEY_FILE", None)
    os.environ.pop("GOVREG_AUDIT_PUBLIC_KEY", None)
