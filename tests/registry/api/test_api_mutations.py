"""Mutations end to end: the real server on loopback, gql clients per role, the store's audit chain,
and the round trip store → ``govreg export --yaml`` → ``govreg validate`` → ``apply``."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from datetime import date, timedelta
from typing import Any

import httpx
import pytest
from gql import Client, gql
from gql.transport.exceptions import TransportQueryError
from gql.transport.httpx import HTTPXTransport

from registry.load import load_home, load_valid_home
from registry.store import Store
from registry.store.apply import apply_registry
from registry.store.audit import query_events, verify_chain
from registry.store.rows import home_specs
from registry.store.tokens import create_token
from tests.support.api import Server
from tests.support.backends import BACKENDS, urls
from tests.support.paths import CITY

TODAY = date.today()
NEW = "street_lamp_count"  # registered by the tests, then moved and retired
SECRET = "informant_identity"  # registered not shared
CONDITIONAL = "bank_account_number"  # owner tax, conditional

ROLES = (
    ("admin", "big_data_center", "center-admin", "ops desk"),
    ("reader", "tax", "reader", None),
    ("tax_steward", "tax", "steward", None),
    ("market_steward", "market_regulation", "steward", "张伟"),
    ("hrss_steward", "hrss", "steward", None),
)


@pytest.fixture(scope="module", params=BACKENDS)
def env(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """The city in a store on SQLite, then on PostgreSQL: every mutation test runs on both."""
    folder = tmp_path_factory.mktemp("mutations")
    databases = urls(request.param, folder)
    store = Store(next(databases)())
    registry, _ = load_valid_home(CITY)
    apply_registry(store, registry, actor="tester", reason="city", source=str(CITY))
    tokens = {
        name: create_token(store, department=dept, role=role, label=label, actor="tester", reason="test")
        for name, dept, role, label in ROLES
    }
    with Server(store) as server:
        yield {"store": store, "server": server, "tokens": tokens, "folder": folder}
    store.dispose()
    next(databases, None)  # drops the PostgreSQL database


def client(env: dict[str, Any], who: str) -> Client:
    headers = {"Authorization": f"Bearer {env['tokens'][who][1]}"}
    transport = HTTPXTransport(url=env["server"].url + "/graphql", headers=headers, timeout=30)
    return Client(transport=transport)


def actor(env: dict[str, Any], who: str) -> str:
    return str(env["tokens"][who][0].actor)


def run(env: dict[str, Any], who: str, query: str, **variables: Any) -> dict[str, Any]:
    with client(env, who) as session:
        return dict(session.execute(gql(query), variable_values=variables))


def refused(env: dict[str, Any], who: str, query: str, **variables: Any) -> dict[str, Any]:
    with pytest.raises(TransportQueryError) as caught:
        run(env, who, query, **variables)
    assert caught.value.errors
    return dict(caught.value.errors[0])


def events(env: dict[str, Any], **filters: Any) -> list[dict[str, Any]]:
    with env["store"].read() as conn:
        return list(query_events(conn, **filters))


def chain_ok(env: dict[str, Any]) -> None:
    with env["store"].read() as conn:
        report = verify_chain(conn)
    assert report.ok, report.problems


PAYLOAD = "ok errors { code message field } warnings { code } changeId"
REGISTER = f"""
mutation($input: ElementInput!, $reason: String!) {{
  registerElement(input: $input, reason: $reason) {{ {PAYLOAD} element {{ code ownerCode status }} }}
}}"""
TRANSFER = f"""
mutation($code: String!, $to: String!, $reason: String!) {{
  transferOwnership(elementCode: $code, toDepartment: $to, reason: $reason) {{
    {PAYLOAD} element {{ code ownerCode owner {{ code }} }}
  }}
}}"""
RETIRE = f"""
mutation($code: String!, $by: String, $reason: String!) {{
  retireElement(elementCode: $code, replacedBy: $by, reason: $reason) {{
    {PAYLOAD} element {{ code status }}
  }}
}}"""
REQUEST = f"""
mutation($consumer: String!, $elements: [String!]!, $from: Date!, $to: Date, $reason: String!) {{
  requestAccess(consumer: $consumer, elements: $elements, purpose: "核验企业退税账户",
                legalBasis: "《税收征收管理法》", validFrom: $from, validTo: $to, reason: $reason) {{
    {PAYLOAD} agreement {{ code status consumer {{ code }} provider {{ code }} elements {{ code }} }}
  }}
}}"""
DECIDE = f"""
mutation($code: String!, $approve: Boolean!, $reason: String!) {{
  decideAccess(agreementCode: $code, approve: $approve, reason: $reason) {{
    {PAYLOAD} agreement {{ code status approver validToday }}
  }}
}}"""

LAMPS = {
    "code": NEW,
    "name": "路灯数量",
    "nameEn": "Street lamp count",
    "owner": "civil_affairs",
    "type": "integer",
    "domain": {"min": 0},
    "sharing": "无条件共享",
}


def test_no_token_is_401_for_mutations(env: dict[str, Any]) -> None:
    response = httpx.post(
        env["server"].url + "/graphql",
        json={"query": TRANSFER, "variables": {"code": "uscc", "to": "tax", "reason": "x"}},
    )
    assert response.status_code == 401
    assert response.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


def test_readers_and_stewards_cannot_run_admin_mutations(env: dict[str, Any]) -> None:
    before = env["store"].read_specs()
    for who in ("reader", "tax_steward"):
        error = refused(env, who, TRANSFER, code="uscc", to="tax", reason="mine now")
        assert error["extensions"]["code"] == "FORBIDDEN"
        denied = events(env, action="access_denied", actor=actor(env, who))
        assert denied and denied[0]["entity_code"] == "transferOwnership"
    error = refused(
        env, "reader", REQUEST, consumer="tax", elements=["uscc"], **{"from": TODAY.isoformat()}, reason="r"
    )
    assert error["extensions"]["code"] == "FORBIDDEN"
    assert env["store"].read_specs() == before
    chain_ok(env)


def test_register_element_and_its_audit_event(env: dict[str, Any]) -> None:
    got = run(env, "admin", REGISTER, input=LAMPS, reason="城市照明资产普查")["registerElement"]
    assert got["ok"] and not got["errors"], got
    assert got["element"] == {"code": NEW, "ownerCode": "civil_affairs", "status": "CANDIDATE"}
    assert "GOV021" in {w["code"] for w in got["warnings"]}  # nobody collects it yet
    (event,) = events(env, kind="element", code=NEW)
    assert event["action"] == "create" and event["actor"] == actor(env, "admin")
    assert event["actor"].endswith(":ops desk") and "big_data_center:center-admin" in event["actor"]
    assert event["reason"] == "城市照明资产普查" and event["before"] is None
    assert json.loads(event["after"])["sharing"] == "unconditional"
    assert event["change_id"] == got["changeId"]
    chain_ok(env)


@pytest.mark.parametrize(
    ("update", "code", "field"),
    [
        ({"sharing": "conditional"}, "GOV008", "sharingCondition"),
        ({"personal": "sensitive_personal"}, "GOV010", "sharing"),
        ({"sharing": "not_shared"}, "GOV011", "legalBasis"),
        ({"owner": "nowhere"}, "GOV005", "owner"),
        ({"code": "uscc"}, "GOV001", "code"),
        ({"security": "ultra"}, "INVALID", "security"),
    ],
)
def test_register_element_rule_violations(
    env: dict[str, Any], update: dict[str, str], code: str, field: str
) -> None:
    before = env["store"].read_specs()
    element = {**LAMPS, "code": "lamp_variant", "name": "路灯变体", "nameEn": "Lamp variant", **update}
    got = run(env, "admin", REGISTER, input=element, reason="试登记")["registerElement"]
    assert not got["ok"] and got["element"] is None and got["changeId"] is None
    assert (code, field) in {(e["code"], e["field"]) for e in got["errors"]}, got["errors"]
    assert env["store"].read_specs() == before
    denied = events(env, action="access_denied", kind="element", code=element["code"])
    assert denied and code in denied[0]["reason"]


def test_transfer_and_retire(env: dict[str, Any]) -> None:
    got = run(env, "admin", TRANSFER, code=NEW, to="real_estate", reason="职能调整")["transferOwnership"]
    assert got["ok"], got
    assert got["element"]["ownerCode"] == "real_estate" and got["element"]["owner"]["code"] == "real_estate"
    event = events(env, kind="element", code=NEW)[0]
    assert event["action"] == "update" and event["reason"] == "职能调整"
    assert json.loads(event["before"])["owner"] == "civil_affairs"
    assert json.loads(event["after"])["owner"] == "real_estate"
    unknown = run(env, "admin", TRANSFER, code=NEW, to="nowhere", reason="x")["transferOwnership"]
    assert [(e["code"], e["field"]) for e in unknown["errors"]] == [("GOV005", "toDepartment")]
    # uscc is collected by datasets: retiring it would break them (GOV004), so it is refused
    collected = run(env, "admin", RETIRE, code="uscc", reason="x")["retireElement"]
    assert not collected["ok"] and "GOV004" in {e["code"] for e in collected["errors"]}
    missing = run(env, "admin", RETIRE, code="nope", reason="x")["retireElement"]
    assert [e["code"] for e in missing["errors"]] == ["NOT_FOUND"]
    bad = run(env, "admin", RETIRE, code=NEW, by=NEW, reason="x")["retireElement"]
    assert [e["code"] for e in bad["errors"]] == ["GOV013"]
    blank = run(env, "admin", RETIRE, code=NEW, reason="  ")["retireElement"]
    assert [e["field"] for e in blank["errors"]] == ["reason"]
    done = run(env, "admin", RETIRE, code=NEW, by="uscc", reason="并入统一口径")["retireElement"]
    assert done["ok"] and done["element"]["status"] == "RETIRED"
    after = json.loads(events(env, kind="element", code=NEW)[0]["after"])
    assert after["status"] == "retired" and after["replaced_by"] == "uscc"
    chain_ok(env)


def test_request_and_decide_access(env: dict[str, Any]) -> None:
    term = {"from": TODAY.isoformat(), "to": (TODAY + timedelta(days=365)).isoformat()}
    # a steward requests only for its own department
    error = refused(
        env, "market_steward", REQUEST, consumer="hrss", elements=[CONDITIONAL], **term, reason="r"
    )
    assert error["extensions"]["code"] == "FORBIDDEN"
    # not-shared and unknown elements are refused by rule
    secret = {**LAMPS, "code": SECRET, "name": "举报人身份", "nameEn": "Informant identity"}
    secret.update(owner="public_security", sharing="not_shared", legalBasis="《刑事诉讼法》第一百一十一条")
    assert run(env, "admin", REGISTER, input=secret, reason="保护举报人")["registerElement"]["ok"]
    no = run(
        env,
        "market_steward",
        REQUEST,
        consumer="market_regulation",
        elements=[SECRET, "nope"],
        **term,
        reason="r",
    )
    assert {(e["code"], e["field"]) for e in no["requestAccess"]["errors"]} == {
        ("GOV009", "elements"),
        ("GOV002", "elements"),
    }
    assert events(env, action="access_denied", kind="agreement", code="market_regulation")

    got = run(
        env,
        "market_steward",
        REQUEST,
        consumer="market_regulation",
        elements=[CONDITIONAL],
        **term,
        reason="退税核验",
    )["requestAccess"]
    assert got["ok"], got
    agreement = got["agreement"]
    code = agreement["code"]
    assert code == f"req-market_regulation-{TODAY:%Y%m%d}-1"
    assert agreement["status"] == "REQUESTED" and agreement["provider"]["code"] == "tax"
    assert [e["code"] for e in agreement["elements"]] == [CONDITIONAL]
    (event,) = events(env, kind="agreement", code=code)
    assert event["action"] == "create" and event["actor"] == actor(env, "market_steward")
    second = run(
        env,
        "market_steward",
        REQUEST,
        consumer="market_regulation",
        elements=[CONDITIONAL],
        **term,
        reason="再次",
    )["requestAccess"]
    assert second["agreement"]["code"].endswith("-2")

    # nobody decides their own department's request; a steward decides only its own data
    error = refused(env, "market_steward", DECIDE, code=code, approve=True, reason="自批")
    assert error["extensions"]["code"] == "FORBIDDEN" and error["extensions"]["reason"] == "SELF_APPROVAL"
    error = refused(env, "hrss_steward", DECIDE, code=code, approve=True, reason="越权")
    assert error["extensions"]["code"] == "FORBIDDEN" and "tax" in error["message"]
    error = refused(env, "reader", DECIDE, code=code, approve=True, reason="读者")
    assert error["extensions"]["code"] == "FORBIDDEN"
    denied = events(env, action="access_denied", kind="agreement", code=code)
    assert {e["actor"] for e in denied} >= {actor(env, "market_steward"), actor(env, "hrss_steward")}

    ok = run(env, "tax_steward", DECIDE, code=code, approve=True, reason="用途明确，期限一年")["decideAccess"]
    assert ok["ok"], ok
    assert ok["agreement"]["status"] == "APPROVED" and ok["agreement"]["validToday"]
    assert ok["agreement"]["approver"] == actor(env, "tax_steward")
    event = events(env, kind="agreement", code=code)[0]
    assert event["reason"] == "用途明确，期限一年" and event["actor"] == actor(env, "tax_steward")
    before, after = json.loads(event["before"]), json.loads(event["after"])
    assert before["status"] == "requested" and after["status"] == "approved"
    assert after["approved_on"] == TODAY.isoformat()
    again = run(env, "admin", DECIDE, code=code, approve=False, reason="x")["decideAccess"]
    assert [e["code"] for e in again["errors"]] == ["INVALID"]
    rejected = run(env, "admin", DECIDE, code=second["agreement"]["code"], approve=False, reason="重复申请")
    assert rejected["decideAccess"]["agreement"]["status"] == "REJECTED"
    chain_ok(env)


def test_export_round_trip(env: dict[str, Any]) -> None:
    store: Store = env["store"]
    out = env["folder"] / "exported"
    cli = [sys.executable, "-m", "govreg"]
    done = subprocess.run(
        [*cli, "export", "--yaml", "--store", store.url, "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    again = subprocess.run(
        [*cli, "export", "--yaml", "--store", store.url, "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert again.returncode == 0 and "nothing written" in again.stdout, again.stderr  # in place: no change
    checked = subprocess.run(
        [*cli, "validate", "--home", str(out)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=out,
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    exported, problems = load_home(out)
    assert not problems
    stored = store.read_specs()
    assert home_specs(exported) == stored
    assert SECRET in exported.elements and exported.elements[NEW].owner == "real_estate"
    fresh = Store(f"sqlite:///{env['folder'] / 'fresh.db'}")
    try:
        apply_registry(fresh, load_valid_home(out)[0], actor="tester", reason="from git", source=str(out))
        assert fresh.read_specs() == stored
    finally:
        fresh.dispose()


def test_mutations_over_get_are_refused(env: dict[str, Any]) -> None:
    response = httpx.get(
        env["server"].url + "/graphql",
        params={"query": 'mutation { retireElement(elementCode: "uscc", reason: "x") { ok } }'},
        headers={"Authorization": f"Bearer {env['tokens']['admin'][1]}"},
    )
    assert response.json()["errors"][0]["extensions"]["code"] == "INVALID"
    assert not events(env, kind="element", code="uscc", action="update")


def test_mutation_error_codes_are_an_enum_of_refusals_and_rule_codes() -> None:
    """``MutationError.code`` is the ``MutationErrorCode`` enum: a client can switch on it, and a
    code that is neither a refusal nor a rule cannot be sent (it is a bug, caught where made)."""
    from graphql import GraphQLEnumType, GraphQLNonNull

    from registry.api import mutation
    from registry.api.schema import schema
    from registry.codes import RULES

    field = schema.graphql_schema.type_map["MutationError"].fields["code"]  # type: ignore[union-attr]
    assert isinstance(field.type, GraphQLNonNull) and isinstance(field.type.of_type, GraphQLEnumType)
    values = set(field.type.of_type.values)
    assert {"NOT_FOUND", "INVALID"} <= values and set(RULES) <= values
    assert mutation._error(mutation.Refusal.INVALID, "x")["code"] == "INVALID"
    with pytest.raises(ValueError):
        mutation._error("NOT_A_CODE", "x")
