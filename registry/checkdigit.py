"""Check characters of China's national identifiers.

GB 32100 (unified social credit code) and GB 11643 (resident ID number) come from python-stdnum;
GB 11714 (organisation code) is not in stdnum, so it is computed here.

>>> is_valid("gb32100", "9135052155323005XL"), is_valid("gb32100", "9135052155323005XM")
(True, False)
>>> is_valid("gb11643", "11010519491231002X")
True
>>> gb11714_check("MB1D3734"), is_valid("gb11714", "MB1D37341")
('1', True)
"""

from __future__ import annotations

from collections.abc import Callable

from stdnum.cn import ric, uscc

USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"  # GB 32100: no I, O, S, V, Z
ORG_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"  # GB 11714
ORG_WEIGHTS = (3, 7, 9, 10, 5, 8, 4, 2)


def gb11714_check(body: str) -> str:
    """The check character of an 8-character organisation-code body."""
    total = sum(ORG_ALPHABET.index(c) * w for c, w in zip(body, ORG_WEIGHTS, strict=True))
    value = 11 - total % 11
    return {10: "X", 11: "0"}.get(value, str(value))


def _gb11714_valid(code: str) -> bool:
    if len(code) != 9 or any(c not in ORG_ALPHABET for c in code[:8]):
        return False
    return code[8] == gb11714_check(code[:8])


def _gb32100_valid(code: str) -> bool:
    # stdnum folds case and strips separators; the standard's code is 18 upper-case characters
    return len(code) == 18 and code == code.upper() and bool(uscc.is_valid(code))


def _gb11643_valid(code: str) -> bool:
    # Only the check character: stdnum's ric.is_valid also looks the birth place up in its own
    # table of counties and their years, which rejects valid historical numbers.
    body = code[:17]
    return len(code) == 18 and body.isascii() and body.isdigit() and code[17] == gb11643_check(body)


VALIDATORS: dict[str, Callable[[str], bool]] = {
    "gb32100": _gb32100_valid,
    "gb11714": _gb11714_valid,
    "gb11643": _gb11643_valid,
}


def is_valid(scheme: str, value: str) -> bool:
    """Whether ``value`` carries a correct check character under ``scheme``."""
    return VALIDATORS[scheme](value)


def gb32100_check(body: str) -> str:
    """The check character of a 17-character unified-social-credit-code body."""
    return str(uscc.calc_check_digit(body))


def gb11643_check(body: str) -> str:
    """The check character of a 17-digit resident ID number body."""
    return str(ric.calc_check_digit(body + "0"))  # stdnum expects the number with its check digit
