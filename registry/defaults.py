"""Defaults the command line shows before it loads anything heavy."""

DEFAULT_URL = "sqlite:///.govreg/store.db"
"""The metadata store when neither ``--store`` nor ``GOVREG_STORE`` names one."""
