"""Attacks on the declarations themselves: one owner per element, one body per USCC, and a
registration status that climbs the ISO/IEC 11179 ladder instead of jumping around it.

Each runs the real CLI (typer's CliRunner on ``cli``'s app) on a copy of the sample city
in ``tmp_path`` and, for the status ladder, a real SQLite metadata store.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from cli import app
from registry.store import Store
from registry.store.audit import query_events
from tests.support.paths import CITY

LAMPS = """\
elements:
  - code: street_lamps
    name: 路灯数量
    name_en: Street lamp count
    type: integer
    owner: civil_affairs
    status: {status}
"""


def _city(tmp_path: Path) -> Path:
    """The sample city without its views and indicators: what is attacked here is no SQL's."""
    home = tmp_path / "city"
    shutil.copytree(CITY, home, ignore=shutil.ignore_patterns("views", "indicators"))
    return home


def _validate(home: Path) -> tuple[int, list[dict[str, Any]]]:
    result = CliRunner().invoke(app, ["validate", "--home", str(home), "--json"])
    return result.exit_code, list(json.loads(result.stdout)["problems"])


def test_an_element_declared_twice_is_reported_at_both_places_and_owned_by_neither(tmp_path: Path) -> None:
    """big_data_center declares tax's tax_paid_amount again, in a file that sorts first. Both
    declarations are named; neither wins: no finding treats big_data_center (or tax) as its owner."""
    home = _city(tmp_path)
    (home / "elements" / "aa_copy.yaml").write_text(
        "elements:\n"
        "  - code: tax_paid_amount\n"
        "    name: 实缴税额\n"
        "    name_en: Tax paid\n"
        "    type: currency\n"
        "    owner: big_data_center\n"
        "    status: standard\n",
        encoding="utf-8",
    )
    code, problems = _validate(home)
    assert code == 1
    dup = [p for p in problems if p["code"] == "GOV001"]
    assert sorted(Path(p["file"]).name for p in dup) == ["aa_copy.yaml", "tax.yaml"], dup
    for p in dup:  # each names the other place
        other = "tax.yaml" if p["file"].endswith("aa_copy.yaml") else "aa_copy.yaml"
        assert other in p["message"], p
    assert not [
        p for p in problems if "big_data_center" in p["message"] and "tax_paid_amount" in p["message"]
    ]
    follow_on = [p for p in problems if p["code"] != "GOV001" and "tax_paid_amount" in p["message"]]
    assert follow_on == []  # not "unregistered" (GOV003), nor owned by one of them (GOV006, GOV032)


def test_a_list_of_owners_is_one_owner_too_many(tmp_path: Path) -> None:
    home = _city(tmp_path)
    path = home / "elements" / "civil_affairs.yaml"
    text = path.read_text(encoding="utf-8")
    path.write_text(text.replace("owner: civil_affairs", "owner: [civil_affairs, tax]", 1), encoding="utf-8")
    code, problems = _validate(home)
    assert code == 1
    owner = [p for p in problems if "owner" in p["message"] and "division_code" in p["message"]]
    assert len(owner) == 1, problems
    assert "exactly one owner department" in owner[0]["message"]
    assert "valid string" not in owner[0]["message"]
    assert owner[0]["code"] == "GOV005" and owner[0]["line"] == 12


def test_two_departments_with_one_uscc_are_warned(tmp_path: Path) -> None:
    """A second body registered with the market regulator's own USCC: a GOV034 warning naming both."""
    home = _city(tmp_path)
    (home / "departments_extra.yaml").write_text(
        "departments:\n"
        "  - code: market_inspection\n"
        "    name: 山城市市场监管综合执法总队\n"
        "    name_en: Shancheng Market Inspection Corps\n"
        "    parent: market_regulation\n"
        "    uscc: 11500000MB1510387C\n",
        encoding="utf-8",
    )
    code, problems = _validate(home)
    assert code == 0  # a warning: the registry still validates
    found = [p for p in problems if p["code"] == "GOV034"]
    assert len(found) == 1 and found[0]["severity"] == "warning", problems
    assert "market_regulation" in found[0]["message"] and "market_inspection" in found[0]["message"]


def _apply(home: Path, url: str, *args: str) -> Any:
    return CliRunner().invoke(
        app, [*args, "--home", str(home), "--store", url, "--json"], env={"GOVREG_ACTOR": "t"}
    )


def _status(url: str) -> str:
    store = Store(url)
    try:
        return str(json.loads(store.read_specs()["elements"]["street_lamps"])["status"])
    finally:
        store.dispose()


def _events(url: str) -> int:
    store = Store(url)
    try:
        with store.read() as conn:
            return len(list(query_events(conn, limit=100_000)))
    finally:
        store.dispose()


def test_apply_refuses_a_retired_element_made_standard_again(tmp_path: Path) -> None:
    """standard → retired is applied; retired → standard is refused by plan and apply (GOV035),
    and the store keeps the element retired, with no audit event added."""
    home = _city(tmp_path)
    url = f"sqlite:///{tmp_path / 'registry.db'}"
    lamps = home / "elements" / "lamps.yaml"
    for status in ("standard", "retired"):
        lamps.write_text(LAMPS.format(status=status), encoding="utf-8")
        done = _apply(home, url, "apply")
        assert done.exit_code == 0, done.output
    assert _status(url) == "retired"
    events = _events(url)
    lamps.write_text(LAMPS.format(status="standard"), encoding="utf-8")
    planned = _apply(home, url, "plan")
    assert planned.exit_code == 1 and "GOV035" in planned.output, planned.output
    refused = _apply(home, url, "apply")
    assert refused.exit_code == 1 and "GOV035" in refused.output, refused.output
    assert "retired" in refused.output and "standard" in refused.output
    assert _status(url) == "retired"
    assert _events(url) == events


def test_apply_refuses_a_step_down_the_ladder_and_allows_the_climb(tmp_path: Path) -> None:
    """candidate → recorded → qualified → standard → preferred climbs; preferred → candidate is refused."""
    home = _city(tmp_path)
    url = f"sqlite:///{tmp_path / 'registry.db'}"
    lamps = home / "elements" / "lamps.yaml"
    for status in ("candidate", "recorded", "qualified", "standard", "preferred"):
        lamps.write_text(LAMPS.format(status=status), encoding="utf-8")
        done = _apply(home, url, "apply")
        assert done.exit_code == 0, (status, done.output)
    lamps.write_text(LAMPS.format(status="candidate"), encoding="utf-8")
    refused = _apply(home, url, "apply")
    assert refused.exit_code == 1 and "GOV035" in refused.output, refused.output
    assert _status(url) == "preferred"
