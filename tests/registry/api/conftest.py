"""Tests of ``registry/api/``: the GraphQL catalog on a real loopback server, queried by gql and
a real browser.

Fixtures shared by this level's test modules live here; helpers in ``tests/support``."""
