"""Benchmark: ingest a 5,000,000-row extract through the pipeline's ingestion code.

Generates (with the sample generator) one enterprise-registration extract as UTF-8 CSV and the
same rows as GBK CSV, then times, in the same run and on the same files:

* baseline — ``CREATE TABLE t AS SELECT * FROM read_csv('file.csv')`` in a fresh DuckDB file;
* govreg — ``ingest_file`` (header check at the door, typed reading with every cast failure
  recorded, staging table, swap in one transaction, load record in the metadata store, sha256),
  into a fresh DuckDB file and store, for the UTF-8 file and for the GBK file.

Prints each govreg time as a ratio to the baseline (best of ``--repeat``). Target: UTF-8 at
most 1.5. The GBK file has no DuckDB baseline of its own (DuckDB cannot read GBK offline), so
its ratio is to the same UTF-8 baseline.

    python bench/ingest.py [--rows 5000000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from datetime import date
from pathlib import Path
from typing import Any

import duckdb

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from examples.generator import generate
from ingest import ingest_file
from registry.load import load_valid_home
from registry.store import Store

HOME = """\
departments:
  - {code: market, name: 市场监督管理局, name_en: Administration for Market Regulation}
codelists:
  - code: enterprise_type
    name: 企业类型
    name_en: Enterprise type
    values:
      - {value: "1100", label: 国有企业}
      - {value: "1200", label: 集体企业}
      - {value: "9100", label: 有限责任公司}
      - {value: "9200", label: 股份有限公司}
elements:
  - {code: uscc, name: 统一社会信用代码, name_en: Unified social credit code, owner: market, status: standard,
     required: true, domain: {length: 18, check_digit: gb32100}}
  - {code: enterprise_name, name: 企业名称, name_en: Enterprise name, owner: market, status: standard}
  - {code: enterprise_type, name: 企业类型代码, name_en: Enterprise type code, owner: market,
     status: standard, domain: {code_list: enterprise_type}}
  - {code: legal_representative, name: 法定代表人, name_en: Legal representative, owner: market,
     status: standard, personal: personal}
  - {code: registered_capital, name: 注册资本, name_en: Registered capital, type: currency, owner: market,
     status: standard, domain: {min: 0, max: 100000000}}
  - {code: establishment_date, name: 成立日期, name_en: Establishment date, type: date, owner: market,
     status: standard, domain: {date_format: "%Y-%m-%d"}}
  - {code: business_address, name: 住所, name_en: Registered address, owner: market, status: standard}
  - {code: employees, name: 从业人数, name_en: Number of employees, type: integer, owner: market,
     status: standard, domain: {min: 0, max: 100000}}
datasets:
  - code: enterprise_registration
    name: 企业登记信息
    name_en: Enterprise registration
    provider: market
    classification: basic
    format: csv
    encoding: ENCODING
    key: [tyshxydm]
    columns:
      - {name: tyshxydm, element: uscc}
      - {name: qymc, element: enterprise_name}
      - {name: qylx, element: enterprise_type}
      - {name: fddbr, element: legal_representative}
      - {name: zczb, element: registered_capital}
      - {name: clrq, element: establishment_date}
      - {name: zs, element: business_address}
      - {name: cyrs, element: employees}
"""


def best_of(repeat: int, fn) -> float:  # type: ignore[no-untyped-def]
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=5_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        files: dict[str, Path] = {}
        registries = {}
        for encoding in ("utf-8", "gbk"):
            home = root / f"home-{encoding}"
            home.mkdir()
            (home / "city.yaml").write_text(HOME.replace("ENCODING", encoding), encoding="utf-8")
            registry, _ = load_valid_home(home)
            registries[encoding] = registry
            start = time.perf_counter()
            manifest = generate(
                registry, root / f"out-{encoding}", rows=args.rows, seed=5, today=date(2026, 1, 1)
            )
            files[encoding] = root / f"out-{encoding}" / manifest.datasets["enterprise_registration"].file
            print(
                f"generated {args.rows:,} rows {encoding} in {time.perf_counter() - start:.1f} s "
                f"({files[encoding].stat().st_size / 1e6:.0f} MB)",
                file=sys.stderr,
            )
        counter = iter(range(10_000))

        def plain() -> None:
            db = root / f"plain-{next(counter)}.duckdb"
            con = duckdb.connect(str(db))
            con.execute(f"CREATE TABLE t AS SELECT * FROM read_csv('{files['utf-8']}')")
            con.close()
            db.unlink()

        rows_loaded: dict[str, int] = {}

        def ours(encoding: str):  # type: ignore[no-untyped-def]
            def run() -> None:
                n = next(counter)
                db = root / f"ours-{n}.duckdb"
                con = duckdb.connect(str(db))
                store = Store(f"sqlite:///{root}/store-{n}.db")
                outcome = ingest_file(
                    registries[encoding],
                    "enterprise_registration",
                    files[encoding],
                    warehouse=con,
                    store=store,
                    quarantine=root / "quarantine",
                )
                rows_loaded[encoding] = outcome.record.rows_loaded or 0
                con.close()
                store.dispose()
                db.unlink()

            return run

        base = best_of(args.repeat, plain)
        utf8 = best_of(args.repeat, ours("utf-8"))
        gbk = best_of(args.repeat, ours("gbk"))
    assert rows_loaded["utf-8"] == rows_loaded["gbk"] > 0.99 * args.rows
    figures = {
        "rows": args.rows,
        "plain_read_csv_s": round(base, 3),
        "govreg_utf8_s": round(utf8, 3),
        "govreg_gbk_s": round(gbk, 3),
        "ratio_utf8": round(utf8 / base, 2),
        "ratio_gbk": round(gbk / base, 2),
        "rows_loaded_utf8": rows_loaded["utf-8"],
        "rows_loaded_gbk": rows_loaded["gbk"],
    }
    if args.json:
        print(json.dumps(figures))
    else:
        print(f"{args.rows:,} rows, best of {args.repeat}")
        print(f"plain DuckDB CREATE TABLE AS read_csv:  {base:7.2f} s")
        print(f"govreg ingest_file, UTF-8 CSV:          {utf8:7.2f} s   ratio {utf8 / base:4.2f}  (≤ 1.5)")
        print(f"govreg ingest_file, GBK CSV:            {gbk:7.2f} s   ratio {gbk / base:4.2f}")
    return figures


if __name__ == "__main__":
    main()
