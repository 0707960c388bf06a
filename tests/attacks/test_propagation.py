"""Attacks on "propagation and exposure fail closed": no construct carries data past the rules unseen.

The big data center has no agreement for the civil affairs department's subsistence allowance
data (``allowance_amount``, ``household_size``: personal, conditional) nor for public security's
``id_number``. A view or indicator reading them without a grant must be refused by ``validate``
(GOV030), however it reads them: a whole row packed into a struct or JSON, a column pattern, a
positional column, UNPIVOT or PIVOT. Where govreg cannot tell which columns an output carries, the
output is ``partial`` (GOV039) and takes the strictest classification of every table the
statement reads; SQL that does not parse is an error (GOV038), never a view nobody checked.
"""

from __future__ import annotations

import shutil
from datetime import date
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cli import app
from lineage.models import ColumnRef
from lineage.propagate import Propagation
from lineage.views import RegistryLineage
from registry.errors import Problem
from registry.load import check_home
from tests.support.paths import CITY

TODAY = date(2026, 6, 1)
TABLE = "subsistence_allowance"


def _home(tmp_path: Path, code: str, sql: str, kind: str = "view") -> Path:
    home = tmp_path / "home"
    shutil.copytree(CITY, home)
    folder = home / f"{kind}s"
    (folder / f"{code}.sql").write_text(sql + "\n", encoding="utf-8")
    extra = "    question: 低保发放情况？\n" if kind == "indicator" else ""
    (folder / f"{code}.yaml").write_text(
        f"{kind}s:\n  - code: {code}\n    name: 攻击视图\n    name_en: Attack {kind}\n"
        f"    owner: big_data_center\n{extra}    sql: {code}.sql\n",
        encoding="utf-8",
    )
    return home


def _problems(home: Path) -> list[Problem]:
    _, problems = check_home(home, TODAY)
    return problems


def _exposed(problems: list[Problem], code: str) -> set[str]:
    """The elements GOV030 says ``code`` exposes."""
    return {
        element
        for p in problems
        if p.code == "GOV030" and f"'{code}'" in p.message
        for element in ("allowance_amount", "household_size", "id_number", "person_name")
        if f"'{element}'" in p.message
    }


ROW_READS = {
    "to_json_of_row": f"SELECT to_json(s) AS payload FROM {TABLE} s",
    "row_as_struct": f"SELECT s FROM {TABLE} s",
    "table_name_as_row": f"SELECT {TABLE} FROM {TABLE}",
    "row_to_json": f"SELECT row_to_json(s) AS payload FROM {TABLE} s",
    "struct_pack_of_row": f"SELECT struct_pack(r := s) AS payload FROM {TABLE} s",
    "list_of_rows": f"SELECT division_code, list(s) AS people FROM {TABLE} s GROUP BY division_code",
    "star_in_function": f"SELECT max(s.*) AS payload FROM {TABLE} s",
    "columns_pattern": f"SELECT COLUMNS('allow.*') FROM {TABLE}",
    "star_like": f"SELECT * LIKE 'allow%' FROM {TABLE}",
    "struct_pack_star": f"SELECT struct_pack(*) AS payload FROM {TABLE}",
    "columns_lambda": f"SELECT COLUMNS(c -> c LIKE '%amount%') FROM {TABLE}",
    "positional": f"SELECT #6 AS amount FROM {TABLE}",
    "unpivot_statement": f"UNPIVOT {TABLE} ON allowance_amount, household_size INTO NAME k VALUE v",
    "unpivot_subquery": (
        f"SELECT division_code, k, v FROM (UNPIVOT {TABLE} ON allowance_amount, household_size "
        "INTO NAME k VALUE v)"
    ),
    "unpivot_standard": f"SELECT * FROM {TABLE} UNPIVOT (v FOR k IN (allowance_amount, household_size))",
    "pivot_statement": f"PIVOT {TABLE} ON division_code USING sum(allowance_amount)",
    "same_name_twice": f"SELECT division_code AS d, allowance_amount AS d FROM {TABLE}",  # DuckDB: d, d_1
    "pivot_standard": (
        f"SELECT * FROM {TABLE} PIVOT (sum(allowance_amount) FOR division_code IN ('500103', '500104'))"
    ),
}


@pytest.mark.parametrize("construct", sorted(ROW_READS))
def test_whole_row_and_pattern_reads_are_exposure(tmp_path: Path, construct: str) -> None:
    """Each construct reads allowance data; validate must say so (GOV030), whatever the form."""
    home = _home(tmp_path, "leak", ROW_READS[construct])
    problems = _problems(home)
    exposed = _exposed(problems, "leak")
    assert {"allowance_amount"} <= exposed or {"household_size"} <= exposed, (
        construct,
        [str(p) for p in problems if p.is_error],
    )


@pytest.mark.parametrize(
    "sql",
    [
        f"SELECT * FROM {TABLE}__blocked",  # a load held back by the quality gate: every row
        f"SELECT allowance_amount FROM {TABLE}__blocked",
        f"SELECT value FROM {TABLE}__rejects",  # rows set aside, with the values that failed
    ],
)
def test_the_side_tables_of_a_dataset_carry_its_classification(tmp_path: Path, sql: str) -> None:
    assert "allowance_amount" in _exposed(_problems(_home(tmp_path, "leak", sql)), "leak")


@pytest.mark.parametrize(
    ("sql", "named"),
    [
        ("SELECT amount FROM raw_upload", "raw_upload"),
        ("SELECT amount FROM read_csv('/data/landing/civil_affairs/dbxx.csv')", "dbxx.csv"),
        ("SELECT amount FROM '/data/landing/civil_affairs/dbxx.csv'", "dbxx.csv"),
        ("SELECT r.amount FROM read_parquet('dbxx.parquet') r", "dbxx.parquet"),
    ],
)
def test_a_table_the_registry_does_not_declare_is_the_strictest(tmp_path: Path, sql: str, named: str) -> None:
    """A table, a file or another database read past the registry: anything may be in it."""
    home = _home(tmp_path, "leak", sql)
    registry, problems = check_home(home, TODAY)
    column = Propagation(registry, RegistryLineage(registry)).columns[ColumnRef("leak", "amount")]
    assert (column.security, column.personal, column.sharing) == ("core", "sensitive_personal", "not_shared")
    assert any(p.code == "GOV039" and named in p.message for p in problems), [str(p) for p in problems]


def test_validate_cli_refuses_a_json_row_leak(tmp_path: Path) -> None:
    """Through the real command: exit 1, GOV030 naming the element and the view."""
    home = _home(tmp_path, "leak", ROW_READS["to_json_of_row"])
    result = CliRunner().invoke(app, ["validate", "--home", str(home), "--today", TODAY.isoformat()])
    assert result.exit_code == 1, result.output
    assert "GOV030" in result.output and "allowance_amount" in result.output


def test_an_unresolved_output_is_partial_and_takes_the_strictest_of_what_is_read(tmp_path: Path) -> None:
    home = _home(tmp_path, "leak", f"SELECT COLUMNS('allow.*') FROM {TABLE}")
    registry, problems = check_home(home, TODAY)
    lineage = RegistryLineage(registry)
    query = lineage.view("leak")
    assert query is not None and query.status == "partial"
    propagation = Propagation(registry, lineage)
    columns = dict(propagation.view_columns("leak"))
    assert columns, "the view has no classified column"
    for classification in columns.values():
        assert classification.security == "sensitive"
        assert classification.personal == "sensitive_personal"
        assert classification.sharing == "conditional"
        assert "allowance_amount" in classification.elements
        assert classification.unresolved  # the reason travels with the classification
    assert propagation.view_sharing("leak") == "conditional"
    warned = [p for p in problems if p.code == "GOV039" and "leak" in p.message]
    assert warned and not warned[0].is_error


def test_one_unresolved_column_does_not_hide_behind_resolved_ones(tmp_path: Path) -> None:
    """A named public column next to a row packed into JSON: the JSON column is the strict one."""
    home = _home(tmp_path, "leak", f"SELECT division_code, to_json(s) AS payload FROM {TABLE} s")
    registry, _ = check_home(home, TODAY)
    propagation = Propagation(registry, RegistryLineage(registry))
    payload = propagation.columns[ColumnRef("leak", "payload")]
    assert payload.personal == "sensitive_personal" and "allowance_amount" in payload.elements
    division = propagation.columns[ColumnRef("leak", "division_code")]
    assert division.personal == "none"


def test_sql_that_does_not_parse_is_an_error(tmp_path: Path) -> None:
    home = _home(tmp_path, "leak", f"SELECT allowance_amount FROM {TABLE} WHERE (")
    problems = _problems(home)
    found = [p for p in problems if p.code == "GOV038"]
    assert found and found[0].is_error and "leak" in found[0].message
    result = CliRunner().invoke(app, ["validate", "--home", str(home), "--today", TODAY.isoformat()])
    assert result.exit_code == 1 and "GOV038" in result.output


def test_indicator_sql_that_does_not_parse_is_an_error(tmp_path: Path) -> None:
    home = _home(tmp_path, "leak_count", "SELECT COUNT(* AS value FROM subsistence_allowance", "indicator")
    assert any(p.code == "GOV038" and p.is_error and "leak_count" in p.message for p in _problems(home))


def test_indicators_get_the_exposure_check(tmp_path: Path) -> None:
    home = _home(
        tmp_path,
        "leak_count",
        f"SELECT string_agg(CAST(allowance_amount AS VARCHAR), ',') AS value FROM {TABLE}",
        "indicator",
    )
    assert "allowance_amount" in _exposed(_problems(home), "leak_count")


def test_indicator_whole_row_reads_are_exposure(tmp_path: Path) -> None:
    home = _home(tmp_path, "leak_count", f"SELECT to_json(list(s)) AS value FROM {TABLE} s", "indicator")
    assert "allowance_amount" in _exposed(_problems(home), "leak_count")


def test_the_sample_city_stays_clean() -> None:
    """Control: fail closed does not mean fail always; the sample views name what they read."""
    problems = _problems(CITY)
    assert not [p for p in problems if p.is_error], [str(p) for p in problems if p.is_error]
    assert not [p for p in problems if p.code in ("GOV038", "GOV039")]
