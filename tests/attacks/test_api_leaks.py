"""Promise: no restricted datum leaks on any path of the GraphQL API.

Each restricted datum — a core element's synonyms, definition and legal basis; a quality result's
sample values and error message (a compound key as restricted as its most restricted column); a
finding quoting a core element's synonym (``conflicts``); a rule refusal quoting a not-shared core
element's legal basis (``requestAccess``, GOV009); a refused load's reason quoting the file's
header or a link's target — is asked for through every path that reaches it, by each role: a
reader of a department without an agreement (``outsider``), a reader of a department with an
approved agreement (``consumer``), the owner's (or provider's) steward (``steward``) and a
center admin (``admin``). Each asserts exactly who sees the raw text, and that everyone else gets
it FORBIDDEN, masked, content-free or absent, never the raw text anywhere in the HTTP body.

Real parts: the city registry (made stricter: two core tax elements sharing a synonym, a core
not-shared element, two more grants) applied to a real SQLite store; quality results written by
the store's own writer (``record_results``, as the validation pipeline does); refused loads made
by the real ingestion (``ingest_file``) of a file whose header is ``/etc/passwd``-like content
(written by the test, not the real ``/etc/passwd``), copied and symlinked; the real server on a
loopback port, queried over HTTP with httpx.

Controls (passed before the fix, kept so every path stays covered): every row of the table in
which the role may see the datum; and the rows of the direct element fields (``element``,
``elements``, ``department.owns``, ``dataset.columns.element``, ``agreements.elements``),
``search``, ``impact``, ``dataMap`` and ``audit``, which held already. The other rows, and the
four tests after the table, failed before the fix (18 in all, on 5de9ac1 and on 2a5f6bb).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import duckdb
import httpx
import pytest

from ingest import IngestError, ingest_file
from registry.home import Registry
from registry.load import load_valid_home
from registry.model import Element
from registry.store import Store
from registry.store.apply import apply_registry
from registry.store.quality import record_results
from registry.store.tokens import create_token
from registry.vocab import SecurityLevel
from tests.support.api import Server
from tests.support.paths import CITY

SYNONYM = "机密税额甲"  # a synonym of two core tax elements: GOV022 quotes it in conflicts
DEFINITION = "机密定义MARKDEF：仅限协议方"
LAW = "《机密法MARKLAW》第九条"
SECRET = "informant_identity"  # core, not shared: requestAccess is refused (GOV009)
SECRET_LAW = "《刑事诉讼法MARKGOV009》第一百一十一条"
TAX_SAMPLE = "RAWTAXID915000MARK01"  # a raw value of the core taxpayer_id (compound key)
MARRIAGE_SAMPLE = "J500MARK****0001"  # a masked value of marriage_certificate_number + id_number
ERROR_VALUE = "RAWAMOUNTMARK-3.14"  # quoted by an expectation's error on core tax_paid_amount
PASSWD = "root:x:0:0:MARKPASSWD-root:/root:/bin/bash"  # the header of a passwd-like file
LINK_DIR = "MARKLINKTARGET"  # a folder in the target path of a symlinked file
LINKED = "root:x:0:0:MARKLINKED-root:/root:/bin/bash"  # the header of the file it links to

TOKENS = (
    ("admin", "big_data_center", "center-admin"),
    ("outsider", "court", "reader"),  # no agreement for tax, civil affairs or public security data
    ("outsider_steward", "court", "steward"),
    ("consumer", "real_estate", "reader"),  # granted tax_paid_amount, taxpayer_id, marriage + id data
    ("partial", "market_regulation", "reader"),  # granted id_number, not marriage_certificate_number
    ("tax_steward", "tax", "steward"),
    ("civil_steward", "civil_affairs", "steward"),
    ("ps_steward", "public_security", "steward"),
)


def _registry() -> Registry:
    registry, _ = load_valid_home(CITY)
    els = dict(registry.elements)
    core = SecurityLevel.CORE
    els["tax_paid_amount"] = els["tax_paid_amount"].model_copy(
        update={"security": core, "synonyms": (SYNONYM,), "definition": DEFINITION, "legal_basis": LAW}
    )
    taxpayer = els["taxpayer_id"]
    els["taxpayer_id"] = taxpayer.model_copy(
        update={"security": core, "synonyms": (*taxpayer.synonyms, SYNONYM)}
    )
    els[SECRET] = Element.model_validate(
        {
            "code": SECRET,
            "name": "举报人身份",
            "name_en": "Informant identity",
            "owner": "public_security",
            "security": "core",
            "sharing": "not_shared",
            "legal_basis": SECRET_LAW,
            "status": "standard",
        }
    )
    agreements = dict(registry.agreements)
    for code, extra in (
        ("agr_real_estate_tax", "taxpayer_id"),
        ("agr_real_estate_civil", "marriage_certificate_number"),
    ):
        agreements[code] = agreements[code].model_copy(
            update={"elements": (*agreements[code].elements, extra)}
        )
    sections = {name: dict(section) for name, section in registry.sections()}
    sections["elements"] = els
    sections["agreements"] = agreements
    return Registry.build(registry.settings, sections)


def _quality(store: Store) -> None:
    base = {"suite": "standards", "severity": "critical", "element_count": 100, "unexpected_count": 2}
    record_results(
        store,
        "tax",
        [
            {
                **base,
                "dataset": "tax_payment",
                "key": "unique:taxpayer_id+tax_period+tax_type",
                "type": "expect_compound_columns_to_be_unique",
                "columns": ["taxpayer_id", "tax_period", "tax_type"],
                "status": "failed",
                "unexpected_percent": 2.0,
                "samples": [TAX_SAMPLE, "2026-01", "增值税"],
            },
            {
                **base,
                "dataset": "tax_payment",
                "key": "range:tax_paid_amount",
                "type": "expect_column_values_to_be_between",
                "columns": ["tax_paid_amount"],
                "element": "tax_paid_amount",
                "status": "error",
                "message": f"Conversion Error: Could not convert string '{ERROR_VALUE}' to DECIMAL",
            },
        ],
    )
    record_results(
        store,
        "civil_affairs",
        [
            {
                **base,
                "dataset": "marriage_registration",
                "key": "unique:marriage_certificate_number+id_number",
                "type": "expect_compound_columns_to_be_unique",
                "columns": ["marriage_certificate_number", "id_number"],
                "status": "failed",
                "unexpected_percent": 2.0,
                "samples": [MARRIAGE_SAMPLE, "5001**********1234"],
            }
        ],
    )


def _loads(registry: Registry, store: Store, root: Path) -> None:
    """Two refused loads of tax_registration: a copy of passwd-like content, and a link to it."""
    fake_etc = root / LINK_DIR / "etc"  # the link's target: its path and its header say MARKLINK
    fake_etc.mkdir(parents=True)
    passwd = fake_etc / "passwd"
    passwd.write_text(f"{LINKED}\ndaemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin\n", encoding="utf-8")
    landing = root / "landing" / "tax" / "tax_registration"
    landing.mkdir(parents=True)
    copied = landing / "tax_registration_2026-12.csv"
    copied.write_text(f"{PASSWD}\nbin:x:2:2:bin:/bin:/usr/sbin/nologin\n", encoding="utf-8")
    linked = landing / "tax_registration_2026-11.csv"
    linked.symlink_to(passwd)
    for path in (copied, linked):  # the city's completion marker
        path.with_name(path.name + ".done").write_text("", encoding="utf-8")
    con = duckdb.connect(str(root / "warehouse.duckdb"))
    try:
        for path in (copied, linked):
            with pytest.raises(IngestError):
                ingest_file(
                    registry, "tax_registration", path, warehouse=con, store=store, quarantine=root / "q"
                )
    finally:
        con.close()


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    root = tmp_path_factory.mktemp("leaks")
    store = Store(f"sqlite:///{root / 'store.db'}")
    registry = _registry()
    apply_registry(store, registry, actor="tester", reason="city, stricter", source=str(CITY))
    _quality(store)
    _loads(registry, store, root)
    tokens = {
        name: create_token(store, department=dept, role=role, actor="tester", reason="test")[1]
        for name, dept, role in TOKENS
    }
    with Server(store) as server:
        yield {"store": store, "server": server, "tokens": tokens}
    store.dispose()


def ask(env: dict[str, Any], who: str, query: str, variables: dict[str, Any] | None = None) -> httpx.Response:
    response = httpx.post(
        env["server"].url + "/graphql",
        json={"query": query, "variables": variables or {}},
        headers={"Authorization": f"Bearer {env['tokens'][who]}"},
        timeout=60,
    )
    assert response.status_code == 200, response.text
    return response


ELEMENT_FIELDS = "code definition synonyms legalBasis"
QUALITY = "qualityResults { key samples message }"
REQUEST = """
mutation($consumer: String!, $from: Date!) {
  requestAccess(consumer: $consumer, elements: ["informant_identity"], purpose: "核查",
                validFrom: $from, reason: "核查线索") { ok errors { code message field } }
}"""
OWN = "<the token's department; court for the admin>"
LOADS = '{ loads(dataset: "tax_registration", first: 20) { edges { node { file status ruleCode reason } } } }'

# (datum, path, query, variables, raw text, how the others get it, {role: (token, sees it)})
TAX = {
    "outsider": ("outsider", False),
    "consumer": ("consumer", True),
    "steward": ("tax_steward", True),
    "admin": ("admin", True),
}
CIVIL = {**TAX, "steward": ("civil_steward", True)}
PROVIDER_ONLY = {**TAX, "consumer": ("consumer", False)}
NOBODY = {role: (token, False) for role, (token, _) in TAX.items()}
GOV009 = {
    "outsider": ("outsider_steward", False),  # only stewards and admins may request
    "consumer": ("consumer", False),
    "steward": ("ps_steward", True),
    "admin": ("admin", True),
}
PATHS: list[tuple[str, str, str, dict[str, Any] | None, str, str, dict[str, tuple[str, bool]]]] = [
    # a core element's restricted details (controls: these were FORBIDDEN already)
    (
        "details",
        "element",
        f'{{ element(code: "tax_paid_amount") {{ {ELEMENT_FIELDS} }} }}',
        None,
        SYNONYM,
        "forbidden",
        TAX,
    ),
    (
        "details",
        "elements",
        f'{{ elements(owner: "tax", first: 100) {{ edges {{ node {{ {ELEMENT_FIELDS} }} }} }} }}',
        None,
        DEFINITION,
        "forbidden",
        TAX,
    ),
    (
        "details",
        "department.owns",
        f'{{ department(code: "tax") {{ owns(first: 100) {{ edges {{ node {{ {ELEMENT_FIELDS} }} }} }} }} }}',
        None,
        LAW,
        "forbidden",
        TAX,
    ),
    (
        "details",
        "dataset.columns.element",
        f'{{ dataset(code: "tax_payment") {{ columns {{ element {{ {ELEMENT_FIELDS} }} }} }} }}',
        None,
        SYNONYM,
        "forbidden",
        TAX,
    ),
    (
        "details",
        "agreements.elements",
        f"{{ agreements(first: 100) {{ edges {{ node {{ elements {{ {ELEMENT_FIELDS} }} }} }} }} }}",
        None,
        DEFINITION,
        "forbidden",
        TAX,
    ),
    (
        "details",
        "search",
        f'{{ search(text: "{SYNONYM}", first: 20) {{ edges {{ node {{ code name }} }} }} }}',
        None,
        "tax_paid_amount",
        "absent",
        TAX,
    ),
    (
        "details",
        "impact",
        '{ impact(elementCode: "tax_paid_amount") { element owner columns views indicators '
        "downstream { column source } consumers { department reasons } } }",
        None,
        SYNONYM,
        "answered",
        NOBODY,
    ),
    (
        "details",
        "dataMap",
        "{ dataMap(first: 200) { edges { node { providerCode consumerCode kind elements sharingTypes } } } }",
        None,
        SYNONYM,
        "answered",
        NOBODY,
    ),
    (
        "details",
        "audit",
        "{ audit(first: 500) { edges { node { entityCode reason before after } } } }",
        None,
        DEFINITION,
        "absent",
        {**TAX, "consumer": ("consumer", False)},
    ),
    # a finding quoting a core element's synonym
    (
        "conflicts",
        "conflicts",
        "{ conflicts(first: 500) { edges { node { code message location hint } } } }",
        None,
        SYNONYM,
        "masked",
        TAX,
    ),
    # a rule refusal quoting a not-shared core element's legal basis
    (
        "gov009",
        "requestAccess",
        REQUEST,
        {"consumer": OWN, "from": date.today().isoformat()},
        SECRET_LAW,
        "masked",
        GOV009,
    ),
    # quality samples of a compound key with a core column (raw values)
    (
        "tax-key-samples",
        "dataset",
        f'{{ dataset(code: "tax_payment") {{ {QUALITY} }} }}',
        None,
        TAX_SAMPLE,
        "forbidden",
        TAX,
    ),
    (
        "tax-key-samples",
        "datasets",
        f'{{ datasets(provider: "tax", first: 50) {{ edges {{ node {{ code {QUALITY} }} }} }} }}',
        None,
        TAX_SAMPLE,
        "forbidden",
        TAX,
    ),
    (
        "tax-key-samples",
        "department.provides",
        f'{{ department(code: "tax") {{ provides(first: 50) {{ edges {{ node {{ {QUALITY} }} }} }} }} }}',
        None,
        TAX_SAMPLE,
        "forbidden",
        TAX,
    ),
    (
        "tax-key-samples",
        "element.columns.dataset",
        f'{{ element(code: "tax_type") {{ columns {{ dataset {{ {QUALITY} }} }} }} }}',
        None,
        TAX_SAMPLE,
        "forbidden",
        TAX,
    ),
    # an expectation's error message quoting a core column's value
    (
        "error-message",
        "dataset",
        f'{{ dataset(code: "tax_payment") {{ {QUALITY} }} }}',
        None,
        ERROR_VALUE,
        "forbidden",
        TAX,
    ),
    # masked samples of a compound key of two personal columns
    (
        "marriage-key-samples",
        "dataset",
        f'{{ dataset(code: "marriage_registration") {{ {QUALITY} }} }}',
        None,
        MARRIAGE_SAMPLE,
        "forbidden",
        CIVIL,
    ),
    (
        "marriage-key-samples",
        "department.provides",
        f'{{ department(code: "civil_affairs") {{ provides(first: 50) '
        f"{{ edges {{ node {{ code {QUALITY} }} }} }} }} }}",
        None,
        MARRIAGE_SAMPLE,
        "forbidden",
        CIVIL,
    ),
    (
        "marriage-key-samples",
        "element.columns.dataset",
        f'{{ element(code: "marriage_registration_type") {{ columns {{ dataset {{ {QUALITY} }} }} }} }}',
        None,
        MARRIAGE_SAMPLE,
        "forbidden",
        CIVIL,
    ),
    # a refused load's reason: the header of a copied passwd-like file, the target of a link
    ("load-header", "loads", LOADS, None, "MARKPASSWD", "content-free", PROVIDER_ONLY),
    (
        "load-link",
        "loads",
        LOADS,
        None,
        "MARKLINK",
        "content-free",
        PROVIDER_ONLY,
    ),  # the target: its path, or its header were it followed
]
TABLE = [
    pytest.param(query, variables, raw, hidden, token, sees, id=f"{datum}-{path}-{role}")
    for datum, path, query, variables, raw, hidden, roles in PATHS
    for role, (token, sees) in roles.items()
]


@pytest.mark.parametrize(("query", "variables", "raw", "hidden", "token", "sees"), TABLE)
def test_each_path_shows_each_restricted_datum_only_to_who_may_see_it(
    env: dict[str, Any],
    query: str,
    variables: dict[str, Any] | None,
    raw: str,
    hidden: str,
    token: str,
    sees: bool,
) -> None:
    if variables and variables.get("consumer") == OWN:  # a steward requests for its own department
        own = {name: dept for name, dept, _ in TOKENS}[token]
        variables = {**variables, "consumer": "court" if token == "admin" else own}
    response = ask(env, token, query, variables)
    body = response.json()
    if sees:
        assert raw in json.dumps(body.get("data"), ensure_ascii=False), body
        return
    assert raw not in response.text, f"{raw!r} reached {token}: {response.text[:2000]}"
    codes = [(e.get("extensions") or {}).get("code") for e in body.get("errors") or []]
    data = json.dumps(body.get("data"), ensure_ascii=False)
    if hidden == "forbidden":
        assert "FORBIDDEN" in codes, body
    elif hidden == "masked":
        assert "[restricted]" in data or "FORBIDDEN" in codes, body
    elif hidden == "content-free":
        assert "ING0" in data and "tax_registration_2026-1" in data, body  # rule code and file name stay
    elif hidden == "answered":
        assert body.get("data") and not codes, body


def test_a_grant_for_one_column_of_a_compound_key_does_not_show_its_samples(env: dict[str, Any]) -> None:
    """market_regulation is granted id_number but not marriage_certificate_number: the key
    ``marriage_certificate_number+id_number`` is as restricted as its most restricted column."""
    response = ask(env, "partial", f'{{ dataset(code: "marriage_registration") {{ {QUALITY} }} }}')
    assert MARRIAGE_SAMPLE not in response.text
    errors = response.json()["errors"]
    assert any(
        e["extensions"]["code"] == "FORBIDDEN" and "marriage_certificate_number" in e["message"]
        for e in errors
    )


def test_the_content_free_load_reason_keeps_what_others_need(env: dict[str, Any]) -> None:
    """The consumer of tax data learns that the load was refused, by which rule, which file and
    line — not what the file held."""
    reasons = {
        e["node"]["ruleCode"]: e["node"]["reason"]
        for e in ask(env, "consumer", LOADS).json()["data"]["loads"]["edges"]
    }
    full = {
        e["node"]["ruleCode"]: e["node"]["reason"]
        for e in ask(env, "tax_steward", LOADS).json()["data"]["loads"]["edges"]
    }
    assert set(reasons) == set(full) == {"ING001", "ING010"}
    assert PASSWD in full["ING001"] and LINK_DIR in full["ING010"]
    assert reasons["ING001"].startswith("ING001 (")
    assert "tax_registration_2026-12.csv, line 1" in reasons["ING001"]
    assert "root" not in reasons["ING001"] and "passwd" not in reasons["ING010"]


def test_the_schema_walk_covers_every_field(env: dict[str, Any]) -> None:
    """Every text field the server's introspection lists is declared with its visibility, every
    restricted one is resolved through the visibility module, and the walk catches an undeclared
    field and a restricted field resolved around the module."""
    import graphene

    from registry.api import visibility
    from registry.api.schema import schema

    assert visibility.schema_problems(schema.graphql_schema) == []
    introspected = ask(env, "outsider", "{ __schema { types { name kind fields { name } } } }").json()
    for gtype in introspected["data"]["__schema"]["types"]:
        if gtype["kind"] != "OBJECT" or gtype["name"].startswith("__"):
            continue  # the root types are walked too: a root field returning text is data
        declared = visibility.FIELDS.get(gtype["name"], visibility.EDGE_FIELDS)
        live = schema.graphql_schema.type_map[gtype["name"]]
        for field in gtype["fields"]:
            if visibility._is_text(live.fields[field["name"]].type):  # type: ignore[attr-defined]
                assert field["name"] in declared, f"{gtype['name']}.{field['name']}"

    class Leaky(graphene.ObjectType):
        code = graphene.String()
        notes = graphene.String()
        message = graphene.String()

    class Conflict(graphene.ObjectType):  # a Conflict whose message skips the module
        code = graphene.String()
        severity = graphene.String()
        message = graphene.String()
        location = graphene.String()
        hint = graphene.String()

    class Probe(graphene.ObjectType):
        leaky = graphene.Field(Leaky)
        conflict = graphene.Field(Conflict)
        secret = graphene.String()  # a root field returning text is checked too

    problems = visibility.schema_problems(graphene.Schema(query=Probe).graphql_schema)
    assert "Leaky.code carries text but its visibility is not declared" in problems
    assert "Leaky.notes carries text but its visibility is not declared" in problems
    assert any(p.startswith("Conflict.message is rule text but not resolved") for p in problems)
    assert "Probe.secret carries text but its visibility is not declared" in problems


def test_an_audit_reason_shows_a_steward_no_other_departments_restricted_text(env: dict[str, Any]) -> None:
    """One request of court's steward is refused GOV009 (quoting public security's core legal
    basis) and denied tax's core definition; tax's steward reads the events about its own element
    (and every denial it may read): none carries public security's text. (On the old code the
    denials of one request shared one reason, which quoted it.)
    (Runs last: it files a request agreement for court.)"""
    mutation = """
    mutation($from: Date!) {
      a: requestAccess(consumer: "court", elements: ["informant_identity"], purpose: "核查",
                       validFrom: $from, reason: "核查线索") { ok }
      b: requestAccess(consumer: "court", elements: ["tax_paid_amount"], purpose: "核查",
                       validFrom: $from, reason: "核查线索") { ok agreement { elements { code definition } } }
    }"""
    body = ask(env, "outsider_steward", mutation, {"from": date.today().isoformat()}).json()
    assert body["data"]["b"]["ok"], body
    assert any(e["extensions"]["code"] == "FORBIDDEN" for e in body["errors"]), body
    audit = (
        '{ audit(action: "access_denied", entityKind: "element", entityCode: "tax_paid_amount", first: 50) '
        "{ edges { node { entityCode reason } } } }"
    )
    # each denial is its own event with its own reason (aggregated denials are keyed by reason),
    # so the event about tax's element does not carry public security's text even for an admin
    assert SECRET_LAW not in ask(env, "admin", audit).text
    everything = '{ audit(action: "access_denied", first: 200) { edges { node { entityCode reason } } } }'
    assert SECRET_LAW in ask(env, "admin", everything).text  # the GOV009 refusal's own event has it
    steward = ask(env, "tax_steward", audit)
    assert steward.json()["data"]["audit"]["edges"], steward.text
    assert SECRET_LAW not in steward.text
    assert SECRET_LAW not in ask(env, "tax_steward", everything).text  # nor any event it may read
