"""Defects injected into a generated dataset, counted exactly.

Rows are chosen so that no defect masks or imitates another: per column, null, bad-check-digit,
out-of-domain, pattern, range, length and date-format rows are disjoint; rows that receive or
give a duplicated key carry no other defect in the key columns; a bad check character never
equals a valid value, and out-of-domain values put into a key column are distinct, so they create
no duplicate key. The counts returned are therefore what a quality check recounts from the
written file.

Pattern, range, length and date-format defects are each a value that breaks exactly that one
rule of the element's domain and keeps every other (checked here with the same semantics as the
standards: regex search, inclusive bounds, character lengths, strftime formats, check
characters, code sets). Where no such value exists (a wrong length of an identifier also breaks
its check character) that kind is not injected in that column, and the manifest says nothing
about it. They go into non-key columns only (a changed key value could make or hide a duplicate).
A date-format defect in a ``date``/``datetime`` element cannot be loaded as a date: ingestion sets
its row aside (``<dataset>__rejects``), so those rows carry no other defect of any column.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from numpy.typing import NDArray

from examples.generator.identifiers import wrong_check
from examples.generator.values import ValueGen
from registry.checkdigit import is_valid
from registry.model import Element
from registry.vocab import DataType

DEFECT_RATES: dict[str, float] = {
    "check_digit": 0.005,  # of the values of each check-digit column
    "null": 0.003,  # of the values of each required column
    "out_of_domain": 0.002,  # of the values of each codes / code-list column
    "duplicate_key": 0.001,  # of the rows of each dataset with key columns
    "pattern": 0.002,  # of the values of each non-key text column with a pattern
    "range": 0.002,  # of the values of each non-key numeric column with min / max
    "length": 0.002,  # of the values of each non-key column with length limits
    "date_format": 0.002,  # of the values of each non-key column with a date format
}
"""Default defect rates; the count is ``round(rate * rows)``."""

BLANK_RATE = 0.02
"""Share of empty values in optional columns: realistic, and not a defect."""


def defect_count(rate: float, rows: int) -> int:
    return int(rate * rows + 0.5)


@dataclass
class Defects:
    """Exact counts: per source column and defect type, and duplicate keys of the dataset."""

    columns: dict[str, dict[str, int]] = field(default_factory=dict)
    duplicate_key: int | None = None
    set_aside: int = 0
    """Rows ingestion sets aside (a date that is no date): the live table holds ``rows - set_aside``."""

    def as_json(self) -> dict[str, object]:
        out: dict[str, object] = {"columns": self.columns}
        if self.duplicate_key is not None:
            out["duplicate_key"] = self.duplicate_key
        if self.set_aside:
            out["set_aside"] = self.set_aside
        return out


def _mask(rows: int, index: NDArray[np.int64]) -> pa.Array:
    mask = np.zeros(rows, dtype=bool)
    mask[index] = True
    return pa.array(mask)


def _replace(values: pa.Array, index: NDArray[np.int64], replacements: pa.Array) -> pa.Array:
    """Set ``values[index] = replacements`` (any order of ``index``)."""
    order = np.argsort(index, kind="stable")
    return pc.replace_with_mask(values, _mask(len(values), index), replacements.take(pa.array(order)))


def _out_of_domain(allowed: frozenset[str], count: int) -> list[str]:
    """``count`` distinct values outside ``allowed``, shaped like its codes."""
    width = max((len(c) for c in allowed), default=2)
    candidates = [d * width for d in "9876"]
    candidates += ["Z" + str(i).zfill(max(width - 1, 1)) for i in range(count + len(allowed))]
    return [c for c in candidates if c not in allowed][:count]


DOMAIN_KINDS = ("pattern", "range", "length", "date_format")
"""Defects of an element's value domain beyond codes and check characters, in injection order."""


def _number(value: object) -> float | None:
    try:
        return float(str(value))
    except ValueError:
        return None


def broken_rules(element: Element, allowed: frozenset[str] | None, value: object) -> set[str]:
    """The rules of ``element``'s domain that ``value`` breaks, as govreg's standards judge them.

    ``date_format`` on a date or datetime element means the value cannot be read as a date at
    all (ingestion sets the row aside); on a text element, that the format check fails.
    """
    d, text = element.domain, str(value)
    broken: set[str] = set()
    if d.check_digit is not None and not is_valid(str(d.check_digit), text):
        broken.add("check_digit")
    if allowed is not None and text not in allowed:
        broken.add("out_of_domain")
    if d.pattern is not None and element.type.is_text and re.search(d.pattern, text) is None:
        broken.add("pattern")
    if (d.min is not None or d.max is not None) and element.type.is_numeric:
        number = _number(value)
        if number is None or (d.min is not None and number < d.min) or (d.max is not None and number > d.max):
            broken.add("range")
    if d.length is not None:  # as the standards: a fixed length, else the bounds
        wrong_length = len(text) != d.length
    else:
        wrong_length = (d.min_length is not None and len(text) < d.min_length) or (
            d.max_length is not None and len(text) > d.max_length
        )
    if wrong_length:
        broken.add("length")
    fmt = date_format(element)
    if fmt is not None:
        try:
            datetime.strptime(text, fmt)
        except ValueError:
            broken.add("date_format")
    return broken


def date_format(element: Element) -> str | None:
    """The format a value of ``element`` must have: its ``date_format``, or the type's default."""
    if element.domain.date_format is not None:
        return element.domain.date_format
    if element.type == DataType.DATE:
        return "%Y-%m-%d"
    if element.type == DataType.DATETIME:
        return "%Y-%m-%d %H:%M:%S"
    return None


def applies(element: Element, kind: str) -> bool:
    """Whether ``element``'s domain has the rule a ``kind`` defect breaks."""
    d = element.domain
    if kind == "pattern":
        return d.pattern is not None and element.type.is_text
    if kind == "range":
        return (d.min is not None or d.max is not None) and element.type.is_numeric
    if kind == "length":
        return d.length is not None or d.min_length is not None or d.max_length is not None
    if kind == "date_format":
        return element.domain.date_format is not None and (
            element.type.is_text or element.type in (DataType.DATE, DataType.DATETIME)
        )
    return False


def removes_row(element: Element, kind: str) -> bool:
    """A defect that ingestion sets aside with its row, instead of loading it for the checks."""
    return kind == "date_format" and element.type in (DataType.DATE, DataType.DATETIME)


def _candidates(element: Element, kind: str, value: object) -> Sequence[object]:
    """Values near ``value`` that may break the ``kind`` rule (each is then tested alone)."""
    d, text = element.domain, str(value)
    if kind == "pattern":
        chars = ("#", "x", "Z", "-", "0", "9", "中")
        spots = sorted({0, len(text) // 2, max(len(text) - 1, 0)})
        return [text[:i] + c + text[i + 1 :] for i in spots for c in chars] + ["#" + text, text + "#"]
    if kind == "range":
        integer = element.type == DataType.INTEGER
        bounds: list[float] = []
        if d.max is not None:
            bounds += [d.max + 1, d.max * 2 + 1]
        if d.min is not None:
            bounds += [d.min - 1, d.min - 100]
        return [int(v) if integer else float(v) for v in bounds]
    if kind == "length":
        out: list[object] = []
        if d.length is not None:
            out += [text[:-1], text + text[-1:], text + "0"]
        if d.max_length is not None:
            out.append(text + "甲" * max(d.max_length + 1 - len(text), 1))
        if d.min_length:
            out.append(text[: d.min_length - 1])
        return out
    if kind == "date_format":
        fmt = date_format(element) or ""
        try:
            moment = datetime.strptime(text, fmt)
        except ValueError:
            return []
        return [moment.strftime(fmt.replace("%m", "13")), moment.strftime(fmt.replace("%d", "32"))]
    return []


def domain_defect(
    element: Element, allowed: frozenset[str] | None, kind: str, value: object
) -> object | None:
    """A value near ``value`` that breaks the ``kind`` rule of the domain and no other, or None."""
    for candidate in _candidates(element, kind, value):
        if broken_rules(element, allowed, candidate) == {kind}:
            return candidate
    return None


def inject(
    columns: list[pa.Array],
    names: Sequence[str],
    gens: Sequence[ValueGen],
    required: Sequence[bool],
    key: Sequence[int],
    rates: dict[str, float],
    rng: np.random.Generator,
    elements: Sequence[Element] | None = None,
) -> tuple[list[pa.Array], Defects]:
    """Inject defects (and optional blanks) into ``columns``; return them with exact counts.

    ``elements`` (one per column) enable the domain defects (:data:`DOMAIN_KINDS`).
    """
    rows = len(columns[0]) if columns else 0
    defects = Defects()
    reserved = np.empty(0, dtype=np.int64)
    targets = sources = reserved
    if key:
        dup = min(defect_count(rates["duplicate_key"], rows), rows // 2)
        chosen = rng.choice(rows, size=2 * dup, replace=False) if dup else reserved
        targets, sources = chosen[:dup], chosen[dup:]
        reserved = chosen
        defects.duplicate_key = dup
    kinds: list[list[str]] = [
        []
        if elements is None or i in key
        else [k for k in DOMAIN_KINDS if rates.get(k) and applies(elements[i], k)]
        for i in range(len(columns))
    ]
    # rows whose defect ingestion sets aside (a date that is no date) carry no other defect
    removed: dict[int, NDArray[np.int64]] = {}
    for i, column_kinds in enumerate(kinds):
        if elements is not None and "date_format" in column_kinds and removes_row(elements[i], "date_format"):
            taken = np.concatenate([reserved, *removed.values()])
            free = np.setdiff1d(np.arange(rows), taken)
            n = min(defect_count(rates["date_format"], rows), len(free) // 4)
            removed[i] = rng.choice(free, size=n, replace=False) if n else np.empty(0, dtype=np.int64)
    set_aside = np.concatenate([np.empty(0, dtype=np.int64), *removed.values()])
    out = list(columns)
    for i, (values, name, gen, needed) in enumerate(zip(columns, names, gens, required, strict=True)):
        counts: dict[str, int] = {}
        n_null = defect_count(rates["null"], rows) if needed else 0
        n_check = defect_count(rates["check_digit"], rows) if gen.check_digit else 0
        n_ood = defect_count(rates["out_of_domain"], rows) if gen.allowed is not None else 0
        in_place = [k for k in kinds[i] if not (k == "date_format" and i in removed)]
        n_domain = [defect_count(rates[k], rows) for k in in_place]
        n_blank = 0 if needed else int(BLANK_RATE * rows)
        banned = np.union1d(reserved if i in key else np.empty(0, dtype=np.int64), set_aside)
        wanted = n_null + n_check + n_ood + sum(n_domain)
        total = min(wanted + n_blank, rows - len(banned))
        n_blank = min(n_blank, total - min(total, wanted))
        draw = rng.choice(rows, size=min(rows, total + len(banned)), replace=False)
        draw = draw[~np.isin(draw, banned)][:total]
        null_rows = draw[:n_null]
        check_rows = draw[n_null : n_null + n_check]
        ood_rows = draw[n_null + n_check : n_null + n_check + n_ood]
        at = n_null + n_check + n_ood
        domain_rows = []
        for n in n_domain:
            domain_rows.append(draw[at : at + n])
            at += n
        blank_rows = draw[at : at + n_blank]
        if len(check_rows):
            bad = wrong_check(gen.check_digit or "", values.take(pa.array(check_rows)).to_pylist(), rng)
            assert not any(is_valid(gen.check_digit or "", v) for v in bad)
            values = _replace(values, check_rows, pa.array(bad, pa.string()))
        if len(ood_rows):
            bad = _out_of_domain(gen.allowed or frozenset(), len(ood_rows))
            values = _replace(values, ood_rows, pa.array(bad, pa.string()))
        if elements is not None:
            element = elements[i]
            plan = [*zip(in_place, domain_rows, strict=True)]
            if i in removed:
                plan.append(("date_format", removed[i]))
            for kind, chosen in plan:
                found = values.take(pa.array(chosen, pa.int64())).to_pylist()
                made = [
                    (r, domain_defect(element, gen.allowed, kind, v))
                    for r, v in zip(chosen, found, strict=True)
                ]
                made = [(r, v) for r, v in made if v is not None]
                if made:  # none: no value breaks this rule alone here, so none is claimed
                    index = np.array([r for r, _ in made], dtype=np.int64)
                    values = _replace(values, index, pa.array([v for _, v in made], values.type))
                    counts[kind] = len(made)
        empty = np.concatenate([null_rows, blank_rows])
        if len(empty):
            values = pc.if_else(_mask(rows, empty), pa.scalar(None, values.type), values)
        if needed:
            counts["null"] = len(null_rows)
        if gen.check_digit:
            counts["check_digit"] = len(check_rows)
        if gen.allowed is not None:
            counts["out_of_domain"] = len(ood_rows)
        if counts:
            defects.columns[name] = dict(sorted(counts.items(), key=lambda kv: _ORDER.index(kv[0])))
        out[i] = values
    for i in key:
        out[i] = _replace(out[i], targets, out[i].take(pa.array(sources)))
    # the removed rows of different columns are disjoint, so their defects add up to rows
    defects.set_aside = sum(defects.columns.get(names[i], {}).get("date_format", 0) for i in removed)
    return out, defects


_ORDER = ("null", "check_digit", "out_of_domain", *DOMAIN_KINDS)
