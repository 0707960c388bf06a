"""Ingestion of departmental extracts into DuckDB: real files in every format, real stores.

Each refused extract must leave the live table exactly as it was (row count and a content
checksum), be moved to quarantine with a reason file naming its rule code, and be recorded as
``rejected`` in the metadata store. A process killed in the middle of a load must leave the old
table whole, and the next load must still work.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import xlsxwriter

from ingest import IngestError, LoadOutcome, ingest_file
from registry.codes import RULES
from registry.home import Registry
from registry.load import load_valid_home
from registry.store import Store
from registry.store.loads import list_loads
from tests.support.paths import ROOT

# --- a small bilingual registry: one department, eight elements, a dataset per format -------

REGISTRY_YAML = """\
registry:
  name: 测试市政务数据资源目录
  name_en: Test city government data registry
  division: "500000"
  settle_seconds: 0  # the tests write each file whole before they ingest it
"""

DEPARTMENTS_YAML = """\
departments:
  - code: city
    name: 测试市人民政府
    name_en: Test City People's Government
  - code: market
    name: 测试市市场监督管理局
    name_en: Test City Administration for Market Regulation
    parent: city
"""

ELEMENTS_YAML = """\
elements:
  - {code: reg_no, name: 注册号, name_en: Registration number, owner: market, status: standard}
  - code: ent_name
    name: 企业名称
    name_en: Enterprise name
    required: true
    owner: market
    status: standard
  - {code: staff, name: 从业人数, name_en: Staff, type: integer, owner: market, status: standard}
  - code: capital
    name: 注册资本
    name_en: Registered capital
    type: currency
    unit: 万元
    owner: market
    status: standard
  - code: est_date
    name: 成立日期
    name_en: Date of establishment
    type: date
    domain: {date_format: "%Y/%m/%d"}
    owner: market
    status: standard
  - code: updated_at
    name: 更新时间
    name_en: Updated at
    type: datetime
    domain: {date_format: "%Y-%m-%d %H:%M:%S"}
    owner: market
    status: standard
  - {code: active, name: 是否有效, name_en: Active, type: boolean, owner: market, status: standard}
  - {code: remark, name: 备注, name_en: Remark, owner: market, status: standard}
"""

COLUMNS_YAML = """\
    columns:
      - {name: DJH, element: reg_no}
      - {name: QYMC, element: ent_name}
      - {name: CYRS, element: staff}
      - {name: ZCZB, element: capital}
      - {name: CLRQ, element: est_date}
      - {name: GXSJ, element: updated_at}
      - {name: SFYX, element: active}
      - {name: 备注, element: remark}
"""

# code → declaration lines (format, encoding, delimiter, cast policy)
DATASETS = {
    "ent_csv": "format: csv\non_cast_error: reject",
    "ent_fail": "format: csv\non_cast_error: fail",
    "ent_sig": "format: csv\nencoding: utf-8-sig\ndelimiter: '|'",
    "ent_gbk": "format: csv\nencoding: gbk\ndelimiter: ';'",
    "ent_gb18030": "format: csv\nencoding: gb18030\ndelimiter: '|'",
    "ent_xlsx": "format: excel",
    "ent_parquet": "format: parquet",
    "ent_json": "format: json\non_cast_error: reject",
}


def datasets_yaml() -> str:
    out = ["datasets:"]
    for code, extra in DATASETS.items():
        out.append(f"  - code: {code}\n    name: 企业登记信息（{code}）\n    name_en: Enterprises ({code})")
        out.append("    provider: market\n    key: [DJH]")
        out.append(textwrap.indent(extra, "    "))
        out.append(COLUMNS_YAML.rstrip("\n"))
    return "\n".join(out) + "\n"


HEAD = ["DJH", "QYMC", "CYRS", "ZCZB", "CLRQ", "GXSJ", "SFYX", "备注"]
ROWS = [
    ["A001", "  重庆山城火锅有限公司 ", "12", " 100.50", "2020/01/02", "2021-03-04 05:06:07", "是", "  "],
    ["A002", "渝北区劳动者之家商贸部", "3", "0.01", "1999/12/31", "2000-01-01 00:00:00", "否", "个体工商户"],
    ["A003", "ACME (Chongqing) Ltd.", "0", "", "", "", "true", ""],
]
# what ROWS become in the table: trimmed, typed, empty → NULL
LOADED = [
    (
        "A001",
        "重庆山城火锅有限公司",
        12,
        Decimal("100.50"),
        date(2020, 1, 2),
        datetime(2021, 3, 4, 5, 6, 7),
        True,
        None,
    ),
    (
        "A002",
        "渝北区劳动者之家商贸部",
        3,
        Decimal("0.01"),
        date(1999, 12, 31),
        datetime(2000, 1, 1),
        False,
        "个体工商户",
    ),
    ("A003", "ACME (Chongqing) Ltd.", 0, None, None, None, True, None),
]
TYPES = {
    "reg_no": "VARCHAR",
    "ent_name": "VARCHAR",
    "staff": "BIGINT",
    "capital": "DECIMAL(18,2)",
    "est_date": "DATE",
    "updated_at": "TIMESTAMP",
    "active": "BOOLEAN",
    "remark": "VARCHAR",
}


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("home")
    files = {
        "registry.yaml": REGISTRY_YAML,
        "departments.yaml": DEPARTMENTS_YAML,
        "elements.yaml": ELEMENTS_YAML,
        "datasets.yaml": datasets_yaml(),
    }
    for name, text in files.items():
        (root / name).write_text(text, encoding="utf-8")
    return root


@pytest.fixture(scope="module")
def registry(home: Path) -> Registry:
    loaded, _warnings = load_valid_home(home)
    return loaded


@dataclass
class Env:
    registry: Registry
    con: duckdb.DuckDBPyConnection
    store: Store
    dir: Path
    quarantine: Path

    def write(self, name: str, data: bytes) -> Path:
        path = self.dir / "landing" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        return path

    def ingest(self, code: str, path: Path) -> LoadOutcome:
        return ingest_file(
            self.registry, code, path, warehouse=self.con, store=self.store, quarantine=self.quarantine
        )

    def rows(self, table: str) -> list[tuple[Any, ...]]:
        return self.con.execute(f'SELECT * FROM "{table}" ORDER BY 1').fetchall()

    def types(self, table: str) -> dict[str, str]:
        return {row[0]: row[1] for row in self.con.execute(f'DESCRIBE "{table}"').fetchall()}

    def loads(self, code: str) -> list[dict[str, Any]]:
        return list(list_loads(self.store, dataset=code))  # newest first


@pytest.fixture
def env(tmp_path: Path, registry: Registry) -> Any:
    con = duckdb.connect(str(tmp_path / "warehouse.duckdb"))
    store = Store(f"sqlite:///{tmp_path / 'store.db'}")
    yield Env(registry, con, store, tmp_path, tmp_path / "quarantine")
    con.close()


def fingerprint(con: duckdb.DuckDBPyConnection, table: str) -> tuple[int, int]:
    """Row count and an order-independent checksum of every value of every row."""
    row = con.execute(f'SELECT count(*), coalesce(sum(hash(t)), 0) FROM "{table}" t').fetchone()
    assert row is not None
    return int(row[0]), int(row[1])


def all_tables(con: duckdb.DuckDBPyConnection) -> set[str]:
    """Every table the connection sees, temporary ones included."""
    return {name for (name,) in con.execute("SELECT table_name FROM duckdb_tables()").fetchall()}


# --- writing extracts ------------------------------------------------------------------------


def csv_bytes(
    rows: list[list[str]] = ROWS, *, head: list[str] = HEAD, delimiter: str = ",", encoding: str = "utf-8"
) -> bytes:
    lines = [delimiter.join(row) for row in (head, *rows)]
    return ("\r\n".join(lines) + "\r\n").encode(encoding)


def xlsx_bytes(rows: list[list[Any]], head: list[str] = HEAD) -> bytes:
    buffer = io.BytesIO()
    book = xlsxwriter.Workbook(buffer, {"in_memory": True})
    sheet = book.add_worksheet("企业")
    day = book.add_format({"num_format": "yyyy-mm-dd"})
    moment = book.add_format({"num_format": "yyyy-mm-dd hh:mm:ss"})
    sheet.write_row(0, 0, head)
    for r, row in enumerate(rows, start=1):
        for c, value in enumerate(row):
            if isinstance(value, datetime):
                sheet.write_datetime(r, c, value, moment)
            elif isinstance(value, date):
                sheet.write_datetime(r, c, datetime(value.year, value.month, value.day), day)
            elif value is not None:
                sheet.write(r, c, value)
    book.close()
    return buffer.getvalue()


def parquet_bytes(table: pa.Table) -> bytes:
    buffer = io.BytesIO()
    pq.write_table(table, buffer)
    return buffer.getvalue()


def typed_parquet() -> pa.Table:
    return pa.table(
        {
            "DJH": ["A001", "A002", "A003"],
            "QYMC": ["  重庆山城火锅有限公司 ", "渝北区劳动者之家商贸部", "ACME (Chongqing) Ltd."],
            "CYRS": pa.array([12, 3, 0], pa.int32()),
            "ZCZB": pa.array([Decimal("100.50"), Decimal("0.01"), None], pa.decimal128(12, 2)),
            "CLRQ": pa.array([date(2020, 1, 2), date(1999, 12, 31), None], pa.date32()),
            "GXSJ": pa.array([datetime(2021, 3, 4, 5, 6, 7), datetime(2000, 1, 1), None], pa.timestamp("s")),
            "SFYX": [True, False, True],
            "备注": ["  ", "个体工商户", None],
        }
    )


def good_file(env: Env, code: str, name: str = "good") -> Path:
    """A valid extract of ``code`` in its declared format, encoding and delimiter."""
    if code == "ent_xlsx":
        return env.write(f"{name}.xlsx", xlsx_bytes(ROWS))
    if code == "ent_parquet":
        return env.write(f"{name}.parquet", parquet_bytes(typed_parquet()))
    if code == "ent_json":
        records = [dict(zip(HEAD, row, strict=True)) for row in ROWS]
        return env.write(f"{name}.json", "".join(json.dumps(r) + "\n" for r in records).encode())
    ds = env.registry.datasets[code]
    return env.write(f"{name}.csv", csv_bytes(delimiter=ds.delimiter, encoding=str(ds.encoding)))


def load_good(env: Env, code: str) -> tuple[int, int]:
    outcome = env.ingest(code, good_file(env, code))
    assert outcome.status == "loaded"
    assert env.rows(code) == LOADED
    return fingerprint(env.con, code)


def assert_refused(
    env: Env,
    code: str,
    path: Path,
    rule: str,
    *,
    line: int | None = None,
    columns: tuple[str, ...] | None = None,
    words: tuple[str, ...] = (),
) -> IngestError:
    """Ingest ``path`` expecting ``rule``; the live table, and every other table, untouched."""
    before, tables = fingerprint(env.con, code), all_tables(env.con)
    with pytest.raises(IngestError) as caught:
        env.ingest(code, path)
    error = caught.value
    assert error.rule == rule, str(error)
    assert error.dataset == code
    assert f"dataset '{code}'" in str(error)
    assert rule in str(error)
    if line is not None:
        assert error.line == line, str(error)
        assert f"{path}:{line}:" in str(error)
    if columns is not None:
        assert error.columns == columns, str(error)
    for word in (*words, *(columns or ())):
        assert word in error.message, error.message
    # quarantined, with the reason beside it
    assert not path.exists()
    assert error.quarantined_to is not None
    moved = Path(error.quarantined_to)
    assert moved.is_file()
    assert moved.parent == env.quarantine / "market" / code
    assert moved.name.endswith(path.name)
    reason = json.loads(moved.with_name(moved.name + ".reason.json").read_text(encoding="utf-8"))
    assert reason["code"] == rule
    assert reason["dataset"] == code
    assert reason["moved_from"] == str(path)
    assert reason["title"] == RULES[rule].title
    if columns is not None:
        assert tuple(reason["columns"]) == columns
    # recorded in the store
    record = env.loads(code)[0]
    assert record["status"] == "rejected"
    assert record["rule_code"] == rule
    assert record["quarantined_to"] == error.quarantined_to
    assert record["file"] == str(path)
    assert record["department"] == "market"
    # the live table exactly as before, and no staging or temporary table left behind
    assert fingerprint(env.con, code) == before
    assert all_tables(env.con) == tables
    return error


# --- loading: every format, typed, trimmed --------------------------------------------------


def test_csv_loads_typed_and_trimmed(env: Env) -> None:
    outcome = env.ingest("ent_csv", good_file(env, "ent_csv"))
    assert outcome.status == "loaded"
    assert outcome.table == "ent_csv"
    assert outcome.absent_columns == ()
    assert outcome.rejects_table is None
    assert env.types("ent_csv") == TYPES
    assert env.rows("ent_csv") == LOADED
    record = env.loads("ent_csv")[0]
    assert record["status"] == "loaded"
    assert (record["rows_in"], record["rows_loaded"], record["rows_rejected"]) == (3, 3, 0)
    assert record["cast_failures"] == {}
    assert len(record["sha256"]) == 64
    comment = env.con.execute("SELECT comment FROM duckdb_tables() WHERE table_name = 'ent_csv'").fetchone()
    assert comment is not None and "企业登记信息" in comment[0]


def test_utf8_sig_with_bom_full_width_and_spaced_headers(env: Env) -> None:
    head = ["ＤＪＨ ", " ＱＹＭＣ", "CYRS  ", "ＺＣＺＢ", "CLRQ", "GXSJ", "SFYX\u3000", " 备注 "]
    data = csv_bytes(head=head, delimiter="|", encoding="utf-8-sig")
    assert data.startswith(b"\xef\xbb\xbf")
    outcome = env.ingest("ent_sig", env.write("bom.csv", data))
    assert outcome.status == "loaded"
    assert env.types("ent_sig") == TYPES
    assert env.rows("ent_sig") == LOADED


def test_plain_utf8_dataset_tolerates_a_bom(env: Env) -> None:
    outcome = env.ingest("ent_csv", env.write("bom.csv", b"\xef\xbb\xbf" + csv_bytes()))
    assert outcome.status == "loaded"
    assert env.rows("ent_csv") == LOADED


@pytest.mark.parametrize(
    ("code", "encoding", "names"),
    [
        ("ent_gbk", "gbk", ["重庆市渝中区解放碑商贸有限公司", "江北区观音桥步行街（个体）", "綦江区"]),
        # characters beyond GBK: CJK extension A and B, and a character new in GB18030-2005
        ("ent_gb18030", "gb18030", ["镕䶮科技有限公司", "𠀀𠀁贸易商行", "€欧元兑换点"]),
    ],
)
def test_chinese_encodings_round_trip_exactly(env: Env, code: str, encoding: str, names: list[str]) -> None:
    rows = [
        [f"C{i}", name, "1", "2.50", "2024/02/29", "2024-02-29 23:59:59", "否", f"备注：{name}"]
        for i, name in enumerate(names)
    ]
    data = csv_bytes(rows, delimiter=env.registry.datasets[code].delimiter, encoding=encoding)
    with pytest.raises(UnicodeDecodeError):
        data.decode("utf-8")  # really not UTF-8
    outcome = env.ingest(code, env.write(f"{encoding}.csv", data))
    assert outcome.status == "loaded"
    assert env.types(code) == TYPES
    got = env.con.execute(f"SELECT ent_name, remark, est_date, active FROM {code} ORDER BY reg_no").fetchall()
    assert got == [(name, f"备注：{name}", date(2024, 2, 29), False) for name in names]


def test_excel_loads_typed_cells_and_text_cells(env: Env) -> None:
    rows: list[list[Any]] = [
        # cells typed by Excel: numbers, dates, datetimes, booleans
        ["A001", " 重庆山城火锅有限公司 ", 12, 100.5, date(2020, 1, 2), datetime(2021, 3, 4, 5, 6, 7), True],
        # the same kinds of value typed in as text
        [
            "A002",
            "渝北区劳动者之家商贸部",
            "3",
            "0.01",
            "1999/12/31",
            "2000-01-01 00:00:00",
            "否",
            "个体工商户",
        ],
        [None] * 8,  # a blank row between data rows is skipped
        ["A003", "ACME (Chongqing) Ltd.", 0, None, None, None, "true"],
    ]
    head = ["ＤＪＨ", "QYMC ", *HEAD[2:]]
    outcome = env.ingest("ent_xlsx", env.write("企业.xlsx", xlsx_bytes(rows, head)))
    assert outcome.status == "loaded"
    assert outcome.record.cast_failures == {}
    assert env.types("ent_xlsx") == TYPES
    assert env.rows("ent_xlsx") == LOADED


def test_excel_blank_cells_beyond_the_header_are_not_columns(env: Env) -> None:
    buffer = io.BytesIO()
    book = xlsxwriter.Workbook(buffer, {"in_memory": True})
    sheet = book.add_worksheet()
    sheet.write_row(0, 0, HEAD)
    for r, row in enumerate(ROWS, start=1):
        sheet.write_row(r, 0, row)
    sheet.write_blank(2, 12, None, book.add_format({"bg_color": "yellow"}))  # a stray formatted cell
    book.close()
    outcome = env.ingest("ent_xlsx", env.write("stray.xlsx", buffer.getvalue()))
    assert outcome.status == "loaded"
    assert env.rows("ent_xlsx") == LOADED


def test_parquet_loads_typed_columns(env: Env) -> None:
    outcome = env.ingest("ent_parquet", good_file(env, "ent_parquet"))
    assert outcome.status == "loaded"
    assert env.types("ent_parquet") == TYPES
    assert env.rows("ent_parquet") == LOADED


def test_parquet_of_text_columns_is_cast_by_the_element_formats(env: Env) -> None:
    table = pa.table({name: [row[i] for row in ROWS] for i, name in enumerate(HEAD)})
    outcome = env.ingest("ent_parquet", env.write("text.parquet", parquet_bytes(table)))
    assert outcome.status == "loaded"
    assert outcome.record.cast_failures == {}
    assert env.rows("ent_parquet") == LOADED


def test_json_lines_load_with_mixed_value_types(env: Env) -> None:
    records = [
        {"DJH": "A001", "QYMC": " 重庆山城火锅有限公司", "CYRS": 12, "ZCZB": 100.5, "CLRQ": "2020/01/02",
         "GXSJ": "2021-03-04 05:06:07", "SFYX": "是", "备注": " "},
        {"DJH": "A002", "QYMC": "渝北区劳动者之家商贸部", "CYRS": "3", "ZCZB": "0.01", "CLRQ": "1999/12/31",
         "GXSJ": "2000-01-01 00:00:00", "SFYX": False, "备注": "个体工商户"},
        {"DJH": "A003", "QYMC": "ACME (Chongqing) Ltd.", "CYRS": 0, "ZCZB": None, "CLRQ": None,
         "GXSJ": None, "SFYX": True},
    ]  # fmt: skip
    data = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records).encode()
    outcome = env.ingest("ent_json", env.write("企业.json", data))
    assert outcome.status == "loaded"
    assert outcome.record.cast_failures == {}
    assert env.types("ent_json") == TYPES
    assert env.rows("ent_json") == LOADED


def test_optional_column_absent_loads_as_nulls(env: Env) -> None:
    rows = [row[:7] for row in ROWS]
    outcome = env.ingest("ent_csv", env.write("no_remark.csv", csv_bytes(rows, head=HEAD[:7])))
    assert outcome.status == "loaded"
    assert outcome.absent_columns == ("备注",)
    assert env.types("ent_csv") == TYPES
    assert env.rows("ent_csv") == [(*row[:7], None) for row in LOADED]


# --- cast failures: set aside with their lines, or the load fails ---------------------------


def test_cast_failures_are_rejected_with_lines_and_counted(env: Env) -> None:
    rows = [
        ["A001", "甲", "x12", "1.00", "2020/01/02", "2021-01-01 00:00:00", "是", ""],  # line 2: integer
        ["A002", "乙", "3", "2.00", "2020-01-03", "2021-01-01 00:00:00", "否", ""],  # line 3: date format
        ["A003", "丙", "4", "3.00", "2020/01/04", "2021-01-01 00:00:00", "也许", ""],  # line 4: boolean
        ["A004", "丁", "5", "四", "2020/01/05", "2021-01-01 00:00:00", "是", ""],  # line 5: currency
        ["A005", "戊", "6", "5.00", "2020/01/06", "2021-01-01 00:00:00", "已", ""],  # good
        ["A006", "己", "7", "6.00", "2020/01/07", "2021-01-01 00:00:00", "否", ""],  # good
    ]
    outcome = env.ingest("ent_csv", env.write("casts.csv", csv_bytes(rows)))
    assert outcome.status == "loaded"
    assert outcome.rejects_table == "ent_csv__rejects"
    record = outcome.record
    assert record.cast_failures == {"CYRS": 1, "CLRQ": 1, "SFYX": 1, "ZCZB": 1}
    assert (record.rows_in, record.rows_loaded, record.rows_rejected) == (6, 2, 4)
    assert record.rows_in == record.rows_loaded + record.rows_rejected  # never silently dropped
    assert [r[0] for r in env.rows("ent_csv")] == ["A005", "A006"]
    assert env.con.execute("SELECT count(*) FROM ent_csv").fetchone() == (record.rows_loaded,)
    stored = env.loads("ent_csv")[0]
    assert stored["cast_failures"] == record.cast_failures
    assert (stored["rows_in"], stored["rows_loaded"], stored["rows_rejected"]) == (6, 2, 4)
    rejects = env.con.execute(
        "SELECT load_id, file, line, source_column, element, error, value, record "
        "FROM ent_csv__rejects ORDER BY source_column"
    ).fetchall()
    assert {r[0] for r in rejects} == {record.load_id}
    assert {r[1] for r in rejects} == {str(env.dir / "landing" / "casts.csv")}
    by_column = {r[3]: r for r in rejects}
    assert set(by_column) == {"CYRS", "CLRQ", "SFYX", "ZCZB"}
    # the CSV reader's own casts keep the line and the whole line's text
    assert by_column["CYRS"][2] == 2 and by_column["CYRS"][4] == "staff" and "x12" in by_column["CYRS"][5]
    assert by_column["CYRS"][7].startswith("A001,甲,x12,")
    assert by_column["CLRQ"][2] == 3 and "2020-01-03" in by_column["CLRQ"][5]
    assert by_column["ZCZB"][2] == 5 and "四" in by_column["ZCZB"][5]
    # casts in the SELECT keep the value and the row's key
    assert by_column["SFYX"][6] == "也许" and json.loads(by_column["SFYX"][7]) == {"reg_no": "A003"}
    # a second load appends, with its own load id
    again = env.ingest("ent_csv", env.write("casts2.csv", csv_bytes([rows[0], rows[4]])))
    assert again.record.rows_rejected == 1
    count = env.con.execute("SELECT count(*), count(DISTINCT load_id) FROM ent_csv__rejects").fetchone()
    assert count == (5, 2)


def test_json_cast_failures_are_rejected_with_values(env: Env) -> None:
    records = [
        {"DJH": "J1", "QYMC": "甲", "CYRS": "十二", "SFYX": "是"},
        {"DJH": "J2", "QYMC": "乙", "CYRS": 3, "SFYX": "否"},
    ]
    data = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records).encode()
    outcome = env.ingest("ent_json", env.write("bad.json", data))
    assert outcome.record.cast_failures == {"CYRS": 1}
    assert (outcome.record.rows_in, outcome.record.rows_loaded, outcome.record.rows_rejected) == (2, 1, 1)
    assert env.con.execute("SELECT reg_no, staff, active FROM ent_json").fetchall() == [("J2", 3, False)]
    assert env.con.execute("SELECT value, record FROM ent_json__rejects").fetchall() == [
        ("十二", '{"reg_no":"J1"}')
    ]


@pytest.mark.parametrize(
    ("bad", "column", "line"),
    [
        (["A002", "乙", "2x", "2.50", "2020/01/03", "2021-01-01 00:00:00", "否", ""], "CYRS", 3),
        (["A002", "乙", "2", "2.50", "2020/01/03", "2021-01-01 00:00:00", "不知道", ""], "SFYX", None),
    ],
    ids=["reader-cast", "select-cast"],
)
def test_cast_failure_fails_the_load_when_declared(
    env: Env, bad: list[str], column: str, line: int | None
) -> None:
    load_good(env, "ent_fail")
    rows = [ROWS[0], bad, ROWS[2]]
    path = env.write("cast_fail.csv", csv_bytes(rows))
    error = assert_refused(env, "ent_fail", path, "ING005", line=line, columns=(column,))
    assert f"{column}: 1" in error.message
    assert "ent_fail__rejects" not in all_tables(env.con)


# --- refused at the door ---------------------------------------------------------------------

GOOD_LINE = "A009,庚,9,9.00,2020/01/09,2021-01-01 00:00:00,是,"
CSV_HEAD = ",".join(HEAD)


def _text(*lines: str, encoding: str = "utf-8") -> bytes:
    return ("\n".join(lines) + "\n").encode(encoding)


def _parquet_cut(env: Env) -> bytes:
    data = parquet_bytes(pa.concat_tables([typed_parquet()] * 200))
    return data[: len(data) // 2]


# (id, dataset, file name, bytes, rule, line, columns, words in the message)
REFUSALS: list[tuple[str, str, str, Any, str, int | None, tuple[str, ...] | None, tuple[str, ...]]] = [
    (
        "too-many-fields",
        "ent_csv",
        "many.csv",
        lambda env: _text(CSV_HEAD, GOOD_LINE, GOOD_LINE + ",多余", GOOD_LINE.replace("A009", "A010")),
        "ING004",
        3,
        None,
        ("Found: 9",),
    ),
    (
        "too-few-fields",
        "ent_csv",
        "few.csv",
        lambda env: _text(CSV_HEAD, GOOD_LINE, GOOD_LINE.replace("A009", "A010"), "A011,辛,1"),
        "ING004",
        4,
        None,
        ("Found: 3",),
    ),
    (
        "utf8-declared-gbk",
        "ent_gbk",
        "utf8.csv",
        lambda env: csv_bytes(delimiter=";", encoding="utf-8"),
        "ING003",
        1,
        None,
        ("gbk", "UTF-8"),
    ),
    (
        "gbk-declared-utf8",
        "ent_csv",
        "gbk_rows.csv",
        lambda env: _text(
            ",".join(HEAD[:7]), "A1,重庆火锅,1,1.00,2020/01/02,2021-01-01 00:00:00,是", encoding="gbk"
        ),
        "ING003",
        2,
        None,
        ("unicode",),
    ),
    (
        "gbk-header-declared-utf8",
        "ent_csv",
        "gbk_head.csv",
        lambda env: csv_bytes(encoding="gbk"),
        "ING003",
        1,
        None,
        ("UTF-8",),
    ),
    (
        "unregistered-column",
        "ent_csv",
        "unknown.csv",
        lambda env: _text(CSV_HEAD + ",FRXM", GOOD_LINE + ",张三"),
        "ING001",
        1,
        ("FRXM",),
        ("no registered element",),
    ),
    (
        "unregistered-column-parquet",
        "ent_parquet",
        "unknown.parquet",
        lambda env: parquet_bytes(
            typed_parquet().append_column("法人姓名", pa.array(["张三", "李四", "王五"]))
        ),
        "ING001",
        None,
        ("法人姓名",),
        (),
    ),
    (
        "missing-required-column",
        "ent_csv",
        "no_name.csv",
        lambda env: csv_bytes(
            [[v for i, v in enumerate(r) if i != 1] for r in ROWS], head=HEAD[:1] + HEAD[2:]
        ),
        "ING002",
        1,
        ("QYMC",),
        ("required",),
    ),
    (
        "missing-key-column-excel",
        "ent_xlsx",
        "no_key.xlsx",
        lambda env: xlsx_bytes([r[1:] for r in ROWS], HEAD[1:]),
        "ING002",
        1,
        ("DJH",),
        (),
    ),
    (
        "column-named-twice",
        "ent_csv",
        "twice.csv",
        lambda env: _text(CSV_HEAD + ",ＱＹＭＣ", GOOD_LINE + ",庚"),
        "ING007",
        1,
        ("QYMC",),
        (),
    ),
    ("empty-file", "ent_csv", "empty.csv", lambda env: b"", "ING006", 1, None, ("empty",)),
    (
        "header-only",
        "ent_csv",
        "header.csv",
        lambda env: _text(CSV_HEAD),
        "ING006",
        2,
        None,
        ("no data rows",),
    ),
    (
        "header-only-excel",
        "ent_xlsx",
        "header.xlsx",
        lambda env: xlsx_bytes([]),
        "ING006",
        2,
        None,
        (),
    ),
    ("truncated-parquet", "ent_parquet", "cut.parquet", _parquet_cut, "ING004", None, None, ()),
    (
        "truncated-xlsx",
        "ent_xlsx",
        "cut.xlsx",
        lambda env: xlsx_bytes(ROWS)[:1000],
        "ING004",
        None,
        None,
        ("xlsx",),
    ),
    (
        "ragged-excel-row",
        "ent_xlsx",
        "ragged.xlsx",
        lambda env: xlsx_bytes([ROWS[0], [*ROWS[1], "多余"]]),
        "ING004",
        3,
        None,
        ("9 cells",),
    ),
    (
        "truncated-gb18030",
        "ent_gb18030",
        "cut.csv",
        lambda env: csv_bytes(ROWS[:2], delimiter="|", encoding="gb18030").rstrip(b"\r\n")[:-1],
        "ING003",
        None,
        None,
        ("gb18030",),
    ),
    (
        "invalid-gbk-bytes",
        "ent_gbk",
        "bad_bytes.csv",
        lambda env: csv_bytes(ROWS[:1], delimiter=";", encoding="gbk") + b"A9;\xff\xfe;1;1;;;;\r\n",
        "ING003",
        3,
        None,
        ("not valid gbk",),
    ),
]


@pytest.mark.parametrize(
    ("code", "name", "make", "rule", "line", "columns", "words"),
    [case[1:] for case in REFUSALS],
    ids=[case[0] for case in REFUSALS],
)
def test_refused_extract_leaves_the_table_untouched(
    env: Env,
    code: str,
    name: str,
    make: Any,
    rule: str,
    line: int | None,
    columns: tuple[str, ...] | None,
    words: tuple[str, ...],
) -> None:
    before = load_good(env, code)
    path = env.write(name, make(env))
    assert_refused(env, code, path, rule, line=line, columns=columns, words=words)
    assert env.rows(code) == LOADED
    assert fingerprint(env.con, code) == before
    statuses = [r["status"] for r in env.loads(code)]
    assert statuses == ["rejected", "loaded"]


def test_a_refused_first_extract_creates_no_table(env: Env) -> None:
    path = env.write("unknown.csv", _text(CSV_HEAD + ",FRXM", GOOD_LINE + ",张三"))
    with pytest.raises(IngestError) as caught:
        env.ingest("ent_csv", path)
    assert caught.value.rule == "ING001"
    assert all_tables(env.con) == set()


def test_every_ingestion_code_is_exercised() -> None:
    exercised = {case[4] for case in REFUSALS} | {"ING005"}  # ING005: test_cast_failure_fails_the_load
    # ING009 (zip bomb), ING010 (link), ING011 (incomplete), ING012 (every row set aside) are
    # asserted by the attacks on the door and the quality gate
    attacks = ROOT / "tests" / "attacks"
    asserted = " ".join(f.read_text(encoding="utf-8") for f in attacks.glob("test_*.py"))
    exercised |= {
        code for code in RULES if f'rule == "{code}"' in asserted or f'code == "{code}"' in asserted
    }
    # ING008 (no extract to ingest) is raised by the Dagster asset layer, never by ingest_file
    expected = {code for code in RULES if code.startswith("ING")} - {"ING008"}
    assert expected - exercised == set()


# --- the same content twice -------------------------------------------------------------------


def test_duplicate_submission_is_recorded_and_changes_nothing(env: Env) -> None:
    first = env.ingest("ent_csv", good_file(env, "ent_csv", "企业_20240101"))
    before, tables = fingerprint(env.con, "ent_csv"), all_tables(env.con)
    same = env.ingest("ent_csv", good_file(env, "ent_csv", "企业_20240101"))
    renamed = env.ingest("ent_csv", good_file(env, "ent_csv", "renamed"))
    for outcome in (same, renamed):
        assert outcome.status == "duplicate"
        assert outcome.record.sha256 == first.record.sha256
        assert outcome.record.rows_loaded == 0
        assert first.record.load_id in (outcome.record.reason or "")
    assert Path(renamed.record.file).exists()  # a duplicate is not quarantined
    assert fingerprint(env.con, "ent_csv") == before
    assert all_tables(env.con) == tables
    records = env.loads("ent_csv")
    assert [r["status"] for r in records] == ["duplicate", "duplicate", "loaded"]
    assert records[0]["file"].endswith("renamed.csv")
    assert not env.quarantine.exists()
    # other content of the same size is not a duplicate
    changed = csv_bytes().replace(b"A003", b"A004")
    other = env.ingest("ent_csv", env.write("other.csv", changed))
    assert other.status == "loaded"
    assert [r[0] for r in env.rows("ent_csv")] == ["A001", "A002", "A004"]


def test_duplicate_of_a_dropped_table_loads_again(env: Env) -> None:
    env.ingest("ent_csv", good_file(env, "ent_csv"))
    env.con.execute("DROP TABLE ent_csv")
    outcome = env.ingest("ent_csv", good_file(env, "ent_csv"))
    assert outcome.status == "loaded"
    assert env.rows("ent_csv") == LOADED


# --- a process killed in the middle of a load ---------------------------------------------

KILL_SCRIPT = """\
import sys, time
from pathlib import Path

import duckdb

from ingest import ingest_file
from registry.load import load_valid_home
from registry.store import Store

home, database, store_url, quarantine, extract, phase, marker = sys.argv[1:]
registry, _ = load_valid_home(home)


def fault(at):
    Path(marker + "." + at).write_text(at)
    if at == phase == "swap":
        time.sleep(600)


con = duckdb.connect(database)
con.execute("SET threads = 1")
ingest_file(registry, "ent_csv", Path(extract), warehouse=con, store=Store(store_url),
            quarantine=Path(quarantine), fault=fault)
Path(marker + ".done").write_text("done")
"""

BIG_ROWS = 600_000


def write_big_csv(path: Path) -> None:
    duckdb.sql(
        f"""COPY (SELECT 'B' || lpad(i::VARCHAR, 7, '0') AS DJH, '企业' || i AS QYMC, i % 500 AS CYRS,
        printf('%d.%02d', i % 100000, i % 100) AS ZCZB,
        strftime(DATE '2000-01-01' + (i % 9000)::INTEGER, '%Y/%m/%d') AS CLRQ,
        strftime(TIMESTAMP '2020-01-01' + to_seconds(i), '%Y-%m-%d %H:%M:%S') AS GXSJ,
        CASE WHEN i % 2 = 0 THEN '是' ELSE '否' END AS SFYX, '' AS 备注
        FROM range({BIG_ROWS}) t(i)) TO '{path}' (HEADER, DELIMITER ',')"""
    )


def wait_for(path: Path, proc: subprocess.Popen[bytes], timeout: float = 600) -> None:
    """Wait on the event (the marker file), not a budget: the ceiling only stops a hung loader."""
    deadline = time.monotonic() + timeout
    while not path.exists():
        if proc.poll() is not None:
            raise AssertionError(f"the loader ended before {path.name}: {proc.stderr.read().decode()}")  # type: ignore[union-attr]
        assert time.monotonic() < deadline, f"no {path.name} within {timeout}s"
        time.sleep(0.005)


@pytest.mark.parametrize("phase", ["swap", "staging"])
def test_killed_load_leaves_the_old_table_whole(
    tmp_path: Path, home: Path, registry: Registry, phase: str
) -> None:
    database, store_url = tmp_path / "warehouse.duckdb", f"sqlite:///{tmp_path / 'store.db'}"
    quarantine = tmp_path / "quarantine"
    env = Env(registry, duckdb.connect(str(database)), Store(store_url), tmp_path, quarantine)
    before = load_good(env, "ent_csv")
    env.con.close()  # one writing process per database file: the loader's turn

    big = tmp_path / "big.csv"
    write_big_csv(big)
    script = tmp_path / "loader.py"
    script.write_text(KILL_SCRIPT, encoding="utf-8")
    marker = tmp_path / "marker"
    args = [str(home), str(database), store_url, str(quarantine), str(big), phase, str(marker)]
    proc = subprocess.Popen(
        [sys.executable, str(script), *args],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        wait_for(Path(f"{marker}.{phase}"), proc)
        if phase == "staging":
            time.sleep(0.15)  # into the CREATE TABLE of 600k rows (about a second on one thread)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        if proc.stderr:
            proc.stderr.close()
    assert proc.returncode == -signal.SIGKILL
    assert not Path(f"{marker}.done").exists()
    if phase == "staging":
        assert not Path(f"{marker}.swap").exists(), "the kill came after staging; make the file bigger"

    con = duckdb.connect(str(database))
    try:
        env = Env(registry, con, Store(store_url), tmp_path, quarantine)
        assert fingerprint(con, "ent_csv") == before
        assert env.rows("ent_csv") == LOADED
        assert env.types("ent_csv") == TYPES
        leftovers = {t for t in all_tables(con) if "ent_csv" in t} - {"ent_csv"}
        if phase == "staging":
            assert leftovers == set()  # the half-built staging table was never committed
        else:  # a staging table fully built but never swapped in may remain
            assert leftovers <= {"__staging_ent_csv"}
            if leftovers:
                assert fingerprint(con, "__staging_ent_csv")[0] == BIG_ROWS
        assert [r["status"] for r in env.loads("ent_csv")] == ["loaded"]  # the killed load wrote nothing

        # the next load works, over any stale staging table
        rows = [["N001", "新企业", "1", "1.00", "2024/01/01", "2024-01-01 08:00:00", "是", ""]]
        outcome = env.ingest("ent_csv", env.write("next.csv", csv_bytes(rows)))
        assert outcome.status == "loaded"
        assert [r[0] for r in env.rows("ent_csv")] == ["N001"]
        assert {t for t in all_tables(con) if "ent_csv" in t} == {"ent_csv"}
        # and the big file, loaded whole this time
        shutil.copy(big, tmp_path / "big2.csv")
        whole = env.ingest("ent_csv", tmp_path / "big2.csv")
        assert whole.record.rows_loaded == BIG_ROWS
        assert fingerprint(con, "ent_csv")[0] == BIG_ROWS
    finally:
        con.close()
