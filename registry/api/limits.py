"""What one request may ask for, and how the server paces each token: the defaults of ``govreg serve``.

Plain values, importing nothing: the command line shows them in ``--help`` without loading GraphQL.
"""

from __future__ import annotations

from dataclasses import dataclass

MAX_DEPTH = 12
MAX_COST = 250_000
MAX_ALIASES = 30
MAX_SELECTIONS = 2_000
MAX_QUERY = 20_000  # characters of query text, refused before parsing (the 1,000-alias request has 38,000)
MAX_TOKENS = 5_000  # lexical tokens in one query text (a full introspection has about 400)
LIST_SIZE = 20  # what an unpaginated list of objects is assumed to hold


@dataclass(frozen=True)
class Limits:
    """What one request may ask for, and how the server paces each token (``govreg serve`` options)."""

    depth: int = MAX_DEPTH
    cost: int = MAX_COST
    aliases: int = MAX_ALIASES
    selections: int = MAX_SELECTIONS
    query: int = MAX_QUERY
    tokens: int = MAX_TOKENS
    list_size: int = LIST_SIZE
    time: float = 10.0  # seconds of resolution per request, then TIME_LIMIT
    heavy_cost: int = 20_000  # a request costing this much or more is heavy
    heavy_per_token: int = 2  # heavy requests of one token in flight at once, then TOO_MANY_REQUESTS
    budget: int = 1_000_000  # cost one token may spend per minute (refilled continuously), then RATE_LIMIT
    deny_window: float = 60.0  # seconds over which identical denials are aggregated in the audit log
    per_token: int = 8  # requests of one token in flight at once (any cost), then TOO_MANY_REQUESTS
    strikes: int = 5  # refused requests of one caller within strike_window that cool it down (0: never)
    strike_window: float = 60.0
    cooldown: float = 1.0  # the first cool-down, in seconds; each next one twice as long
    max_cooldown: float = 60.0
    tarpit: float = 1.0  # how long, at most, a cooled-down caller's refusal is held back
