"""What a person sees: the real ``govreg`` on the sample city, applied to a real SQLite store.

Tables fit the terminal and never cut an identifier in two; values are rendered for people (no
JSON with nulls, no ``True``); times are Asia/Shanghai with the offset shown; ``show`` finds an
entity by any of its names; ``search`` ranks; ``token list`` never shows a secret.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from rich.cells import cell_len

from registry.load import load_valid_home
from tests.support.cli import CITY, govreg

REGISTRY, _ = load_valid_home(CITY)
KNOWN = {code for _, section in REGISTRY.sections() for code in section} | {
    c.name for d in REGISTRY.datasets.values() for c in d.columns
}
BORDERS = re.compile(r"[│┃]")


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Path]:
    where = tmp_path_factory.mktemp("display")
    url = f"sqlite:///{where / 'store.db'}"
    done = govreg("apply", "--home", str(CITY), "--store", url, "--reason", "display tests", cwd=where)
    assert done.returncode == 0, done.stderr
    return url, where


def narrow(*args: str, store: tuple[str, Path], columns: int = 100) -> str:
    url, where = store
    done = govreg(*args, "--store", url, cwd=where, env={"COLUMNS": str(columns)})
    assert done.returncode == 0, done.stderr
    return done.stdout


def cells(text: str) -> list[str]:
    """Every table cell's text on every line (the text between vertical rules), stripped."""
    return [c.strip() for line in text.splitlines() if BORDERS.search(line) for c in BORDERS.split(line)]


@pytest.mark.parametrize(
    ("args", "identifiers"),
    [
        (("owners",), sorted(REGISTRY.departments)),
        (
            ("show", "dataset", "enterprise_registration"),
            [c.element for c in REGISTRY.datasets["enterprise_registration"].columns],
        ),
        (
            ("show", "element", "uscc"),
            sorted(d.code for d in REGISTRY.datasets.values() if any(c.element == "uscc" for c in d.columns)),
        ),
        (("search", "enterprise"), ["enterprise_registration", "enterprise_360", "enterprise_name"]),
        (("audit", "--limit", "30"), ["subsistence_allowance_application", "property_transfer_registration"]),
    ],
    ids=["owners", "show-dataset", "show-element", "search", "audit"],
)
def test_tables_fit_100_columns_and_never_cut_an_identifier(
    store: tuple[str, Path], args: tuple[str, ...], identifiers: list[str]
) -> None:
    """At COLUMNS=100 no line is wider than 100 cells, and every identifier the table holds is
    printed whole on one line (the old tables printed ``market_regulatio│n``)."""
    out = narrow(*args, store=store)
    assert max(cell_len(line) for line in out.splitlines()) <= 100
    words = set(re.findall(r"[A-Za-z0-9_]+", out))
    missing = [code for code in identifiers if code not in words]
    assert not missing, (missing, out[:3000])
    # and no cell holds the head of an identifier whose tail went to the next line (a head with
    # an underscore: English words in names may well be heads of codes)
    shown = set(cells(out)) - KNOWN
    for code in identifiers:
        for cut in range(code.find("_") + 1 or len(code), len(code)):
            assert code[:cut] not in shown, (code, cut)


def test_show_renders_values_for_people(store: tuple[str, Path]) -> None:
    out = narrow("show", "element", "uscc", store=store, columns=160)
    assert "null" not in out and "True" not in out and '{"' not in out
    assert "check character GB 32100" in out and "length 18" in out
    assert "unconditional 无条件共享" in out and "required" in out and re.search(r"required\s*│\s*yes", out)
    department = narrow("show", "department", "tax", store=store, columns=160)
    steward = REGISTRY.departments["tax"].stewards[0]
    assert f"{steward.name} <{steward.email}>" in department and "phone" not in department


@pytest.mark.parametrize(
    ("kind", "text", "code"),
    [
        ("element", "统一社会信用代码", "uscc"),  # the Chinese name
        ("element", "Unified social credit code", "uscc"),  # the English name, any case below
        ("element", "unified SOCIAL credit code", "uscc"),
        ("element", "社会信用代码", "uscc"),  # a synonym
        ("department", REGISTRY.departments["tax"].uscc or "", "tax"),  # 统一社会信用代码
        ("department", REGISTRY.departments["tax"].short_name or "", "tax"),
        (
            "dataset",
            REGISTRY.datasets["enterprise_registration"].catalog_code or "",
            "enterprise_registration",
        ),
        ("view", REGISTRY.views["enterprise_360"].name, "enterprise_360"),
        ("agreement", "agr_tax_market", "agr_tax_market"),
    ],
)
def test_show_finds_an_entity_by_any_name(store: tuple[str, Path], kind: str, text: str, code: str) -> None:
    assert text
    data = json.loads(narrow("show", kind, text, "--json", store=store))
    key = "view" if kind == "view" else kind
    assert data[key]["code"] == code


def test_show_of_a_view_and_an_agreement(store: tuple[str, Path]) -> None:
    view = narrow("show", "view", "enterprise_360", store=store, columns=160)
    assert "SELECT" in view and "big_data_center" in view
    agreement = narrow("show", "agreement", "agr_tax_market", store=store, columns=160)
    expected = [
        c.name for c in REGISTRY.datasets["tax_registration"].columns if c.replica == "agr_tax_market"
    ]
    assert expected and all(name in agreement for name in expected)  # the replicas it backs
    assert "approved 已批准" in agreement


def test_show_of_nothing_and_of_an_ambiguous_name(store: tuple[str, Path]) -> None:
    url, where = store
    missing = govreg("show", "element", "信用代码", "--store", url, cwd=where)
    assert missing.returncode == 1 and "did you mean" in missing.stderr and "uscc" in missing.stderr


def test_search_ranks_exact_then_prefix_then_contains(store: tuple[str, Path]) -> None:
    hits = json.loads(narrow("search", "信用代码", "--json", store=store))["hits"]
    assert hits[0]["kind"] == "element" and hits[0]["code"] == "uscc"
    ranks = [h["rank"] for h in hits]
    order = ["code", "name", "prefix", "contains", "text"]
    assert ranks == sorted(ranks, key=order.index)
    exact = json.loads(narrow("search", "uscc", "--json", store=store))["hits"]
    assert exact[0] == {**exact[0], "code": "uscc", "rank": "code"}
    kinds = {h["kind"] for h in json.loads(narrow("search", "企业", "--json", store=store))["hits"]}
    assert {"element", "dataset", "view"} <= kinds
    only = json.loads(narrow("search", "企业", "--kind", "dataset", "--json", store=store))["hits"]
    assert only and {h["kind"] for h in only} == {"dataset"}


def test_audit_times_are_asia_shanghai_with_the_offset(store: tuple[str, Path]) -> None:
    [event] = json.loads(narrow("audit", "--limit", "1", "--json", store=store))
    stored = datetime.fromisoformat(event["ts"].replace("Z", "+00:00")).astimezone(UTC)
    local = (stored + timedelta(hours=8)).strftime("%Y-%m-%d %H:%M:%S")
    out = narrow("audit", "--limit", "1", store=store, columns=160)
    assert local in out and "UTC+08:00" in out
    # a typed date is a day in Asia/Shanghai: the event falls in its local day, not its UTC one
    day = (stored + timedelta(hours=8)).date().isoformat()
    within = json.loads(
        narrow("audit", "--since", day, "--until", day, "--limit", "500", "--json", store=store)
    )
    assert any(e["seq"] == event["seq"] for e in within)


def test_token_list_shows_tokens_and_never_a_secret(store: tuple[str, Path]) -> None:
    made = json.loads(
        narrow("token", "create", "--department", "tax", "--role", "steward", "--json", store=store)
    )
    assert made["token"].startswith("grt_") and made["department"] == "tax"
    listed = json.loads(narrow("token", "list", "--json", store=store))
    assert [t["id"] for t in listed if t["id"] == made["id"]] == [made["id"]]
    assert all("token" not in t and "token_hash" not in t for t in listed)
    table = narrow("token", "list", store=store)
    assert made["token"] not in table and "tax" in table
    revoked = json.loads(narrow("token", "revoke", str(made["id"]), "--json", store=store))
    assert revoked["revoked_at"] and "token" not in revoked
    assert made["id"] not in [t["id"] for t in json.loads(narrow("token", "list", "--json", store=store))]
    assert made["id"] in [
        t["id"] for t in json.loads(narrow("token", "list", "--all", "--json", store=store))
    ]


def test_export_says_what_it_wrote_in_json(store: tuple[str, Path], tmp_path: Path) -> None:
    url, _ = store
    done = govreg("export", "--yaml", "--out", str(tmp_path / "home"), "--store", url, "--json", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    assert (
        data["ok"] is True and data["written"] and all((tmp_path / "home").exists() for _ in data["written"])
    )
    assert done.stderr == ""  # no spinner when standard error is not a terminal
