"""Code lists are valid on the record's date.

Division codes change: 500222 綦江县 was abolished in 2011, when 万盛区 and 綦江县 became 綦江区,
which took over the code 500110. A code list loaded from a CSV file carries valid_from, valid_to
and successor (year-only dates accepted); a column's ``codes`` check bound to a date column of its
dataset (``as_of``) judges each record by the list on the record's own date, in DuckDB through
Great Expectations. Periods that run backwards or overlap are refused (GOV036).
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import duckdb
import pytest

from expectations.derive import standards_for
from expectations.run import validate_table
from registry.errors import Problem
from registry.home import Registry
from registry.load import load_home
from registry.rules import check_rules
from tests.support.cli import govreg

TODAY = date(2026, 3, 1)
DIVISIONS = """\
code,label,valid_from,valid_to,successor
500103,渝中区,,,
500110,万盛区,,2011-10-26,500110
500110,綦江区,2011-10-27,,
500222,綦江县,,2011,500110
"""
HOME = {
    "registry.yaml": 'registry:\n  name: 区划测试市\n  name_en: Division city\n  division: "500000"\n',
    "departments.yaml": "departments:\n  - {code: market, name: 区划市市场监督管理局, name_en: Market}\n",
    "codelists.yaml": """\
codelists:
  - {code: division, name: 行政区划代码, name_en: Division codes, file: divisions.csv}
  - code: status
    name: 状态
    name_en: Status
    values:
      - {value: "1", label: 存续}
      - {value: "9", label: 旧状态, valid_to: 2015}
""",
    "elements.yaml": """\
elements:
  - {code: reg_no, name: 注册号, name_en: Registration number, owner: market, status: standard}
  - {code: division, name: 登记机关区划, name_en: Registration division, owner: market,
     status: standard, domain: {code_list: division}}
  - {code: reg_date, name: 登记日期, name_en: Registration date, owner: market, status: standard,
     type: date}
  - {code: note, name: 备注, name_en: Note, owner: market, status: standard}
""",
    "datasets.yaml": """\
datasets:
  - code: regs
    name: 登记
    name_en: Registrations
    provider: market
    key: [ZCH]
    columns:
      - {name: ZCH, element: reg_no}
      - {name: XZQH, element: division, as_of: DJRQ}
      - {name: DJRQ, element: reg_date}
""",
}


def write_home(root: Path, **changes: str) -> Path:
    home = root / "home"
    for name, text in {**HOME, "divisions.csv": DIVISIONS, **changes}.items():
        (home / name).parent.mkdir(parents=True, exist_ok=True)
        (home / name).write_text(text, encoding="utf-8")
    return home


def loaded(root: Path, **changes: str) -> Registry:
    registry, problems = load_home(write_home(root, **changes))
    assert [p for p in problems if p.is_error] == [], problems
    return registry


def test_a_csv_code_list_carries_periods_and_successors_with_year_only_dates(tmp_path: Path) -> None:
    registry = loaded(tmp_path)
    values = {(v.value, v.label): v for v in registry.codelists["division"].values}
    assert len(values) == 4
    qijiang = values[("500222", "綦江县")]
    assert qijiang.valid_from is None and qijiang.valid_to == date(2011, 12, 31)  # "2011": to its end
    assert qijiang.successor == "500110"
    assert values[("500110", "綦江区")].valid_from == date(2011, 10, 27)
    old = {v.value: v for v in registry.codelists["status"].values}["9"]
    assert old.valid_to == date(2015, 12, 31)  # year-only inline too
    again = loaded(tmp_path / "from", **{"divisions.csv": DIVISIONS.replace("2011-10-27", "2012")})
    new = {(v.value, v.label): v for v in again.codelists["division"].values}[("500110", "綦江区")]
    assert new.valid_from == date(2012, 1, 1)  # "2012" as valid_from: from its first day


def test_a_record_is_judged_by_the_list_on_its_own_date(tmp_path: Path) -> None:
    registry = loaded(tmp_path)
    ds = registry.datasets["regs"]
    warehouse = tmp_path / "w.duckdb"
    rows = [
        ("1", "500222", "2005-06-01"),  # 綦江县 in 2005: valid
        ("2", "500222", "2020-03-01"),  # 綦江县 in 2020: abolished in 2011
        ("3", "500222", "2011-12-31"),  # its last day ("to 2011")
        ("4", "500110", "2005-06-01"),  # 万盛区
        ("5", "500110", "2020-03-01"),  # 綦江区, same code
        ("6", "500103", "1999-01-01"),  # always valid
        ("7", "999999", "2005-06-01"),  # never a code
        ("8", "500222", None),  # no date: judged as of the run day
    ]
    con = duckdb.connect(str(warehouse))
    con.execute("CREATE TABLE regs (reg_no VARCHAR, division VARCHAR, reg_date DATE)")
    con.executemany("INSERT INTO regs VALUES (?, ?, ?)", rows)
    con.close()
    validation = validate_table(registry, ds, warehouse, standards_for(registry, ds, TODAY))
    (codes,) = [o for o in validation.outcomes if o.key == "codes:division"]
    assert codes.status == "failed" and codes.message is None, codes
    assert codes.unexpected_count == 3  # rows 2, 7, 8
    assert sorted(codes.samples) == ["500222", "500222", "999999"]
    # bound to today, the same column would lose the 2005 record of 綦江县 as well
    unbound = loaded(
        tmp_path / "unbound", **{"datasets.yaml": HOME["datasets.yaml"].replace(", as_of: DJRQ", "")}
    )
    plain = validate_table(
        unbound, unbound.datasets["regs"], warehouse, standards_for(unbound, unbound.datasets["regs"], TODAY)
    )
    (today_only,) = [o for o in plain.outcomes if o.key == "codes:division"]
    assert today_only.unexpected_count == 5


@pytest.mark.parametrize(
    ("csv", "needle"),
    [
        (DIVISIONS.replace("500222,綦江县,,2011,", "500222,綦江县,2012,2011,"), "before"),
        (DIVISIONS.replace("2011-10-26", "2011").replace("2011-10-27", "2011"), "overlap"),
    ],
)
def test_backward_and_overlapping_periods_are_refused(tmp_path: Path, csv: str, needle: str) -> None:
    home = write_home(tmp_path, **{"divisions.csv": csv})
    result = govreg("validate", "--home", str(home), cwd=tmp_path)
    assert result.returncode == 1, result.stdout
    out = result.stdout + result.stderr
    assert "GOV036" in out and needle in out and "divisions.csv" in out, out


def test_as_of_must_name_a_date_column_of_the_dataset(tmp_path: Path) -> None:
    def problems(root: Path, datasets: str) -> list[Problem]:
        registry, found = load_home(write_home(root, **{"datasets.yaml": datasets}))
        return [*found, *check_rules(registry, TODAY)]

    unknown = problems(tmp_path / "a", HOME["datasets.yaml"].replace("as_of: DJRQ", "as_of: RQ"))
    assert any(p.code == "GOV002" and "'RQ'" in p.message for p in unknown), unknown
    text = HOME["datasets.yaml"].replace("as_of: DJRQ", "as_of: BZ") + "      - {name: BZ, element: note}\n"
    not_a_date = problems(tmp_path / "b", text)
    assert any(p.code == "GOV036" and "'BZ'" in p.message for p in not_a_date), not_a_date
