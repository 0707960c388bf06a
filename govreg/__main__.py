"""``python -m govreg`` runs the govreg command line."""

from cli import app

app(prog_name="govreg")
