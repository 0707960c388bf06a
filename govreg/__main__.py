"""``python -m govreg`` runs the govreg command line."""

from cli import main

main()
