"""``python -m govreg``: the govreg command line (:mod:`cli`)."""
