"""The synthetic extract generator: formats, determinism, join coherence and exact defect counts."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
import textwrap
import time
from datetime import date, datetime
from pathlib import Path
from typing import Any

import numpy as np
import openpyxl
import pyarrow.parquet as pq
import pytest

from examples.generator import DEFECT_RATES, dataset_rows, generate
from examples.generator import identifiers as ids
from examples.generator.core import EXCEL_MAX_ROWS
from registry.checkdigit import is_valid
from registry.home import Registry
from registry.load import load_home
from registry.vocab import DataType

TODAY = date(2025, 6, 1)

DECLARATIONS = textwrap.dedent("""
    departments:
      - {code: market, name: 市场监督管理局, name_en: Market regulation}
      - {code: tax, name: 税务局, name_en: Taxation}
    codelists:
      - code: gbt2260
        name: 行政区划代码
        name_en: Division codes
        values:
          - {value: "500103", label: 渝中区}
          - {value: "500105", label: 江北区}
          - {value: "500112", label: 渝北区}
          - {value: "500110", label: 万盛区, valid_to: 2011-10-01}
      - code: gender
        name: 性别
        name_en: Gender
        values:
          - {value: "1", label: 男}
          - {value: "2", label: 女}
    elements:
      - {code: uscc, name: 统一社会信用代码, name_en: Unified social credit code, owner: market,
         required: true, domain: {check_digit: gb32100, length: 18}}
      - {code: ent_name, name: 企业名称, name_en: Enterprise name, owner: market, required: true}
      - {code: org_code, name: 组织机构代码, name_en: Organisation code, owner: market,
         domain: {check_digit: gb11714}}
      - {code: legal_rep, name: 法定代表人, name_en: Legal representative, owner: market}
      - {code: rep_id, name: 法定代表人身份证号, name_en: Representative ID number, owner: market,
         required: true, domain: {check_digit: gb11643}}
      - {code: gender, name: 性别代码, name_en: Gender code, owner: market, domain: {code_list: gender}}
      - {code: division, name: 登记机关区划, name_en: Registration division, owner: market,
         required: true, domain: {code_list: gbt2260}}
      - {code: address, name: 住所, name_en: Address, owner: market, domain: {max_length: 40}}
      - {code: phone, name: 联系电话, name_en: Phone, owner: market}
      - {code: est_date, name: 成立日期, name_en: Establishment date, owner: market, type: date,
         domain: {date_format: "%Y%m%d"}}
      - {code: capital, name: 注册资本, name_en: Registered capital, owner: market, type: currency,
         domain: {min: 0, max: 100000000}}
      - {code: status, name: 登记状态, name_en: Status, owner: market, required: true,
         domain: {codes: ["1", "2", "3"]}}
      - {code: reg_no, name: 注册号, name_en: Registration number, owner: market,
         domain: {pattern: "^5001[0-9]{2}6[0-9]{8}$"}}
      - {code: tax_year, name: 纳税年度, name_en: Tax year, owner: tax, type: integer,
         domain: {min: 2015, max: 2024}}
      - {code: tax_amount, name: 税额, name_en: Tax amount, owner: tax, type: currency, domain: {min: 0}}
      - {code: active, name: 是否有效, name_en: Active, owner: tax, type: boolean}
    datasets:
      - code: ent_reg
        name: 企业登记
        name_en: Enterprise registration
        provider: market
        classification: basic
        format: csv
        encoding: gbk
        key: [uscc]
        columns:
          - {name: 统一社会信用代码, element: uscc}
          - {name: 企业名称, element: ent_name}
          - {name: 组织机构代码, element: org_code}
          - {name: 法定代表人, element: legal_rep}
          - {name: 法人身份证号, element: rep_id}
          - {name: 性别, element: gender}
          - {name: 登记机关, element: division}
          - {name: 住所, element: address}
          - {name: 联系电话, element: phone}
          - {name: 成立日期, element: est_date}
          - {name: 注册资本, element: capital}
          - {name: 状态, element: status}
          - {name: 注册号, element: reg_no}
      - code: tax_reg
        name: 纳税登记
        name_en: Tax registration
        provider: tax
        format: parquet
        key: [uscc, tax_year]
        columns:
          - {name: NSRSBH, element: uscc}
          - {name: ND, element: tax_year}
          - {name: SE, element: tax_amount}
          - {name: YX, element: active}
      - code: tax_xls
        name: 纳税明细
        name_en: Tax detail
        provider: tax
        format: excel
        sheet: 明细
        columns:
          - {name: 信用代码, element: uscc}
          - {name: 企业名称, element: ent_name}
          - {name: 税额, element: tax_amount}
      - code: ent_json
        name: 企业快照
        name_en: Enterprise snapshot
        provider: market
        classification: thematic
        format: json
        encoding: utf-8-sig
        landing: landing/market/snapshots
        key: [status]
        columns:
          - {name: uscc, element: uscc}
          - {name: status, element: status}
          - {name: est, element: est_date}
      - code: ent_psv
        name: 企业区划
        name_en: Enterprise divisions
        provider: market
        format: csv
        encoding: gb18030
        delimiter: "|"
        columns:
          - {name: 代码, element: uscc, required: false}
          - {name: 区划, element: division}
""")


def make_registry(tmp: Path, text: str = DECLARATIONS) -> Registry:
    home = tmp / "home"
    home.mkdir(parents=True, exist_ok=True)
    (home / "registry.yaml").write_text("registry: {name: test, division: '500000'}\n", encoding="utf-8")
    (home / "declarations.yaml").write_text(text, encoding="utf-8")
    registry, problems = load_home(home)
    assert not problems, problems
    return registry


def read_back(path: Path, fmt: str, encoding: str, delimiter: str) -> tuple[list[str], list[list[Any]]]:
    """Header and rows of a written extract, with empty cells as None and numbers as text."""
    if fmt == "csv":
        raw = path.read_bytes()
        assert raw.startswith(b"\xef\xbb\xbf") == (encoding == "utf-8-sig")
        rows = list(csv.reader(io.StringIO(raw.decode(encoding)), delimiter=delimiter))
        return rows[0], [[v if v != "" else None for v in row] for row in rows[1:]]
    if fmt == "parquet":
        table = pq.read_table(path)
        columns = [[None if v is None else str(v) for v in c.to_pylist()] for c in table.columns]
        return table.column_names, [list(r) for r in zip(*columns, strict=True)]
    if fmt == "excel":
        sheet = openpyxl.load_workbook(path, read_only=True).worksheets[0]
        values = list(sheet.iter_rows(values_only=True))
        return list(values[0]), [[None if v is None else str(v) for v in row] for row in values[1:]]
    text = path.read_bytes().decode(encoding)
    records = [json.loads(line) for line in text.splitlines() if line]
    header = list(records[0])
    return header, [[None if r[h] is None else str(r[h]) for h in header] for r in records]


def allowed(registry: Registry, element: str) -> set[str] | None:
    domain = registry.elements[element].domain
    if domain.codes is not None:
        return set(domain.codes)
    if domain.code_list is not None:
        return {v.value for v in registry.codelists[domain.code_list].values}
    return None


def domain_breaks(element: Any, values: list[Any]) -> dict[str, int]:
    """Values breaking the pattern, range, length and date format of an element, as the standards judge."""
    d, present = element.domain, [v for v in values if v is not None]
    out: dict[str, int] = {}
    if d.pattern is not None and element.type.is_text:
        out["pattern"] = sum(re.search(d.pattern, v) is None for v in present)
    if (d.min is not None or d.max is not None) and element.type.is_numeric:
        out["range"] = sum(
            (d.min is not None and float(v) < d.min) or (d.max is not None and float(v) > d.max)
            for v in present
        )
    if d.length is not None:
        out["length"] = sum(len(v) != d.length for v in present)
    elif d.min_length is not None or d.max_length is not None:
        out["length"] = sum(
            (d.min_length is not None and len(v) < d.min_length)
            or (d.max_length is not None and len(v) > d.max_length)
            for v in present
        )
    if d.date_format is not None:

        def bad(v: str) -> bool:
            try:
                datetime.strptime(v, d.date_format)
            except ValueError:
                return True
            return False

        out["date_format"] = sum(bad(v) for v in present)
    return out


def recount(registry: Registry, code: str, header: list[str], rows: list[list[Any]]) -> dict[str, Any]:
    """Count every defect type from the file's values alone, as a quality check would."""
    ds = registry.datasets[code]
    columns: dict[str, dict[str, int]] = {}
    for i, column in enumerate(ds.columns):
        values = [row[i] for row in rows]
        domain = registry.elements[column.element].domain
        counts = {}
        if registry.column_required(ds, i):
            counts["null"] = sum(v is None for v in values)
        if domain.check_digit is not None:
            counts["check_digit"] = sum(v is not None and not is_valid(domain.check_digit, v) for v in values)
        codes = allowed(registry, column.element)
        if codes is not None:
            counts["out_of_domain"] = sum(v is not None and v not in codes for v in values)
        for kind, n in domain_breaks(registry.elements[column.element], values).items():
            if n:  # the generator names a domain defect only where it injected one
                counts[kind] = n
        if counts:
            columns[column.name] = counts
    out: dict[str, Any] = {"columns": columns}
    key = [i for i, c in enumerate(ds.columns) if c.name in ds.key or c.element in ds.key]
    if key:
        keys = [tuple(row[i] for i in key) for row in rows]
        complete = [k for k in keys if None not in k]
        out["duplicate_key"] = len(complete) - len(set(complete))
    # a value of a date column that is no date: ingestion sets its whole row aside
    elements = [registry.elements[c.element] for c in ds.columns]
    dated = [
        i
        for i, c in enumerate(ds.columns)
        if registry.elements[c.element].type in (DataType.DATE, DataType.DATETIME)
    ]
    set_aside = sum(
        any(
            row[i] is not None and bool(domain_breaks(elements[i], [row[i]]).get("date_format"))
            for i in dated
        )
        for row in rows
    )
    if set_aside:
        out["set_aside"] = set_aside
    return out


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> tuple[Registry, Path, dict[str, Any]]:
    tmp = tmp_path_factory.mktemp("gen")
    registry = make_registry(tmp)
    out = tmp / "out"
    generate(registry, out, rows=6000, seed=11, today=TODAY)
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    return registry, out, manifest


def test_manifest_counts_equal_recounted_defects(generated: tuple[Registry, Path, dict[str, Any]]) -> None:
    registry, out, manifest = generated
    assert set(manifest["datasets"]) == set(registry.datasets)
    for code, entry in manifest["datasets"].items():
        ds = registry.datasets[code]
        path = out / entry["file"]
        assert hashlib.sha256(path.read_bytes()).hexdigest() == entry["sha256"]
        header, rows = read_back(path, entry["format"], entry["encoding"], entry["delimiter"])
        assert header == [c.name for c in ds.columns]
        assert len(rows) == entry["rows"]
        assert recount(registry, code, header, rows) == entry["defects"], code


def test_defects_are_injected_at_the_documented_rates(
    generated: tuple[Registry, Path, dict[str, Any]],
) -> None:
    _, _, manifest = generated
    reg = manifest["datasets"]["ent_reg"]
    n = reg["rows"]
    assert n == 6000
    columns = reg["defects"]["columns"]
    assert columns["统一社会信用代码"] == {"null": 18, "check_digit": 30}
    assert columns["性别"] == {"out_of_domain": round(DEFECT_RATES["out_of_domain"] * n)}
    assert reg["defects"]["duplicate_key"] == 6
    assert "法定代表人" not in columns  # optional, no domain: nothing to count


def test_files_follow_declared_layout(generated: tuple[Registry, Path, dict[str, Any]]) -> None:
    _, out, manifest = generated
    files = {code: entry["file"] for code, entry in manifest["datasets"].items()}
    assert files == {
        "ent_reg": "landing/market/ent_reg/ent_reg.csv",
        "tax_reg": "landing/tax/tax_reg/tax_reg.parquet",
        "tax_xls": "landing/tax/tax_xls/tax_xls.xlsx",
        "ent_json": "landing/market/snapshots/ent_json.json",
        "ent_psv": "landing/market/ent_psv/ent_psv.csv",
    }
    assert openpyxl.load_workbook(out / files["tax_xls"], read_only=True).sheetnames == ["明细"]
    with pytest.raises(UnicodeDecodeError):
        (out / files["ent_reg"]).read_bytes().decode("utf-8")
    schema = pq.read_schema(out / files["tax_reg"])
    assert [str(t) for t in schema.types] == ["string", "int64", "double", "bool"]


def test_values_are_realistic(generated: tuple[Registry, Path, dict[str, Any]]) -> None:
    _, out, manifest = generated
    entry = manifest["datasets"]["ent_reg"]
    header, rows = read_back(out / entry["file"], "csv", "gbk", ",")
    col = {name: [row[i] for row in rows] for i, name in enumerate(header)}
    assert sum(v is not None and v.endswith("公司") for v in col["企业名称"]) > 0.8 * len(rows)
    defects = entry["defects"]["columns"]

    def unusual(column: str, fine: Any) -> int:
        return sum(v is not None and not fine(v) for v in col[column])

    # every value is realistic, but for exactly the injected length, date, range and pattern defects
    assert unusual("住所", lambda v: v.startswith("重庆市") and len(v) <= 40) == defects["住所"]["length"]
    injected_dates = defects["成立日期"]["date_format"]
    assert unusual("成立日期", lambda v: v.isdigit() and len(v) == 8 and "19" <= v[:2] <= "20") == 0
    dated = [v for v in col["成立日期"] if v is not None and v[4:6] != "13" and v[6:8] != "32"]
    assert len(dated) == sum(v is not None for v in col["成立日期"]) - injected_dates
    assert all(v[:4] >= "2000" and v <= "20250601" for v in dated)
    assert unusual("注册资本", lambda v: 0 <= float(v) <= 1e8) == defects["注册资本"]["range"]
    assert unusual("注册号", lambda v: len(v) == 15 and v.startswith("5001")) == defects["注册号"]["pattern"]
    assert {v for v in col["登记机关"] if v in {"500103", "500105", "500112", "500110"}} == {
        "500103",
        "500105",
        "500112",
    }  # 500110 expired before TODAY
    names = [v for v in col["法定代表人"] if v is not None]
    assert all(2 <= len(v) <= 3 for v in names) and len(set(names)) > 100
    ids_ok = [v for v in col["法人身份证号"] if v is not None and is_valid("gb11643", v)]
    assert all(1945 <= int(v[6:10]) <= 2007 for v in ids_ok)


def test_joins_on_shared_elements_match(generated: tuple[Registry, Path, dict[str, Any]]) -> None:
    _, out, manifest = generated
    entries = manifest["datasets"]
    _, reg_rows = read_back(out / entries["ent_reg"]["file"], "csv", "gbk", ",")
    master = {row[0] for row in reg_rows}
    for code, position in (("tax_reg", 0), ("tax_xls", 0), ("ent_psv", 0)):
        e = entries[code]
        _, rows = read_back(out / e["file"], e["format"], e["encoding"], e["delimiter"])
        valid = [row[position] for row in rows if row[position] and is_valid("gb32100", row[position])]
        assert len(valid) > 0.9 * len(rows)
        # only the master's own defect rows (about 1 %) can lose a partner
        assert sum(v in master for v in valid) > 0.98 * len(valid), code


def test_same_inputs_give_byte_identical_files(tmp_path: Path) -> None:
    registry = make_registry(tmp_path)
    first = generate(registry, tmp_path / "a", rows=2000, seed=5, today=TODAY)
    second = generate(registry, tmp_path / "b", rows=2000, seed=5, today=TODAY)
    other = generate(registry, tmp_path / "c", rows=2000, seed=6, today=TODAY)
    for name in ("a", "b", "c"):
        assert (tmp_path / name / "manifest.json").is_file()
    hashes = {code: d.sha256 for code, d in first.datasets.items()}
    assert hashes == {code: d.sha256 for code, d in second.datasets.items()}
    assert (tmp_path / "a/manifest.json").read_bytes() == (tmp_path / "b/manifest.json").read_bytes()
    assert all(hashes[code] != d.sha256 for code, d in other.datasets.items())


def test_sizes_follow_shares_and_cap_excel(tmp_path: Path) -> None:
    registry = make_registry(tmp_path)
    sizes = dataset_rows(registry, 1_000_000)
    assert max(sizes.values()) == sizes["ent_reg"] == 1_000_000
    assert sizes["tax_xls"] == EXCEL_MAX_ROWS == 20_000
    assert all(1 <= n < 1_000_000 for code, n in sizes.items() if code != "ent_reg")


def test_identifiers_are_valid_and_vectorised() -> None:
    rng = np.random.default_rng(3)
    for scheme, values in (
        ("gb32100", ids.uscc(rng, 3000, ids.CHONGQING_DIVISIONS)),
        ("gb11714", ids.org_code(rng, 3000)),
        ("gb11643", ids.resident_id(rng, 3000, ids.CHONGQING_DIVISIONS, 1945, 2007)),
    ):
        assert all(is_valid(scheme, v) for v in values.to_pylist()), scheme
        bad = ids.wrong_check(scheme, values.to_pylist()[:200], rng)
        assert not any(is_valid(scheme, v) for v in bad), scheme


def test_unregistered_element_is_refused(tmp_path: Path) -> None:
    text = DECLARATIONS.replace("{name: YX, element: active}", "{name: YX, element: nowhere}")
    home = tmp_path / "home"
    home.mkdir()
    (home / "declarations.yaml").write_text(text, encoding="utf-8")
    registry, _ = load_home(home)
    with pytest.raises(ValueError, match="nowhere"):
        generate(registry, tmp_path / "out", rows=100, seed=1, today=TODAY)


@pytest.mark.slow
def test_one_million_rows_under_a_minute(tmp_path: Path) -> None:
    text = DECLARATIONS.split("\ndatasets:")[0] + textwrap.dedent("""
        datasets:
          - code: ent_reg
            name: 企业登记
            name_en: Enterprise registration
            provider: market
            classification: basic
            format: csv
            encoding: gbk
            key: [uscc]
            columns:
              - {name: 统一社会信用代码, element: uscc}
              - {name: 企业名称, element: ent_name}
              - {name: 法定代表人, element: legal_rep}
              - {name: 法人身份证号, element: rep_id}
              - {name: 登记机关, element: division}
              - {name: 住所, element: address}
              - {name: 联系电话, element: phone}
              - {name: 成立日期, element: est_date}
              - {name: 注册资本, element: capital}
              - {name: 状态, element: status}
    """)
    registry = make_registry(tmp_path, text)
    start = time.perf_counter()
    manifest = generate(registry, tmp_path / "out", rows=1_000_000, seed=1, today=TODAY)
    elapsed = time.perf_counter() - start
    assert manifest.datasets["ent_reg"].rows == 1_000_000
    assert elapsed < 60, f"{elapsed:.1f} s"
