"""Defects injected into a generated dataset, counted exactly.

Rows are chosen so that no defect masks or imitates another: per column, null, bad-check-digit
and out-of-domain rows are disjoint; rows that receive or give a duplicated key carry no other
defect in the key columns; a bad check character never equals a valid value, and out-of-domain
values put into a key column are distinct, so they create no duplicate key. The counts returned
are therefore what a quality check recounts from the written file.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from numpy.typing import NDArray

from examples.generator.identifiers import wrong_check
from examples.generator.values import ValueGen
from registry.checkdigit import is_valid

DEFECT_RATES: dict[str, float] = {
    "check_digit": 0.005,  # of the values of each check-digit column
    "null": 0.003,  # of the values of each required column
    "out_of_domain": 0.002,  # of the values of each codes / code-list column
    "duplicate_key": 0.001,  # of the rows of each dataset with key columns
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

    def as_json(self) -> dict[str, object]:
        out: dict[str, object] = {"columns": self.columns}
        if self.duplicate_key is not None:
            out["duplicate_key"] = self.duplicate_key
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


def inject(
    columns: list[pa.Array],
    names: Sequence[str],
    gens: Sequence[ValueGen],
    required: Sequence[bool],
    key: Sequence[int],
    rates: dict[str, float],
    rng: np.random.Generator,
) -> tuple[list[pa.Array], Defects]:
    """Inject defects (and optional blanks) into ``columns``; return them with exact counts."""
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
    out = list(columns)
    for i, (values, name, gen, needed) in enumerate(zip(columns, names, gens, required, strict=True)):
        counts: dict[str, int] = {}
        n_null = defect_count(rates["null"], rows) if needed else 0
        n_check = defect_count(rates["check_digit"], rows) if gen.check_digit else 0
        n_ood = defect_count(rates["out_of_domain"], rows) if gen.allowed is not None else 0
        n_blank = 0 if needed else int(BLANK_RATE * rows)
        banned = reserved if i in key else np.empty(0, dtype=np.int64)
        total = min(n_null + n_check + n_ood + n_blank, rows - len(banned))
        n_blank = min(n_blank, total - min(total, n_null + n_check + n_ood))
        draw = rng.choice(rows, size=min(rows, total + len(banned)), replace=False)
        draw = draw[~np.isin(draw, banned)][:total]
        null_rows = draw[:n_null]
        check_rows = draw[n_null : n_null + n_check]
        ood_rows = draw[n_null + n_check : n_null + n_check + n_ood]
        blank_rows = draw[n_null + n_check + n_ood : n_null + n_check + n_ood + n_blank]
        if len(check_rows):
            bad = wrong_check(gen.check_digit or "", values.take(pa.array(check_rows)).to_pylist(), rng)
            assert not any(is_valid(gen.check_digit or "", v) for v in bad)
            values = _replace(values, check_rows, pa.array(bad, pa.string()))
        if len(ood_rows):
            bad = _out_of_domain(gen.allowed or frozenset(), len(ood_rows))
            values = _replace(values, ood_rows, pa.array(bad, pa.string()))
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
            defects.columns[name] = counts
        out[i] = values
    for i in key:
        out[i] = _replace(out[i], targets, out[i].take(pa.array(sources)))
    return out, defects
