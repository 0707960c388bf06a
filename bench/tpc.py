"""TPC-H and TPC-DS queries and schemas, printed by DuckDB's own tpch and tpcds extensions.

The queries are TPC's: they are not kept in this repository but printed on demand by the
extensions (``tpch_queries()``, ``tpcds_queries()``), and the schemas read from the empty tables
``dbgen(sf = 0)`` and ``dsdgen(sf = 0)`` create. The extensions come from the package registry
(PyPI's ``duckdb-extension-tpch`` and ``duckdb-extension-tpcds``), not from DuckDB's extension
server, which this machine cannot reach. Those packages stop at DuckDB 1.5.5 while govreg runs
DuckDB 2.0, and an extension loads only into its own version, so they are installed, pinned by
``bench/tpc-requirements.txt``, into a side venv under ``.cache/tpc-venv``, and what they print
is cached as JSON in ``.cache/tpc/``:

    {"tpch": {"schema": {"lineitem": ["l_orderkey", ...], ...},
              "queries": [{"id": "tpch_q01", "sql": "SELECT ..."}, ...]},
     "tpcds": {...}}

    python bench/tpc.py            # build the cache if missing, print what it holds
    python bench/tpc.py --refresh  # build it again
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import venv
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
CACHE = ROOT / ".cache" / "tpc"
QUERIES = CACHE / "queries.json"
SIDE_VENV = ROOT / ".cache" / "tpc-venv"
REQUIREMENTS = Path(__file__).with_name("tpc-requirements.txt")

# Runs inside the side venv, with its DuckDB 1.5.5: prints the JSON document above.
PRINTER = """
import json, pathlib, sys
import duckdb, duckdb_extension_tpch, duckdb_extension_tpcds

out = {}
for name, module, generate, listing in (
    ("tpch", duckdb_extension_tpch, "CALL dbgen(sf = 0)", "tpch_queries()"),
    ("tpcds", duckdb_extension_tpcds, "CALL dsdgen(sf = 0)", "tpcds_queries()"),
):
    con = duckdb.connect()
    path = next(pathlib.Path(module.__file__).parent.rglob("*.duckdb_extension"))
    con.execute("LOAD '" + str(path).replace("'", "''") + "'")
    con.execute(generate)
    schema = {}
    for table, column in con.execute(
        "SELECT table_name, column_name FROM information_schema.columns "
        "WHERE table_schema = 'main' ORDER BY table_name, ordinal_position"
    ).fetchall():
        schema.setdefault(table, []).append(column)
    queries = [
        {"id": f"{name}_q{number:02d}", "sql": sql}
        for number, sql in con.execute(f"SELECT query_nr, query FROM {listing} ORDER BY query_nr").fetchall()
    ]
    out[name] = {"schema": schema, "queries": queries}
json.dump(out, sys.stdout)
"""


class Unavailable(RuntimeError):
    """The extensions could not be installed or run here (say, no package registry)."""


def _side_python() -> Path:
    python = SIDE_VENV / "bin" / "python"
    stamp = SIDE_VENV / ".installed"
    if stamp.is_file() and stamp.read_text() == REQUIREMENTS.read_text() and python.is_file():
        return python
    venv.EnvBuilder(with_pip=True, clear=True).create(SIDE_VENV)
    done = subprocess.run(
        [str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check", "-r", str(REQUIREMENTS)],
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        raise Unavailable(f"installing {REQUIREMENTS.name} failed: {done.stderr.strip()[-500:]}")
    stamp.write_text(REQUIREMENTS.read_text())
    return python


def load(refresh: bool = False) -> dict[str, Any]:
    """The cached queries and schemas, built first when missing (or when ``refresh``)."""
    if QUERIES.is_file() and not refresh:
        return json.loads(QUERIES.read_text(encoding="utf-8"))  # type: ignore[no-any-return]
    python = _side_python()
    done = subprocess.run([str(python), "-c", PRINTER], capture_output=True, text=True)
    if done.returncode != 0:
        raise Unavailable(f"the tpch/tpcds extensions failed: {done.stderr.strip()[-500:]}")
    data = json.loads(done.stdout)
    for name, part in data.items():
        if not part["queries"] or not part["schema"]:
            raise Unavailable(f"{name}: the extension printed no queries or no tables")
    CACHE.mkdir(parents=True, exist_ok=True)
    tmp = QUERIES.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, ensure_ascii=False, indent=1), encoding="utf-8")
    tmp.replace(QUERIES)
    return data


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--refresh", action="store_true", help="print the queries again")
    args = parser.parse_args(argv)
    try:
        data = load(refresh=args.refresh)
    except Unavailable as exc:
        sys.exit(f"TPC queries unavailable: {exc}")
    for name, part in data.items():
        print(f"{name}: {len(part['queries'])} queries over {len(part['schema'])} tables ({QUERIES})")


if __name__ == "__main__":
    main()
