"""A small registry home with one department, for attacks on ingestion: the door and what it keeps."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import pytest
from stdnum.cn import uscc as stdnum_uscc

from ingest import IngestError, ingest_file
from pipelines.resources import landing_folder
from registry.home import Registry
from registry.load import load_valid_home
from registry.store import Store
from registry.store.loads import list_loads

HEAD = ["TYSHXYDM", "QYMC", "ZCZB"]
DATASETS = """\
datasets:
  - code: ents
    name: 企业登记信息
    name_en: Enterprises
    provider: market
    key: [TYSHXYDM]
    columns: &columns
      - {name: TYSHXYDM, element: uscc}
      - {name: QYMC, element: ent_name}
      - {name: ZCZB, element: capital}
  - code: ents_xlsx
    name: 企业登记信息（表格）
    name_en: Enterprises (workbook)
    provider: market
    format: excel
    key: [TYSHXYDM]
    columns: *columns
"""
HOME = {
    "departments.yaml": "departments:\n"
    "  - {code: market, name: 门市场监督管理局, name_en: Door Market Regulation}\n",
    "elements.yaml": """\
elements:
  - {code: uscc, name: 统一社会信用代码, name_en: Unified social credit code, required: true,
     domain: {check_digit: gb32100}, owner: market, status: standard}
  - {code: ent_name, name: 企业名称, name_en: Enterprise name, owner: market, status: standard}
  - {code: capital, name: 注册资本, name_en: Registered capital, type: currency, unit: 万元,
     owner: market, status: standard}
""",
    "datasets.yaml": DATASETS,
}


def uscc(i: int) -> str:
    body = f"91500000{i:09d}"
    return body + stdnum_uscc.calc_check_digit(body)


def rows(n: int, start: int = 0) -> list[list[str]]:
    return [[uscc(i), f"企业{i}", str(10 + i % 50)] for i in range(start, start + n)]


def csv_text(data: list[list[str]], head: bool = True) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    if head:
        writer.writerow(HEAD)
    writer.writerows(data)
    return out.getvalue()


@dataclass
class Door:
    root: Path
    registry: Registry
    store: Store
    con: duckdb.DuckDBPyConnection

    @property
    def data(self) -> Path:
        return self.root / "data"

    def landing(self, code: str) -> Path:
        folder = landing_folder(self.data, self.registry.datasets[code])
        folder.mkdir(parents=True, exist_ok=True)
        return folder

    def ingest(self, code: str, path: Path, **kwargs: Any) -> Any:
        return ingest_file(
            self.registry,
            code,
            path,
            warehouse=self.con,
            store=self.store,
            quarantine=self.data / "quarantine",
            **kwargs,
        )

    def refused(self, code: str, path: Path, **kwargs: Any) -> IngestError:
        with pytest.raises(IngestError) as caught:
            self.ingest(code, path, **kwargs)
        return caught.value

    def count(self, table: str) -> int | None:
        found = self.con.execute(
            "SELECT count(*) FROM duckdb_tables() WHERE table_name = ? AND NOT temporary", [table]
        ).fetchone()
        if not found or not found[0]:
            return None
        row = self.con.execute(f'SELECT count(*) FROM "{table}"').fetchone()
        return int(row[0]) if row else None

    def last_load(self, code: str) -> dict[str, Any]:
        return next(list_loads(self.store, dataset=code, limit=1))


def make_door(root: Path, registry_extra: str = "") -> Door:
    home = root / "home"
    home.mkdir(parents=True)
    (home / "registry.yaml").write_text(
        'registry:\n  name: 门测试市\n  name_en: Door city\n  division: "500000"\n' + registry_extra,
        encoding="utf-8",
    )
    for name, text in HOME.items():
        (home / name).write_text(text, encoding="utf-8")
    registry, _ = load_valid_home(home)
    store = Store(f"sqlite:///{root / 'store.db'}")
    store.upgrade()
    return Door(root, registry, store, duckdb.connect(str(root / "warehouse.duckdb")))
