"""Attacks on "declassification only where the data really changes".

A view's ``declassify`` rule lowers a column's security level or personal flag. It is allowed
only on a column produced by aggregation over groups that are not the identifier itself, or by a
masking function govreg knows (``govreg_mask``, a prefix of a declared length, a hash with a
declared salt); anything else, however it is dressed up, is GOV031 with the reason.
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
LOWER = "personal: none, security: public, reason: 已脱敏"


def _home(tmp_path: Path, sql: str, rule: str) -> Path:
    home = tmp_path / "home"
    shutil.copytree(CITY, home)
    (home / "views" / "masked.sql").write_text(sql + "\n", encoding="utf-8")
    (home / "views" / "masked.yaml").write_text(
        "views:\n  - code: masked\n    name: 脱敏视图\n    name_en: Masked view\n"
        f"    owner: big_data_center\n    sql: masked.sql\n    declassify:\n      - {{{rule}}}\n",
        encoding="utf-8",
    )
    return home


def _gov031(home: Path) -> list[Problem]:
    _, problems = check_home(home, TODAY)
    return [p for p in problems if p.code == "GOV031"]


REFUSED = {
    "trim": ("SELECT TRIM(id_number) AS out FROM population_basic", ""),
    "upper": ("SELECT upper(id_number) AS out FROM population_basic", ""),
    "concat_empty": ("SELECT id_number || '' AS out FROM population_basic", ""),
    "cast": ("SELECT CAST(id_number AS VARCHAR) AS out FROM population_basic", ""),
    "suffix": ("SELECT substr(id_number, 3) AS out FROM population_basic", ""),
    "replace": ("SELECT replace(id_number, '1', 'x') AS out FROM population_basic", ""),
    "mask_then_rejoin": ("SELECT govreg_mask(id_number) || id_number AS out FROM population_basic", ""),
    "cte_copy": (
        "WITH c AS (SELECT lower(id_number) AS v FROM population_basic) SELECT v AS out FROM c",
        "",
    ),
    "group_by_identifier": (
        "SELECT id_number, SUM(allowance_amount) AS out FROM subsistence_allowance GROUP BY id_number",
        "",
    ),
    "group_by_key": (
        "SELECT allowance_certificate_number, MAX(allowance_amount) AS out FROM subsistence_allowance "
        "GROUP BY allowance_certificate_number",
        "",
    ),
    "group_by_person_name": (
        "SELECT person_name, SUM(allowance_amount) AS out FROM subsistence_allowance GROUP BY person_name",
        "",
    ),
    "rollup_by_identifier": (
        "SELECT id_number, SUM(allowance_amount) AS out FROM subsistence_allowance "
        "GROUP BY ROLLUP (id_number)",
        "",
    ),
    "positional_group_by_identifier": (
        "SELECT id_number, SUM(allowance_amount) AS out FROM subsistence_allowance GROUP BY 1",
        "",
    ),
    "window_sum_per_person": (
        "SELECT SUM(allowance_amount) OVER (PARTITION BY division_code) AS out FROM subsistence_allowance",
        "",
    ),
    "aggregate_of_identifier": ("SELECT MAX(id_number) AS out FROM population_basic", ""),
    "list_aggregate": (
        "SELECT division_code, list(id_number) AS out FROM subsistence_allowance GROUP BY division_code",
        "",
    ),
    "prefix_undeclared": ("SELECT left(id_number, 6) AS out FROM population_basic", ""),
    "prefix_longer_than_declared": (
        "SELECT left(id_number, 14) AS out FROM population_basic",
        ", method: prefix, length: 6",
    ),
    "hash_without_salt": ("SELECT sha256(id_number) AS out FROM population_basic", ", method: hash"),
    "hash_other_salt": (
        "SELECT sha256(id_number || getvariable('other')) AS out FROM population_basic",
        ", method: hash, salt: bdc_salt",
    ),
    "method_not_used": (
        "SELECT TRIM(id_number) AS out FROM population_basic",
        ", method: mask",
    ),
}


@pytest.mark.parametrize("case", sorted(REFUSED))
def test_declassifying_what_did_not_change_is_refused(tmp_path: Path, case: str) -> None:
    sql, extra = REFUSED[case]
    found = _gov031(_home(tmp_path, sql, f"column: out, {LOWER}{extra}"))
    assert found and all(p.is_error for p in found), case
    assert "'out'" in found[0].message and len(found[0].message) > 40  # with the reason


def test_refused_declassification_keeps_the_source_classification(tmp_path: Path) -> None:
    home = _home(tmp_path, "SELECT TRIM(id_number) AS out FROM population_basic", f"column: out, {LOWER}")
    registry, _ = check_home(home, TODAY)
    kept = Propagation(registry, RegistryLineage(registry)).columns[ColumnRef("masked", "out")]
    assert kept.personal == "sensitive_personal" and kept.declassified is None


def test_validate_cli_refuses_trim_declassified(tmp_path: Path) -> None:
    home = _home(tmp_path, "SELECT TRIM(id_number) AS out FROM population_basic", f"column: out, {LOWER}")
    result = CliRunner().invoke(app, ["validate", "--home", str(home), "--today", TODAY.isoformat()])
    assert result.exit_code == 1 and "GOV031" in result.output, result.output


ALLOWED = {
    "aggregate_by_division": (
        "SELECT division_code, SUM(allowance_amount) AS out FROM subsistence_allowance "
        "GROUP BY division_code",
        "",
    ),
    "count_distinct_total": ("SELECT COUNT(DISTINCT id_number) AS out FROM subsistence_allowance", ""),
    "aggregate_through_cte": (
        "WITH d AS (SELECT division_code, AVG(allowance_amount) AS a FROM subsistence_allowance "
        "GROUP BY division_code) SELECT division_code, ROUND(COALESCE(a, 0), 2) AS out FROM d",
        "",
    ),
    "mask_macro": ("SELECT govreg_mask(id_number) AS out FROM population_basic", ""),
    "mask_declared": ("SELECT govreg_mask(TRIM(id_number)) AS out FROM population_basic", ", method: mask"),
    "prefix_declared": (
        "SELECT left(id_number, 6) AS out FROM population_basic",
        ", method: prefix, length: 6",
    ),
    "substr_prefix": (
        "SELECT substr(id_number, 1, 4) AS out FROM population_basic",
        ", method: prefix, length: 6",
    ),
    "hash_with_salt": (
        "SELECT sha256(getvariable('bdc_salt') || id_number) AS out FROM population_basic",
        ", method: hash, salt: bdc_salt",
    ),
}


@pytest.mark.parametrize("case", sorted(ALLOWED))
def test_aggregation_and_known_masking_may_be_declassified(tmp_path: Path, case: str) -> None:
    """Controls: the rule is not "never"; real aggregation and known masking pass and lower the level."""
    sql, extra = ALLOWED[case]
    home = _home(tmp_path, sql, f"column: out, {LOWER}{extra}")
    assert not _gov031(home), case
    registry, _ = check_home(home, TODAY)
    lowered = Propagation(registry, RegistryLineage(registry)).columns[ColumnRef("masked", "out")]
    assert lowered.personal == "none" and lowered.declassified == "已脱敏"


def test_the_masking_macro_masks_like_govreg() -> None:
    """govreg_mask in DuckDB gives what expectations.mask gives (the values the registry shows)."""
    import duckdb

    from expectations.mask import mask
    from lineage.masking import MASK_MACRO

    con = duckdb.connect()
    con.execute(MASK_MACRO)
    for value in ["500103199001011234", "张三", "欧阳娜娜", "13800001111", "a", "", "abcde", "abcdefgh"]:
        assert con.execute("SELECT govreg_mask(?)", [value]).fetchall() == [(mask(value),)], value
    assert con.execute("SELECT govreg_mask(NULL)").fetchall() == [(None,)]


def test_a_masked_and_a_salted_view_build_in_dagster_and_a_missing_salt_stops_only_its_view(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The allowed methods also run: a real Dagster run builds views that use govreg_mask, a prefix
    and a hash salted from the environment (GOVREG_SALT_<NAME>); a view whose salt is not set is
    not built (GOV031, naming the variable), and the secret never appears in the SQL."""
    import dagster as dg
    import duckdb

    from examples.generator import generate
    from pipelines.definitions import CITY_JOB, build_definitions
    from pipelines.resources import Settings

    home = tmp_path / "home"
    shutil.copytree(CITY, home)
    views = {
        "masked_ids": (
            "SELECT govreg_mask(id_number) AS masked, left(id_number, 6) AS area FROM population_basic",
            f"{{column: masked, {LOWER}}}\n      - {{column: area, {LOWER}, method: prefix, length: 6}}",
        ),
        "hashed_ids": (
            "SELECT sha256(getvariable('bdc_salt') || id_number) AS h FROM population_basic",
            f"{{column: h, {LOWER}, method: hash, salt: bdc_salt}}",
        ),
        "unsalted_ids": (
            "SELECT sha256(getvariable('other_salt') || id_number) AS h FROM population_basic",
            f"{{column: h, {LOWER}, method: hash, salt: other_salt}}",
        ),
    }
    for code, (sql, rules) in views.items():
        (home / "views" / f"{code}.sql").write_text(sql + "\n", encoding="utf-8")
        (home / "views" / f"{code}.yaml").write_text(
            f"views:\n  - code: {code}\n    name: 脱敏{code}\n    name_en: Masked {code}\n"
            f"    owner: public_security\n    sql: {code}.sql\n    declassify:\n      - {rules}\n",
            encoding="utf-8",
        )
    registry, problems = check_home(home, date.today())
    assert not [p for p in problems if p.severity == "error"], problems
    generate(registry, tmp_path / "data", rows=200, seed=5, today=date.today())
    settings = Settings(
        home=home,
        store_url=f"sqlite:///{tmp_path / 'store.db'}",
        data=tmp_path / "data",
        warehouse=tmp_path / "data" / "warehouse.duckdb",
        automation=False,
    )
    monkeypatch.setenv("GOVREG_SALT_BDC_SALT", "盐-s3cr'et")
    monkeypatch.delenv("GOVREG_SALT_OTHER_SALT", raising=False)
    with dg.instance_for_test() as instance:
        result = (
            build_definitions(settings)
            .resolve_job_def(CITY_JOB)
            .execute_in_process(
                instance=instance,
                raise_on_error=False,
                run_config={"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}},
            )
        )
        failed = {
            e.step_key: e.step_failure_data.user_failure_data
            for e in result.all_events
            if e.event_type_value == "STEP_FAILURE"
        }
    assert set(failed) == {"public_security__unsalted_ids"}, set(failed)
    why = failed["public_security__unsalted_ids"]
    assert why is not None and "GOV031" in (why.description or "")
    assert "GOVREG_SALT_OTHER_SALT" in (why.description or "")
    con = duckdb.connect(str(settings.warehouse), read_only=True)
    try:
        from lineage.masking import MASK_MACRO

        con.execute(MASK_MACRO)
        assert con.execute(
            "SELECT count(*) = (SELECT count(*) FROM population_basic) AND bool_and(m.masked = "
            "govreg_mask(p.id_number) AND m.area = left(p.id_number, 6)) FROM masked_ids m "
            "POSITIONAL JOIN population_basic p"
        ).fetchone() == (True,)
        assert con.execute(
            "SELECT bool_and(h.h = sha256(? || p.id_number)) FROM hashed_ids h "
            "POSITIONAL JOIN population_basic p",
            ["盐-s3cr'et"],
        ).fetchone() == (True,)
        tables = {r[0] for r in con.execute("SELECT table_name FROM duckdb_tables()").fetchall()}
        assert "unsalted_ids" not in tables
    finally:
        con.close()
