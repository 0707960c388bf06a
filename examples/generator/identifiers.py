"""Vectorised national identifiers with correct check characters.

Each generator builds an ``(n, width)`` array of Unicode code points with numpy, computes the
check character over whole columns at once and views the result as fixed-width strings; no
per-row Python runs. The schemes are in REFERENCE.md (GB 32100, GB 11714, GB 11643).

>>> import numpy as np
>>> from registry.checkdigit import is_valid
>>> rng = np.random.default_rng(1)
>>> all(is_valid("gb32100", v) for v in uscc(rng, 50, ("500103",)).to_pylist())
True
>>> all(is_valid("gb11714", v) for v in org_code(rng, 50).to_pylist())
True
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

import numpy as np
import pyarrow as pa
from numpy.typing import NDArray

from registry.checkdigit import ORG_ALPHABET, USCC_ALPHABET

ALPHA31 = USCC_ALPHABET  # GB 32100
ALPHA36 = ORG_ALPHABET  # GB 11714
CHECK11 = "0123456789X"  # the check characters of GB 11714 and GB 11643
_W31 = np.array([pow(3, i, 31) for i in range(17)], dtype=np.int64)
_W11714 = np.array([3, 7, 9, 10, 5, 8, 4, 2], dtype=np.int64)
_W11643 = np.array([7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2], dtype=np.int64)

# Unified social credit code: registration authority + entity kind, with rough shares.
_USCC_KINDS = (
    ("91", 0.82),
    ("92", 0.07),
    ("93", 0.02),
    ("11", 0.02),
    ("12", 0.03),
    ("51", 0.02),
    ("52", 0.015),
    ("53", 0.005),
)

CHONGQING_DIVISIONS = (
    "500101",
    "500102",
    "500103",
    "500104",
    "500105",
    "500106",
    "500107",
    "500108",
    "500109",
    "500110",
    "500111",
    "500112",
    "500113",
    "500114",
    "500115",
    "500116",
    "500117",
    "500118",
    "500119",
    "500120",
    "500151",
    "500152",
    "500153",
    "500154",
    "500155",
    "500156",
    "500229",
    "500230",
    "500231",
    "500233",
    "500235",
    "500236",
    "500237",
    "500238",
    "500240",
    "500241",
    "500242",
    "500243",
)
"""Chongqing's districts and counties (GB/T 2260-2024), used when the registry has no list."""

# Before 1997 Chongqing was part of Sichuan: ID numbers issued then carry 5102xx/5122xx codes.
_HISTORIC_CHONGQING = tuple(f"{p}{i:02d}" for p in ("5102", "5122", "5123", "5124") for i in range(1, 100))


def _lut(alphabet: str) -> NDArray[np.int64]:
    table = np.full(128, -1, dtype=np.int64)
    for value, char in enumerate(alphabet):
        table[ord(char)] = value
    return table


_LUT31 = _lut(ALPHA31)
_LUT36 = _lut(ALPHA36)
_CP31 = np.array([ord(c) for c in ALPHA31], dtype=np.uint32)
_CP36 = np.array([ord(c) for c in ALPHA36], dtype=np.uint32)
_CP11 = np.array([ord(c) for c in CHECK11], dtype=np.uint32)


def to_strings(points: NDArray[np.uint32]) -> pa.Array:
    """An ``(n, width)`` array of code points → a pyarrow string array of ``n`` values."""
    width = points.shape[1]
    fixed = np.ascontiguousarray(points, dtype="<u4").view(f"<U{width}").ravel()
    out = pa.array(fixed, type=pa.string())
    return out.combine_chunks() if isinstance(out, pa.ChunkedArray) else out


def digits(values: NDArray[np.int64], width: int) -> NDArray[np.uint32]:
    """Zero-padded decimal digits of non-negative integers as code points ``(n, width)``."""
    powers = 10 ** np.arange(width - 1, -1, -1, dtype=np.int64)
    return (values[:, None] // powers % 10 + ord("0")).astype(np.uint32)


def _codes_points(codes: Sequence[str], index: NDArray[np.int64]) -> NDArray[np.uint32]:
    table = np.array([[ord(c) for c in code] for code in codes], dtype=np.uint32)
    return table[index]


def _org_body(rng: np.random.Generator, n: int) -> NDArray[np.uint32]:
    """8 characters: 30% the old all-digit form, 70% the post-2015 ``MA`` + 6 form.

    Characters stay inside the GB 32100 alphabet so the body can sit inside a credit code.
    """
    body = (rng.integers(0, 10, size=(n, 8)) + ord("0")).astype(np.uint32)
    modern = rng.random(n) < 0.7
    tail = _CP31[rng.integers(0, 31, size=(int(modern.sum()), 6))]
    body[modern, 0] = ord("M")
    body[modern, 1] = ord("A")
    body[modern, 2:] = tail
    return body


def _org_check(body: NDArray[np.uint32]) -> NDArray[np.uint32]:
    value = 11 - (_LUT36[body] * _W11714).sum(axis=1) % 11
    return _CP11[np.where(value == 11, 0, value)]


def org_code(rng: np.random.Generator, n: int) -> pa.Array:
    """Organisation codes (GB 11714), 9 characters with the check character last."""
    body = _org_body(rng, n)
    return to_strings(np.concatenate([body, _org_check(body)[:, None]], axis=1))


def uscc(rng: np.random.Generator, n: int, divisions: Sequence[str]) -> pa.Array:
    """Unified social credit codes (GB 32100) registered in ``divisions``."""
    kinds = [k for k, _ in _USCC_KINDS]
    shares = np.array([s for _, s in _USCC_KINDS])
    kind = _codes_points(kinds, rng.choice(len(kinds), size=n, p=shares / shares.sum()))
    division = _codes_points(divisions, rng.integers(0, len(divisions), size=n))
    body = _org_body(rng, n)
    points = np.concatenate([kind, division, body, _org_check(body)[:, None]], axis=1)
    check = (31 - (_LUT31[points] * _W31).sum(axis=1) % 31) % 31
    return to_strings(np.concatenate([points, _CP31[check][:, None]], axis=1))


def _valid_years(code: str, years: NDArray[np.int64]) -> NDArray[np.bool_]:
    """Birth years for which python-stdnum accepts ``code`` as a birth place (as ric.validate)."""
    from stdnum import numdb

    info = {k: v for _, props in numdb.get("cn/loc").info(code) for k, v in props.items()}
    valid = np.zeros(len(years), dtype=bool)
    for county in info.get("county", "").split(","):
        if not county:
            continue
        if not county.startswith("["):
            return np.ones(len(years), dtype=bool)
        start, end = county[1:].split("]")[0].split("-")
        valid |= (years >= int(start or 0)) & (years <= int(end or 9999))
    return valid


@functools.lru_cache(maxsize=8)
def _division_years(
    divisions: tuple[str, ...], first: int, last: int
) -> tuple[tuple[str, ...], NDArray[np.bool_]]:
    """Candidate codes and which birth years python-stdnum accepts for each (it checks both)."""
    candidates = tuple(dict.fromkeys(divisions + (_HISTORIC_CHONGQING if divisions[0][:2] == "50" else ())))
    years = np.arange(first, last + 1)
    valid = np.array([_valid_years(code, years) for code in candidates], dtype=bool)
    keep = np.flatnonzero(valid.any(axis=1))
    return tuple(candidates[i] for i in keep), valid[keep]


def resident_id(
    rng: np.random.Generator, n: int, divisions: Sequence[str], first_year: int, last_year: int
) -> pa.Array:
    """Resident ID numbers (GB 11643): division + birth date + sequence + MOD 11-2 check.

    The division is one that was in use in the birth year (so python-stdnum accepts it):
    people born in Chongqing before 1997 carry the Sichuan-era 5102xx codes.
    """
    codes, valid = _division_years(tuple(divisions), first_year, last_year)
    year_ok = valid.any(axis=0)
    years = np.flatnonzero(year_ok)
    year_index = years[rng.integers(0, len(years), size=n)]
    per_year = valid.sum(axis=0)
    order = np.argsort(~valid, axis=0, kind="stable")  # valid codes first, per year column
    pick = (rng.random(n) * per_year[year_index]).astype(np.int64)
    code_index = order[pick, year_index]
    year = year_index + first_year
    start = (np.array(year - 1970, dtype="datetime64[Y]")).astype("datetime64[D]").astype(np.int64)
    length = np.where((year % 4 == 0) & ((year % 100 != 0) | (year % 400 == 0)), 366, 365)
    day = (start + (rng.random(n) * length).astype(np.int64)).astype("datetime64[D]")
    month = day.astype("datetime64[M]").astype(np.int64) % 12 + 1
    dom = (day - day.astype("datetime64[M]")).astype(np.int64) + 1
    ymd = year.astype(np.int64) * 10000 + month * 100 + dom
    sequence = rng.integers(0, 1000, size=n)
    body = np.concatenate([_codes_points(codes, code_index), digits(ymd, 8), digits(sequence, 3)], axis=1)
    check = (12 - ((body - ord("0")).astype(np.int64) * _W11643).sum(axis=1) % 11) % 11
    return to_strings(np.concatenate([body, _CP11[check][:, None]], axis=1))


def wrong_check(scheme: str, values: list[str], rng: np.random.Generator) -> list[str]:
    """The same identifiers with a different (so wrong) check character: small subsets only."""
    alphabet = ALPHA31 if scheme == "gb32100" else CHECK11
    out = []
    for value, shift in zip(values, rng.integers(1, len(alphabet), size=len(values)), strict=True):
        last = alphabet.find(value[-1])
        out.append(value[:-1] + alphabet[(max(last, 0) + int(shift)) % len(alphabet)])
    return out
