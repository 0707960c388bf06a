"""Benchmark: validate a 10,000,000-row table with 22 expectations, against one hand-written query.

Builds a DuckDB table of enterprises (identifiers with GB 32100, GB 11643 and GB 11714 check
characters, a few per cent corrupted; codes, amounts, dates, phones, names, with nulls and
out-of-domain values), then times in the same run:

* govreg — ``expectations.run.validate_table`` (Great Expectations through govreg's DuckDB
  engine, SQL pushed down, samples of unexpected values for the failing ones);
* hand-written — one DuckDB aggregate query computing the same unexpected counts.

It checks that every unexpected count agrees and prints the ratio (govreg / hand-written).
Target: at most 3.

    python bench/quality.py [--rows 10000000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import duckdb
import pyarrow as pa

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import great_expectations.expectations as gxe

from examples.generator.identifiers import CHONGQING_DIVISIONS
from expectations.custom import ExpectColumnValuesToHaveValidCheckDigit
from expectations.run import validate_table
from expectations.sql import MACROS
from registry.checkdigit import (
    ORG_ALPHABET,
    USCC_ALPHABET,
    gb11643_check,
    gb11714_check,
    gb32100_check,
)
from registry.model import Dataset

CODES = [f"{i:02d}" for i in range(1, 21)]
DIVISIONS = list(CHONGQING_DIVISIONS[:18])  # the first 18 county-level codes of 500100
STATUS = ["存续", "在业", "吊销", "注销", "迁出"]


def pools(size: int, seed: int = 3) -> list[tuple[str, str, str]]:
    """Valid (uscc, resident id, organisation code) triples."""
    rng = random.Random(seed)
    out = []
    for _ in range(size):
        org = "".join(rng.choice(ORG_ALPHABET) for _ in range(8))
        org += gb11714_check(org)
        body = "91" + rng.choice(DIVISIONS) + "".join(rng.choice(USCC_ALPHABET) for _ in range(9))
        body = body[:8] + body[8:17]
        uscc = body + gb32100_check(body)
        ric = (
            rng.choice(DIVISIONS)
            + f"{rng.randint(1950, 2005)}{rng.randint(1, 12):02d}{rng.randint(1, 28):02d}"
        )
        ric += f"{rng.randint(0, 999):03d}"
        out.append((uscc, ric + gb11643_check(ric), org))
    return out


def build_table(path: Path, rows: int) -> None:
    con = duckdb.connect(str(path))
    triples = pools(100_000)
    pool = pa.table(
        {
            "n": list(range(len(triples))),
            "uscc": [t[0] for t in triples],
            "id_number": [t[1] for t in triples],
            "org_code": [t[2] for t in triples],
        }
    )
    con.register("pool_arrow", pool)
    con.execute("CREATE TABLE pool AS SELECT * FROM pool_arrow")
    con.unregister("pool_arrow")
    codes = ", ".join(f"'{c}'" for c in [*CODES, "99"])
    divisions = ", ".join(f"'{d}'" for d in [*DIVISIONS, "999999"])
    status = ", ".join(f"'{s}'" for s in [*STATUS, "未知"])
    con.execute(f"""
        CREATE TABLE enterprise AS
        SELECT
            CASE WHEN i % 101 = 0 THEN i - 1 ELSE i END AS id,
            CASE WHEN i % 211 = 0 THEN NULL
                 WHEN i % 97 = 0 THEN substr(p.uscc, 1, 17) || 'Z' ELSE p.uscc END AS uscc,
            CASE WHEN i % 89 = 0 THEN substr(p.id_number, 1, 17) || 'Y' ELSE p.id_number END AS id_number,
            CASE WHEN i % 83 = 0 THEN substr(p.org_code, 1, 8) || 'Z' ELSE p.org_code END AS org_code,
            CASE WHEN i % 307 = 0 THEN NULL ELSE '重庆' || (i % 1000)::VARCHAR || '号企业' END AS name,
            ([{codes}])[1 + (i % 21)::INT] AS type_code,
            ([{divisions}])[1 + (i % 19)::INT] AS division,
            ([{status}])[1 + (i % 6)::INT] AS status,
            (i % 1100000)::DOUBLE AS amount,
            (i % 130)::INTEGER AS age,
            (i % 120)::INTEGER AS staff,
            CASE WHEN i % 401 = 0 THEN NULL WHEN i % 503 = 0 THEN '2024-13-01'
                 ELSE strftime(DATE '2000-01-01' + (i % 9000)::INTEGER, '%Y-%m-%d') END AS founded,
            CASE WHEN i % 59 = 0 THEN '023-' || (i % 10000000)::VARCHAR
                 ELSE '13' || lpad((i % 1000000000)::VARCHAR, 9, '0') END AS phone
        FROM range({rows}) r(i) JOIN pool p ON p.n = i % 100000
    """)
    con.execute("DROP TABLE pool")
    con.close()


def expectations() -> list[gxe.Expectation]:
    """22 expectations, each tagged with its position so results line up with the query's columns."""
    c = "critical"
    listed = [
        gxe.ExpectColumnValuesToNotBeNull(column="uscc", severity=c),
        gxe.ExpectColumnValuesToNotBeNull(column="name"),
        gxe.ExpectColumnValuesToNotBeNull(column="founded"),
        gxe.ExpectColumnValuesToNotBeNull(column="amount"),
        gxe.ExpectColumnValuesToBeUnique(column="id", severity=c),
        ExpectColumnValuesToHaveValidCheckDigit(column="uscc", scheme="gb32100", severity=c),
        ExpectColumnValuesToHaveValidCheckDigit(column="id_number", scheme="gb11643", severity=c),
        ExpectColumnValuesToHaveValidCheckDigit(column="org_code", scheme="gb11714"),
        gxe.ExpectColumnValuesToMatchRegex(column="uscc", regex="^[0-9A-HJ-NPQRTUWXY]{18}$"),
        gxe.ExpectColumnValuesToMatchRegex(column="phone", regex="^1[3-9][0-9]{9}$"),
        gxe.ExpectColumnValuesToMatchRegex(column="id_number", regex="^[0-9]{17}[0-9X]$"),
        gxe.ExpectColumnValuesToNotMatchRegex(column="name", regex="[A-Za-z]"),
        gxe.ExpectColumnValuesToBeInSet(column="type_code", value_set=CODES),
        gxe.ExpectColumnValuesToBeInSet(column="division", value_set=DIVISIONS),
        gxe.ExpectColumnValuesToBeInSet(column="status", value_set=STATUS),
        gxe.ExpectColumnValuesToBeBetween(column="amount", min_value=0, max_value=1_000_000),
        gxe.ExpectColumnValuesToBeBetween(column="age", min_value=0, max_value=120),
        gxe.ExpectColumnValuesToBeBetween(column="staff", min_value=0, max_value=100),
        gxe.ExpectColumnValueLengthsToEqual(column="uscc", value=18),
        gxe.ExpectColumnValueLengthsToEqual(column="id_number", value=18),
        gxe.ExpectColumnValueLengthsToBeBetween(column="name", min_value=2, max_value=30),
        gxe.ExpectColumnValuesToMatchStrftimeFormat(column="founded", strftime_format="%Y-%m-%d"),
    ]
    for i, expectation in enumerate(listed):
        expectation.meta = {"bench": f"e{i:02d}", "govreg": {"key": f"e{i:02d}"}}
    return listed


HAND_WRITTEN = """
WITH dup AS (
  SELECT sum(n) AS unique_id FROM (SELECT count(*) AS n FROM enterprise GROUP BY id HAVING count(*) > 1)
)
SELECT
  count(*) FILTER (WHERE uscc IS NULL),
  count(*) FILTER (WHERE name IS NULL),
  count(*) FILTER (WHERE founded IS NULL),
  count(*) FILTER (WHERE amount IS NULL),
  (SELECT coalesce(unique_id, 0) FROM dup),
  count(*) FILTER (WHERE NOT gb32100_valid(uscc)),
  count(*) FILTER (WHERE NOT gb11643_valid(id_number)),
  count(*) FILTER (WHERE NOT gb11714_valid(org_code)),
  count(*) FILTER (WHERE NOT regexp_matches(uscc, '^[0-9A-HJ-NPQRTUWXY]{18}$')),
  count(*) FILTER (WHERE NOT regexp_matches(phone, '^1[3-9][0-9]{9}$')),
  count(*) FILTER (WHERE NOT regexp_matches(id_number, '^[0-9]{17}[0-9X]$')),
  count(*) FILTER (WHERE regexp_matches(name, '[A-Za-z]')),
  count(*) FILTER (WHERE type_code NOT IN (CODES)),
  count(*) FILTER (WHERE division NOT IN (DIVISIONS)),
  count(*) FILTER (WHERE status NOT IN (STATUS)),
  count(*) FILTER (WHERE amount < 0 OR amount > 1000000),
  count(*) FILTER (WHERE age < 0 OR age > 120),
  count(*) FILTER (WHERE staff < 0 OR staff > 100),
  count(*) FILTER (WHERE length(uscc) <> 18),
  count(*) FILTER (WHERE length(id_number) <> 18),
  count(*) FILTER (WHERE length(name) < 2 OR length(name) > 30),
  count(*) FILTER (WHERE try_strptime(founded, '%Y-%m-%d') IS NULL AND founded IS NOT NULL)
FROM enterprise
"""


def hand_written(path: Path) -> list[int]:
    sql = (
        HAND_WRITTEN.replace("CODES", ", ".join(f"'{c}'" for c in CODES))
        .replace("DIVISIONS", ", ".join(f"'{d}'" for d in DIVISIONS))
        .replace("STATUS", ", ".join(f"'{s}'" for s in STATUS))
    )
    con = duckdb.connect(str(path), read_only=True)
    try:
        for macro in MACROS:
            con.execute(macro)
        row = con.execute(sql).fetchone()
    finally:
        con.close()
    assert row is not None
    return [int(v) for v in row]


def best_of(repeat: int, fn: Callable[[], object]) -> tuple[float, object]:
    best, value = float("inf"), None
    for _ in range(repeat):
        start = time.perf_counter()
        value = fn()
        best = min(best, time.perf_counter() - start)
    return best, value


def main(argv: list[str] | None = None) -> dict[str, object]:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    from registry.home import Registry

    registry = Registry.empty()
    dataset = Dataset.model_validate(
        {
            "code": "enterprise",
            "name": "企业",
            "name_en": "Enterprises",
            "provider": "bench",
            "columns": [{"name": "id", "element": "id"}],
        }
    )
    exps = expectations()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bench.duckdb"
        start = time.perf_counter()
        build_table(path, args.rows)
        print(f"built {args.rows:,} rows in {time.perf_counter() - start:.1f} s", file=sys.stderr)
        ours_s, validation = best_of(args.repeat, lambda: validate_table(registry, dataset, path, exps))
        hand_s, counts = best_of(args.repeat, lambda: hand_written(path))
    order = {e.meta["bench"]: i for i, e in enumerate(exps)}
    outcomes = sorted(validation.outcomes, key=lambda o: order[o.key])  # type: ignore[attr-defined]
    errors = [o for o in outcomes if o.status == "error"]
    ours = [o.unexpected_count for o in outcomes]
    agree = ours == counts
    figures: dict[str, object] = {
        "rows": args.rows,
        "expectations": len(exps),
        "govreg_s": round(ours_s, 3),
        "hand_written_s": round(hand_s, 3),
        "ratio": round(ours_s / hand_s, 2),
        "counts_agree": agree,
        "errors": len(errors),
        "failed": sum(o.status == "failed" for o in outcomes),
    }
    if args.json:
        print(json.dumps(figures))
    else:
        print(f"{args.rows:,} rows, {len(exps)} expectations, best of {args.repeat}")
        print(f"govreg (GX on DuckDB, samples for failures): {ours_s:7.2f} s")
        print(f"one hand-written DuckDB aggregate query:     {hand_s:7.2f} s")
        print(f"ratio {ours_s / hand_s:.2f} (target ≤ 3); counts agree: {agree}; errors: {len(errors)}")
        if not agree:
            for o, n in zip(outcomes, counts, strict=True):
                if o.unexpected_count != n:
                    print(f"  {o.key}: govreg {o.unexpected_count}, hand-written {n}")
    if errors or not agree:
        raise SystemExit(1)
    return figures


if __name__ == "__main__":
    main()
