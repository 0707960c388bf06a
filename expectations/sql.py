"""Check characters of GB 32100, GB 11714 and GB 11643 as DuckDB macros, so validation stays in SQL.

Each ``<scheme>_valid(v)`` is true when ``v`` is well formed and carries the right check
character, false otherwise (NULL for NULL). They agree with :mod:`registry.checkdigit` (the
tests compare both on valid and corrupted identifiers). Temporary macros: defined per
connection, never written into the warehouse file.
"""

from __future__ import annotations

from registry.checkdigit import ORG_ALPHABET, ORG_WEIGHTS, USCC_ALPHABET

USCC_WEIGHTS = [1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28]
RIC_WEIGHTS = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]


def _weighted(alphabet: str, weights: list[int], arg: str) -> str:
    """SQL: Σ value(char i) × weight i over the first len(weights) characters of ``arg``.

    Unrolled into plain arithmetic: a lambda over a list allocates per row and is ~20× slower.
    """
    terms = [f"(strpos('{alphabet}', substr({arg}, {i + 1}, 1)) - 1) * {w}" for i, w in enumerate(weights)]
    return "(" + " + ".join(terms) + ")"


MACROS: tuple[str, ...] = (
    "CREATE OR REPLACE TEMP MACRO gb32100_valid(v) AS ("
    "CASE WHEN v IS NULL THEN NULL "
    "WHEN NOT regexp_full_match(v, '[0-9]{8}[0-9A-HJ-NPQRTUWXY]{10}') THEN false "
    f"ELSE substr('{USCC_ALPHABET}', (31 - {_weighted(USCC_ALPHABET, USCC_WEIGHTS, 'v')} % 31) % 31 + 1, 1) "
    "= substr(v, 18, 1) END)",
    "CREATE OR REPLACE TEMP MACRO gb11714_valid(v) AS ("
    "CASE WHEN v IS NULL THEN NULL "
    "WHEN NOT regexp_full_match(v, '[0-9A-Z]{8}[0-9X]') THEN false "
    f"ELSE CASE 11 - {_weighted(ORG_ALPHABET, list(ORG_WEIGHTS), 'v')} % 11 "
    "WHEN 10 THEN 'X' WHEN 11 THEN '0' "
    f"ELSE CAST(11 - {_weighted(ORG_ALPHABET, list(ORG_WEIGHTS), 'v')} % 11 AS VARCHAR) END "
    "= substr(v, 9, 1) END)",
    "CREATE OR REPLACE TEMP MACRO gb11643_valid(v) AS ("
    "CASE WHEN v IS NULL THEN NULL "
    "WHEN NOT regexp_full_match(v, '[0-9]{17}[0-9X]') THEN false "
    f"ELSE substr('10X98765432', {_weighted('0123456789', RIC_WEIGHTS, 'v')} % 11 + 1, 1) "
    "= substr(v, 18, 1) END)",
)
"""``CREATE OR REPLACE TEMP MACRO`` statements, run on each new connection."""

FUNCTION = {"gb32100": "gb32100_valid", "gb11714": "gb11714_valid", "gb11643": "gb11643_valid"}
