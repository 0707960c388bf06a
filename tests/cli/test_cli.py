"""End to end: the real ``govreg`` command on a real registry home and SQLite store."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.city_home import BASE, write_home
from tests.support.cli import CITY, govreg


@pytest.fixture()
def city(tmp_path: Path) -> tuple[Path, str]:
    home = write_home(tmp_path / "home")
    return home, f"sqlite:///{tmp_path / 'store.db'}"


def test_validate_reports_file_line_code_and_hint_and_exits_1(tmp_path: Path) -> None:
    home = write_home(tmp_path / "home", BASE.replace("element: enterprise_name", "element: qiye_mingcheng"))
    result = govreg("validate", "--home", "home", cwd=tmp_path)
    assert result.returncode == 1
    line = BASE.splitlines().index("      - {name: qymc, element: enterprise_name}") + 1
    assert f"home/city.yaml:{line}" in result.stderr
    assert "GOV003" in result.stderr and "qiye_mingcheng" in result.stderr
    assert "register" in result.stderr  # the fix hint
    as_json = json.loads(govreg("validate", "--home", str(home), "--json", cwd=tmp_path).stdout)
    assert as_json["ok"] is False
    assert [(p["code"], p["line"]) for p in as_json["problems"] if p["severity"] == "error"] == [
        ("GOV003", line)
    ]


def test_validate_separates_warnings_and_exits_0(tmp_path: Path) -> None:
    # tax collects the enterprise name without a replica: a duplicate collection, a warning
    body = BASE.replace(
        "      - {name: nse, element: tax_amount}",
        "      - {name: nse, element: tax_amount}\n      - {name: nsrmc, element: enterprise_name}",
    )
    write_home(tmp_path / "home", body)
    result = govreg("validate", "--home", "home", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "1 warning" in result.stdout and "GOV006" in result.stdout
    assert "valid" in result.stdout and result.stderr == ""


def test_malformed_yaml_is_an_error_with_a_line_not_a_traceback(tmp_path: Path) -> None:
    write_home(tmp_path / "home", BASE.replace("    owner: tax\n", "    owner: [tax\n", 1))
    result = govreg("validate", "--home", "home", cwd=tmp_path)
    assert result.returncode == 1
    assert "YAML001" in result.stderr and "Traceback" not in result.stderr + result.stdout


def test_plan_apply_idempotence_and_audit(city: tuple[Path, str]) -> None:
    home, store = city
    cwd = home.parent
    planned = json.loads(govreg("plan", "--home", str(home), "--store", store, "--json", cwd=cwd).stdout)
    assert planned["counts"] == {"create": 8, "update": 0, "delete": 0}
    applied = govreg("apply", "--home", str(home), "--store", store, "--reason", "initial load", cwd=cwd)
    assert applied.returncode == 0, applied.stderr
    assert "8 audit events by cli-tester" in applied.stdout
    again = govreg("apply", "--home", str(home), "--store", store, cwd=cwd)
    assert "no changes" in again.stdout
    events = json.loads(govreg("audit", "--store", store, "--json", cwd=cwd).stdout)
    assert len(events) == 8
    assert {e["reason"] for e in events} == {"initial load"}
    assert {e["actor"] for e in events} == {"cli-tester"}
    only = json.loads(
        govreg("audit", "--store", store, "--kind", "element", "--code", "uscc", "--json", cwd=cwd).stdout
    )
    assert [(e["action"], e["after"]["owner"]) for e in only] == [("create", "market")]
    verified = govreg("audit", "--store", store, "--verify", cwd=cwd)
    assert verified.returncode == 0 and "8 events" in verified.stdout


def test_plan_shows_before_and_after_of_a_change(city: tuple[Path, str]) -> None:
    home, store = city
    govreg("apply", "--home", str(home), "--store", store, cwd=home.parent)
    write_home(home, BASE.replace("仅用于信用评价", "仅用于纳税信用评价"))
    result = govreg("plan", "--home", str(home), "--store", store, cwd=home.parent)
    assert result.returncode == 0
    assert "tax_amount" in result.stdout
    assert "仅用于信用评价" in result.stdout and "仅用于纳税信用评价" in result.stdout
    assert "0 to create, 1 to update, 0 to delete" in result.stdout


def test_show_owners_and_conflicts_read_the_store(city: tuple[Path, str]) -> None:
    home, store = city
    cwd = home.parent
    body = BASE.replace(
        "      - {name: nse, element: tax_amount}",
        "      - {name: nse, element: tax_amount}\n      - {name: nsrmc, element: enterprise_name}",
    )
    write_home(home, body)
    assert govreg("apply", "--home", str(home), "--store", store, cwd=cwd).returncode == 0
    element = json.loads(
        govreg("show", "element", "enterprise_name", "--store", store, "--json", cwd=cwd).stdout
    )
    roles = {(d["dataset"], d["role"]) for d in element["datasets"]}
    assert roles == {("enterprise_registration", "source"), ("tax_payment", "duplicate")}
    dataset = json.loads(govreg("show", "dataset", "tax_payment", "--store", store, "--json", cwd=cwd).stdout)
    assert dataset["security"] == "sensitive"  # 就高从严: the tax amount is sensitive
    dept = json.loads(govreg("show", "department", "market", "--store", store, "--json", cwd=cwd).stdout)
    assert dept["owns"] == ["enterprise_name", "uscc"]
    owners = json.loads(govreg("owners", "--store", store, "--json", cwd=cwd).stdout)
    assert {(o["department"], o["elements"], o["datasets"]) for o in owners} == {
        ("market", 2, 1),
        ("tax", 1, 1),
    }
    found = json.loads(govreg("conflicts", "--store", store, "--json", cwd=cwd).stdout)
    assert [c["code"] for c in found] == ["GOV006"]
    missing = govreg("show", "element", "nope", "--store", store, cwd=cwd)
    assert missing.returncode == 1 and "no element 'nope'" in missing.stderr


def test_audit_verify_fails_on_a_tampered_store(city: tuple[Path, str]) -> None:
    import sqlite3

    home, store = city
    govreg("apply", "--home", str(home), "--store", store, cwd=home.parent)
    with sqlite3.connect(store.removeprefix("sqlite:///")) as db:
        db.execute("update audit_events set reason = 'nothing happened' where seq = 5")
    result = govreg("audit", "--store", store, "--verify", cwd=home.parent)
    assert result.returncode == 1
    assert "event 5: content does not match its hash" in result.stderr


def test_environment_variables_supply_home_and_store(city: tuple[Path, str]) -> None:
    home, store = city
    env = {"GOVREG_HOME": str(home), "GOVREG_STORE": store}
    assert govreg("apply", cwd=home.parent, env=env).returncode == 0
    assert "no changes" in govreg("apply", cwd=home.parent, env=env).stdout


HEAVY = ("great_expectations", "dagster", "graphene", "graphql", "duckdb", "sqlalchemy", "alembic", "rich")


def imported(*args: str) -> set[str]:
    """The top-level packages a real ``python -m govreg ...`` process imports (``-X importtime``)."""
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "govreg", *args],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    names = set()
    for line in done.stderr.splitlines():
        if line.startswith("import time:") and line.count("|") == 2:
            names.add(line.rsplit("|", 1)[1].strip().split(".")[0])
    return names


@pytest.mark.parametrize("args", [("--help",), ("--version",), ("validate", "--help")])
def test_help_and_version_load_no_heavy_library(args: tuple[str, ...]) -> None:
    """--help answers at once: no Great Expectations, Dagster, GraphQL, DuckDB, SQLAlchemy or rich
    is imported for it (bench/cli.py times it against ``import typer, rich``)."""
    loaded = imported(*args)
    assert "typer" in loaded  # the measurement sees imports at all
    assert not loaded & set(HEAVY), sorted(loaded & set(HEAVY))


def test_version_and_python_m_govreg(tmp_path: Path) -> None:
    from importlib.metadata import version

    result = govreg("--version", cwd=tmp_path)
    assert result.returncode == 0 and result.stdout.strip() == f"govreg {version('govreg')}"
    assert result.stderr == ""


def test_a_misspelt_key_gets_a_did_you_mean_on_its_line(tmp_path: Path) -> None:
    """A typo in a key names the key it probably meant, at any depth (a dataset column's keys)."""
    text = BASE.replace("{name: qymc, element: enterprise_name}", "{name: qymc, elemnt: enterprise_name}")
    home = write_home(tmp_path / "home", text)
    result = govreg("validate", "--home", "home", cwd=tmp_path)
    assert result.returncode == 1
    line = text.splitlines().index("      - {name: qymc, elemnt: enterprise_name}") + 1
    [message] = [m for m in result.stderr.splitlines() if "YAML002" in m]
    assert message.startswith(f"home/city.yaml:{line}:"), message
    assert "unknown key" in message and "did you mean 'element'?" in message
    assert home.is_dir()


def test_a_full_width_colon_is_named_on_its_own_line(tmp_path: Path) -> None:
    """YAML reads ``name： x`` as text and complains a line later; govreg names the '：' where it is."""
    lines = BASE.splitlines()
    number = next(i for i, line in enumerate(lines) if line.strip().startswith("name:")) + 1
    lines[number - 1] = lines[number - 1].replace("name:", "name：", 1)
    write_home(tmp_path / "home", "\n".join(lines) + "\n")
    result = govreg("validate", "--home", "home", cwd=tmp_path)
    assert result.returncode == 1
    [message] = [m for m in result.stderr.splitlines() if "YAML001" in m]
    assert message.startswith(f"home/city.yaml:{number}: YAML001 full-width colon '：' (U+FF1A)"), message


def test_validate_without_suites_loads_no_great_expectations(tmp_path: Path) -> None:
    """Validating declarations needs pydantic, sqlglot and YAML, not GX, Dagster or GraphQL: the
    sample city with its suites set aside validates without importing them (GX comes in only to
    check suites, with its own API)."""
    home = tmp_path / "city"
    shutil.copytree(CITY, home, ignore=shutil.ignore_patterns("suites"))
    loaded = imported("validate", "--home", str(home))
    assert "pydantic" in loaded and "sqlglot" in loaded
    assert not loaded & {"great_expectations", "dagster", "graphene", "graphql", "duckdb"}, loaded
    assert "great_expectations" in imported("validate", "--home", str(CITY))  # suites: checked by GX


def test_a_syntax_error_comes_first_and_its_echoes_are_counted(tmp_path: Path) -> None:
    """One unclosed quote in the market regulator's elements: govreg names it on its own line and
    holds back the dozens of "unregistered element" findings it causes elsewhere, saying how many;
    --json still carries them, apart, and the home stays invalid."""
    home = tmp_path / "city"
    shutil.copytree(CITY, home, ignore=shutil.ignore_patterns("suites"))
    path = home / "elements" / "market_regulation.yaml"
    lines = path.read_text(encoding="utf-8").splitlines()
    number = next(i for i, line in enumerate(lines) if line.strip().startswith("definition:")) + 1
    lines[number - 1] = '    definition: "未闭合的引号'
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")

    result = govreg("validate", "--home", "city", cwd=tmp_path)
    assert result.returncode == 1
    found = [m for m in result.stderr.splitlines() if ": YAML" in m or ": GOV" in m or ": QA" in m]
    assert len(found) == 1, found  # the syntax error alone, not the 15th of 18
    assert found[0].startswith(f"city/elements/market_regulation.yaml:{number}: YAML001 the quoted value")
    [held] = [m for m in result.stderr.splitlines() if "follow-on finding" in m]
    count = int(held.split()[0])

    data = json.loads(govreg("validate", "--home", "city", "--json", cwd=tmp_path).stdout)
    assert data["ok"] is False and [p["code"] for p in data["problems"]] == ["YAML001"]
    assert len(data["suppressed"]) == count >= 20
    assert {p["code"] for p in data["suppressed"]} >= {"GOV002", "GOV003"}
    assert any("unregistered element 'uscc'" in p["message"] for p in data["suppressed"])

    # a file-local finding elsewhere is still shown: only the registry-wide echoes are held back
    other = home / "datasets" / "tax.yaml"
    other.write_text(other.read_text(encoding="utf-8").replace("summary:", "sumary:", 1), encoding="utf-8")
    again = json.loads(govreg("validate", "--home", "city", "--json", cwd=tmp_path).stdout)
    assert sorted(p["code"] for p in again["problems"]) == ["YAML001", "YAML002"]

    # fixed, the file is read: only the lineage findings the rejected dataset skews stay held back
    path.write_text(
        path.read_text(encoding="utf-8").replace('"未闭合的引号', '"闭合的引号"'), encoding="utf-8"
    )
    fixed = json.loads(govreg("validate", "--home", "city", "--json", cwd=tmp_path).stdout)
    assert {p["code"] for p in fixed["suppressed"]} <= {"GOV030", "GOV039"}
    assert [p["code"] for p in fixed["problems"] if p["severity"] == "error"] == ["YAML002"]
    other.write_text(other.read_text(encoding="utf-8").replace("sumary:", "summary:", 1), encoding="utf-8")
    clean = json.loads(govreg("validate", "--home", "city", "--json", cwd=tmp_path).stdout)
    assert clean["ok"] is True and clean["suppressed"] == []


def test_a_misspelt_value_or_reference_gets_a_did_you_mean(tmp_path: Path) -> None:
    """An enum value, a department reference and an element reference, each misspelt once in the
    sample city: each is named with the value it probably meant, on its own line."""
    home = tmp_path / "city"
    shutil.copytree(CITY, home, ignore=shutil.ignore_patterns("suites"))

    def edit(relative: str, old: str, new: str) -> int:
        path = home / relative
        lines = path.read_text(encoding="utf-8").splitlines()
        number = next(i for i, line in enumerate(lines) if old in line) + 1
        lines[number - 1] = lines[number - 1].replace(old, new)
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        return number

    sharing = edit("elements/tax.yaml", "sharing: conditional", "sharing: conditionl")
    column = edit("datasets/tax.yaml", "element: uscc", "element: usc")
    data = json.loads(govreg("validate", "--home", "city", "--json", cwd=tmp_path).stdout)
    errors = {
        (p["code"], p["file"], p["line"]): p["message"] for p in data["problems"] if p["severity"] == "error"
    }
    assert "did you mean 'conditional'?" in errors["YAML003", "city/elements/tax.yaml", sharing]
    assert (
        "unregistered element 'usc'; did you mean 'uscc'?"
        in errors["GOV003", "city/datasets/tax.yaml", column]
    )
    # the element rejected for its value is declared: nothing calls it unregistered elsewhere
    rejected = errors["YAML003", "city/elements/tax.yaml", sharing].split("'")[1]
    assert not [m for m in errors.values() if f"element '{rejected}'" in m and "unknown" in m]

    edit("elements/court.yaml", "owner: court", "owner: cuort")
    data = json.loads(govreg("validate", "--home", "city", "--json", cwd=tmp_path).stdout)
    owners = [
        p["message"]
        for p in data["problems"]
        if p["code"] == "GOV005" and p["file"] == "city/elements/court.yaml"
    ]
    assert owners and "unknown department 'cuort'; did you mean 'court'?" in owners[0], owners


def test_a_view_key_must_be_an_output_column(tmp_path: Path) -> None:
    home = tmp_path / "city"
    shutil.copytree(CITY, home, ignore=shutil.ignore_patterns("suites"))
    view = home / "views" / "enterprise_360.yaml"
    view.write_text(view.read_text(encoding="utf-8").replace("key: [uscc]", "key: [uscc_code]"), "utf-8")
    data = json.loads(govreg("validate", "--home", "city", "--json", cwd=tmp_path).stdout)
    [found] = [p for p in data["problems"] if p["code"] == "GOV016"]
    assert "view 'enterprise_360' key 'uscc_code' is not one of its output columns" in found["message"]
    assert found["file"] == "city/views/enterprise_360.yaml" and data["ok"] is False


def test_a_suite_known_to_pass_is_not_checked_again_and_a_changed_one_is(tmp_path: Path) -> None:
    """The cache of passed suites: an unchanged home is validated again without importing GX; a
    suite changed by one byte is checked by GX again and its problem reported; nothing is
    remembered of a suite that failed; GOVREG_CACHE_DIR=off checks every time."""
    home = tmp_path / "city"
    shutil.copytree(CITY, home)
    env = {"GOVREG_CACHE_DIR": str(tmp_path / "cache")}

    def loads_gx(**extra: str) -> bool:
        done = subprocess.run(
            [sys.executable, "-X", "importtime", "-m", "govreg", "validate", "--home", str(home)],
            capture_output=True,
            text=True,
            timeout=300,
            env={**os.environ, **env, **extra},
        )
        assert done.returncode in (0, 1), done.stderr[-2000:]
        return "great_expectations" in done.stderr

    assert loads_gx()  # first time: checked by GX, remembered
    assert not loads_gx()  # unchanged: known to pass
    assert loads_gx(GOVREG_CACHE_DIR="off")
    suite = home / "suites" / "enterprise_registration.json"
    data = json.loads(suite.read_text(encoding="utf-8"))
    data["expectations"][0]["type"] = "expect_column_values_to_be_bogus"
    suite.write_text(json.dumps(data), encoding="utf-8")
    result = govreg("validate", "--home", str(home), cwd=tmp_path, env=env)
    assert result.returncode == 1 and "QA002" in result.stderr
    assert loads_gx()  # a failed suite is checked again, every time
