"""The metadata store: schema, migrations, plan/apply and the audit log."""

from registry.store.db import DEFAULT_URL, Store

__all__ = ["DEFAULT_URL", "Store"]
