"""``python -m registry`` runs the govreg command line."""

from registry.cli import app

app(prog_name="govreg")
