"""Attacks on "one truth between git and the API", export side: `govreg export --yaml` over the
home it came from writes only what the store changed, in place, so the change can be reviewed.

Each test copies the bundled city into a git repository, applies it to a real SQLite store, and
runs the real `govreg export --yaml` in a subprocess; the API's changes go through the real
GraphQL server over HTTP.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import httpx
import pytest

from registry.load import load_home, load_valid_home
from registry.store import Store
from registry.store.apply import apply_registry
from registry.store.rows import home_specs
from registry.store.tokens import create_token
from tests.support.api import Server
from tests.support.paths import CITY

TODAY = date.today()
REQUEST = """
mutation($from: Date!) {
  requestAccess(consumer: "market_regulation", elements: ["bank_account_number"],
                purpose: "核验企业退税账户", legalBasis: "《税收征收管理法》", validFrom: $from,
                reason: "退税核验") { ok errors { code message } agreement { code } }
}"""
DECIDE = """
mutation($code: String!) {
  decideAccess(agreementCode: $code, approve: true, reason: "用途明确") {
    ok errors { code message } agreement { code status }
  }
}"""


def git(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@example.org", *args],
        cwd=home,
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )


def export(store: Store, out: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "govreg",
            "export",
            "--yaml",
            "--store",
            store.url,
            "--out",
            str(out),
            *extra,
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=180,
    )


@pytest.fixture
def city(tmp_path: Path) -> Iterator[dict[str, Any]]:
    """The city copied into a git repository (committed) and applied to a fresh store."""
    home = tmp_path / "home"
    shutil.copytree(CITY, home, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    assert git(home, "init", "-q").returncode == 0
    git(home, "add", "-A")
    assert git(home, "commit", "-q", "-m", "the city").returncode == 0
    store = Store(f"sqlite:///{tmp_path / 'store.db'}")
    registry, _ = load_valid_home(home)
    apply_registry(store, registry, actor="tester", reason="city", source=str(home))
    yield {"home": home, "store": store, "tmp": tmp_path}
    store.dispose()


def test_export_of_an_unchanged_store_over_its_home_changes_nothing(city: dict[str, Any]) -> None:
    home: Path = city["home"]
    done = export(city["store"], home)
    assert done.returncode == 0, done.stdout + done.stderr
    diff = git(home, "diff", "--exit-code", "--stat")
    assert diff.returncode == 0, diff.stdout  # not one line rewritten: comments, order, flow style kept
    assert git(home, "status", "--porcelain").stdout == ""  # no file added or removed (suites stay)


def test_export_after_an_api_approval_adds_just_that_agreement(city: dict[str, Any]) -> None:
    home: Path = city["home"]
    store: Store = city["store"]
    _, steward = create_token(store, department="market_regulation", role="steward", actor="t", reason="t")
    _, admin = create_token(store, department="big_data_center", role="center-admin", actor="t", reason="t")
    with Server(store) as server:

        def run(token: str, query: str, **variables: Any) -> dict[str, Any]:
            reply = httpx.post(
                server.url + "/graphql",
                json={"query": query, "variables": variables},
                headers={"Authorization": f"Bearer {token}"},
                timeout=30,
            )
            assert reply.status_code == 200, reply.text
            return dict(reply.json()["data"])

        asked = run(steward, REQUEST, **{"from": TODAY.isoformat()})["requestAccess"]
        assert asked["ok"], asked
        code = asked["agreement"]["code"]
        decided = run(admin, DECIDE, code=code)["decideAccess"]
        assert decided["ok"] and decided["agreement"]["status"] == "APPROVED", decided

    done = export(store, home)
    assert done.returncode == 0, done.stdout + done.stderr
    changed = [line.split("\t") for line in git(home, "diff", "--numstat").stdout.splitlines()]
    assert [path for _, _, path in changed] == ["agreements/agreements.yaml"], changed
    added, removed, _ = changed[0]
    assert removed == "0" and 10 < int(added) < 25, changed  # one agreement appended, nothing rewritten
    assert git(home, "status", "--porcelain", "--untracked-files=all").stdout.strip() == (
        "M agreements/agreements.yaml"
    )
    text = (home / "agreements/agreements.yaml").read_text(encoding="utf-8")
    assert text.startswith("# Sharing agreements (共享协议)")  # the file's comments are still there
    assert f"code: {code}" in text and "status: approved" in text.split(f"code: {code}")[1]
    exported, _ = load_valid_home(home)
    assert home_specs(exported) == store.read_specs()  # git now holds exactly what the store holds
    again = export(store, home)
    assert again.returncode == 0 and git(home, "diff", "--numstat").stdout.count("\n") == 1
    applied = subprocess.run(  # the loop closes: git and the store agree, apply has nothing to do
        [sys.executable, "-m", "govreg", "apply", "--home", str(home), "--store", store.url],
        capture_output=True,
        text=True,
        check=False,
        timeout=180,
    )
    assert applied.returncode == 0 and "no changes" in applied.stdout, applied.stdout + applied.stderr


RETIRE = """
mutation {
  retireElement(elementCode: "death_date", reason: "并入死亡医学证明信息") { ok errors { code message } }
}"""


def test_an_api_change_to_a_declared_entity_changes_only_its_lines(city: dict[str, Any]) -> None:
    """An element retired through the API: its `status` line changes, in its own file, and no other."""
    home: Path = city["home"]
    store: Store = city["store"]
    _, admin = create_token(store, department="big_data_center", role="center-admin", actor="t", reason="t")
    with Server(store) as server:
        reply = httpx.post(
            server.url + "/graphql",
            json={"query": RETIRE},
            headers={"Authorization": f"Bearer {admin}"},
            timeout=30,
        )
    assert reply.json()["data"]["retireElement"]["ok"], reply.text
    done = export(store, home)
    assert done.returncode == 0, done.stdout + done.stderr
    assert git(home, "diff", "--numstat").stdout == "1\t1\telements/health.yaml\n"
    diff = git(home, "diff", "-U0").stdout
    assert "-    status: standard" in diff and "+    status: retired" in diff, diff


def test_ruamel_rendering_never_leaks_into_lines_the_export_did_not_change(city: dict[str, Any]) -> None:
    """`elements/court.yaml` writes a pattern with `\\u4e00` escapes, which a YAML library renders
    as the characters themselves; changing another element of that file keeps the escapes."""
    from registry.export import update_home
    from registry.store.rows import registry_from_specs

    home: Path = city["home"]
    stored = registry_from_specs(city["store"].read_specs())
    court = next(c for c, e in stored.elements.items() if e.owner == "court" and c != "case_number")
    changed = stored.elements[court].model_copy(update={"definition": "新的定义。"})
    elements = {**stored.elements, court: changed}
    registry = type(stored).build(stored.settings, {**dict(stored.sections()), "elements": elements})
    assert [p.name for p in update_home(registry, home)] == ["court.yaml"]
    assert git(home, "diff", "--numstat").stdout == "1\t1\telements/court.yaml\n"
    assert "[\\u4e00-\\u9fa5]" in (home / "elements/court.yaml").read_text(encoding="utf-8")


def test_an_export_to_a_new_folder_carries_the_suites(city: dict[str, Any]) -> None:
    """The store holds no Great Expectations suites: `--home` names where they come from."""
    home: Path = city["home"]
    out: Path = city["tmp"] / "exported"
    done = export(city["store"], out, "--home", str(home))
    assert done.returncode == 0, done.stdout + done.stderr
    suites = sorted(p.name for p in (home / "suites").glob("*.json"))
    assert suites and sorted(p.name for p in (out / "suites").glob("*.json")) == suites
    for name in suites:
        assert (out / "suites" / name).read_bytes() == (home / "suites" / name).read_bytes()


def test_an_export_keeps_what_the_home_declares_and_was_not_applied_yet(city: dict[str, Any]) -> None:
    """Work in the home not applied yet is not taken out by an export, unless `--prune`."""
    home: Path = city["home"]
    services = home / "services/services.yaml"
    text = services.read_text(encoding="utf-8")
    pending = text.rstrip("\n") + (
        "\n\n  - code: street_lamp_repair\n    name: 路灯报修\n    name_en: Street lamp repair\n"
        "    department: civil_affairs\n"
    )
    services.write_text(pending, encoding="utf-8")
    done = export(city["store"], home)
    assert done.returncode == 0, done.stdout + done.stderr
    assert services.read_text(encoding="utf-8") == pending
    assert "service street_lamp_repair" in done.stderr and "--prune" in done.stderr
    pruned = export(city["store"], home, "--prune")
    assert pruned.returncode == 0, pruned.stdout + pruned.stderr
    assert "street_lamp_repair" not in services.read_text(encoding="utf-8")
    assert git(home, "diff", "--exit-code", "--stat").returncode == 0


def _changed(section: str, code: str, field: str, how: Any) -> Any:
    def change(registry: Any) -> dict[str, Any]:
        sections = {name: dict(items) for name, items in registry.sections()}
        entity = sections[section][code]
        sections[section][code] = entity.model_copy(update={field: how(getattr(entity, field))})
        return sections

    return change


def _removed(section: str, code: str) -> Any:
    def change(registry: Any) -> dict[str, Any]:
        sections = {name: dict(items) for name, items in registry.sections()}
        del sections[section][code]
        return sections

    return change


@pytest.mark.parametrize(
    ("change", "lines"),
    [
        (_changed("services", "enterprise_establishment", "elements", lambda v: list(v)[:-1]), "0\t1"),
        (_changed("datasets", "enterprise_registration", "columns", lambda v: list(v)[:-1]), "0\t1"),
        (
            _changed(
                "datasets",
                "enterprise_registration",
                "columns",
                lambda v: [*v, v[0].model_copy(update={"name": "tyshxydm_2"})],
            ),
            "1\t0",
        ),
        (_changed("agreements", "agr_tax_market", "elements", lambda v: list(v)[:1]), "1\t1"),
        (_changed("views", "enterprise_360", "query", lambda v: v + "\n-- reviewed"), "1\t0"),
        (_removed("elements", "death_date"), None),
    ],
    ids=[
        "service-item-dropped",
        "column-dropped",
        "column-added",
        "grants-cut",
        "view-sql",
        "element-removed",
    ],
)
def test_each_kind_of_change_writes_only_its_own_lines(city: dict[str, Any], change: Any, lines: str) -> None:
    """Store-side changes of every shape, written over the home: the home then loads to exactly
    the changed registry, one file changes, and only by the lines the change needs (a default
    another item writes out, such as `source: applicant`, stays written)."""
    from registry.export import update_home
    from registry.home import Registry
    from registry.store.rows import registry_from_specs

    home: Path = city["home"]
    stored = registry_from_specs(city["store"].read_specs())
    wanted = Registry.build(stored.settings, change(stored))
    update_home(wanted, home, prune=True)
    numstat = git(home, "diff", "--numstat").stdout.splitlines()
    assert len(numstat) == 1, numstat
    if lines is not None:
        assert numstat[0].rsplit("\t", 1)[0] == lines, numstat
    reloaded, problems = load_home(home)  # shape only: the changes need not pass the rules
    assert not problems and home_specs(reloaded) == home_specs(wanted)


def test_a_file_with_a_byte_order_mark_and_windows_line_ends_keeps_them(city: dict[str, Any]) -> None:
    from registry.export import update_home
    from registry.home import Registry
    from registry.store.rows import registry_from_specs

    home: Path = city["home"]
    path = home / "departments.yaml"
    path.write_bytes(b"\xef\xbb\xbf" + path.read_bytes().replace(b"\n", b"\r\n"))
    git(home, "commit", "-q", "-am", "written on Windows")
    stored = registry_from_specs(city["store"].read_specs())
    sections = {name: dict(items) for name, items in stored.sections()}
    sections["departments"]["tax"] = sections["departments"]["tax"].model_copy(update={"name_en": "Tax"})
    update_home(Registry.build(stored.settings, sections), home)
    assert git(home, "diff", "--numstat").stdout == "1\t1\tdepartments.yaml\n"
    raw = path.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf") and raw.count(b"\n") == raw.count(b"\r\n")
