"""``govreg lineage``: the real command on SQL files, standard input, a schema file and a registry."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from tests.support.cli import GOVREG, govreg
from tests.support.paths import CITY

SCRIPT = """\
create table daily as select region, sum(amount) as total from sales group by region;
insert into report select * from daily;
"""


def lines(stdout: str) -> list[dict]:  # type: ignore[type-arg]
    return [json.loads(line) for line in stdout.splitlines()]


def test_files_in_json_are_one_line_each_with_kinds(tmp_path: Path) -> None:
    (tmp_path / "a.sql").write_text(SCRIPT, encoding="utf-8")
    (tmp_path / "b.sql").write_text("select upper(name) as name from people where age > 3", encoding="utf-8")
    result = govreg("lineage", "a.sql", "b.sql", "--json", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    # a bare query writes nothing: no table named after its file (issue 12)
    [bare] = json.loads(result.stdout.splitlines()[1])["statements"]
    assert (bare["sources"], bare["targets"], bare["columns"]) == (["people"], [], [])
    result = govreg("lineage", "a.sql", "b.sql", "--json", "--target", "b", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    out = result.stdout.splitlines()
    assert len(out) == 2
    a, b = (json.loads(line) for line in out)
    assert a["file"] == "a.sql" and b["file"] == "b.sql"
    first, second = a["statements"]
    assert set(first) == {"sources", "targets", "columns", "status", "reason"}
    assert (first["sources"], first["targets"], first["status"], first["reason"]) == (
        ["sales"],
        ["daily"],
        "ok",
        None,
    )
    assert {"source": "sales.amount", "target": "daily.total", "kind": "aggregation"} in first["columns"]
    assert {"source": "sales.region", "target": "daily.total", "kind": "indirect"} in first["columns"]
    # the star of the second statement is known from the first
    assert {(c["source"], c["target"], c["kind"]) for c in second["columns"]} == {
        ("daily.region", "report.region", "direct"),
        ("daily.total", "report.total", "direct"),
    }
    # with --target, a bare query is the view it names
    [query] = b["statements"]
    assert query["targets"] == ["b"]
    assert {(c["source"], c["target"], c["kind"]) for c in query["columns"]} == {
        ("people.name", "b.name", "transformation"),
        ("people.age", "b.name", "indirect"),
    }


def test_stdin_and_schema_file_expand_stars(tmp_path: Path) -> None:
    (tmp_path / "schema.json").write_text(json.dumps({"people": ["id", "name"]}), encoding="utf-8")
    result = subprocess.run(
        [*GOVREG, "lineage", "-", "--schema", "schema.json", "--target", "copy", "--json"],
        cwd=tmp_path,
        input="select * from people",
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    [line] = lines(result.stdout)
    assert line["file"] == "-"
    [statement] = line["statements"]
    assert statement["status"] == "ok"
    assert [c["target"] for c in statement["columns"]] == ["copy.id", "copy.name"]
    # without the schema the star is unknown: partial, with the reason
    unknown = subprocess.run(
        [*GOVREG, "lineage", "-", "--json"],
        cwd=tmp_path,
        input="select * from people",
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    [statement] = lines(unknown.stdout)[0]["statements"]
    assert statement["status"] == "partial" and "schema" in statement["reason"]


def test_registry_home_gives_the_columns_of_datasets_and_views(tmp_path: Path) -> None:
    query = "select e.*, s.credit_grade from enterprise_registration e "
    query += "join enterprise_credit_score s using (uscc)"
    (tmp_path / "q.sql").write_text(query, encoding="utf-8")
    result = govreg(
        "lineage", "q.sql", "--json", "--target", "q", cwd=tmp_path, env={"GOVREG_HOME": str(CITY)}
    )
    assert result.returncode == 0, result.stderr
    [statement] = lines(result.stdout)[0]["statements"]
    assert statement["status"] == "ok", statement["reason"]
    targets = {c["target"] for c in statement["columns"]}
    assert {"q.uscc", "q.enterprise_name", "q.credit_grade"} <= targets
    assert {
        "source": "enterprise_credit_score.credit_grade",
        "target": "q.credit_grade",
        "kind": "direct",
    } in (statement["columns"])


def test_unparseable_file_is_a_failed_line_and_a_missing_file_an_error(tmp_path: Path) -> None:
    (tmp_path / "bad.sql").write_text("select from where (", encoding="utf-8")
    (tmp_path / "good.sql").write_text("select a from t", encoding="utf-8")
    result = govreg("lineage", "bad.sql", "missing.sql", "good.sql", "--json", cwd=tmp_path)
    assert result.returncode == 1
    assert "missing.sql" in result.stderr and "Traceback" not in result.stderr
    bad, good = lines(result.stdout)
    assert bad["file"] == "bad.sql" and good["file"] == "good.sql"
    [failed] = bad["statements"]
    assert failed["status"] == "failed" and failed["reason"]
    assert good["statements"][0]["status"] == "ok"
    # parse failures alone are results, not errors
    assert govreg("lineage", "bad.sql", "--json", cwd=tmp_path).returncode == 0


def test_tables_for_people(tmp_path: Path) -> None:
    (tmp_path / "a.sql").write_text(SCRIPT, encoding="utf-8")
    (tmp_path / "bad.sql").write_text("select from where (", encoding="utf-8")
    result = govreg("lineage", "a.sql", "bad.sql", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "a.sql: 2 statements" in out and "bad.sql: 1 statement" in out
    assert "sales.amount" in out and "daily.total" in out and "aggregation" in out
    assert "failed" in out and "line 1" in out


def test_a_bad_schema_file_is_wrong_usage(tmp_path: Path) -> None:
    (tmp_path / "schema.json").write_text('{"people": "id"}', encoding="utf-8")
    (tmp_path / "a.sql").write_text("select 1", encoding="utf-8")
    result = govreg("lineage", "a.sql", "--schema", "schema.json", cwd=tmp_path)
    assert result.returncode == 2 and "schema.json" in result.stderr
