"""The root Mutation: registry changes made through the API, audited like ``apply``.

Each mutation builds the registry it wants from the stored one, refuses it when it would break
a governance rule (a rule error that was not there before: the payload's ``errors`` carry the
rule code), and otherwise writes the difference with :func:`registry.store.apply.write_changes`
— the path ``apply`` takes — in one write transaction: entity rows, child rows, the change
record and one hash-chained audit event per changed entity, with the token as actor and the
required ``reason``. A failure leaves the store unchanged.

Who may do what:

| mutation | center-admin | steward (of a department) | reader |
| --- | --- | --- | --- |
| ``registerElement``, ``transferOwnership``, ``retireElement`` | yes | no | no |
| ``requestAccess`` | for any consumer | for its own department only | no |
| ``decideAccess`` | any request | requests for its own department's elements only | no |

``transferOwnership`` carries the agreements with it: every agreement naming the old owner as
provider of the element names the new owner instead, in the same change (one audit event each);
when one cannot move whole (it also grants other data of the old owner, or its consumer is the new
owner) the transfer is refused with GOV032, naming it. No mutation moves an element's registration
status against the ISO/IEC 11179 ladder (GOV035, :func:`registry.plan.status_moves`).

Nobody decides a request whose consumer is their own department (``SELF_APPROVAL``). Refusals
for who-you-are are GraphQL errors (``FORBIDDEN``); refusals for what-you-ask are payloads with
``ok: false`` and typed errors. Both are ``access_denied`` audit events.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from datetime import date
from typing import Any

import graphene
from pydantic import ValidationError
from sqlalchemy import Connection, Table, select

from registry.api.context import CENTER_ADMIN, STEWARD, RequestContext
from registry.api.errors import MUTATION_CODES, ApiError, ErrorCode, ForbiddenReason, Refusal
from registry.api.types.catalog import DataElement
from registry.api.types.sharing import SharingAgreement
from registry.api.visibility import rule_text
from registry.home import Registry
from registry.model import Agreement, Element, Spec
from registry.plan import make_plan, status_moves
from registry.rules import check_rules, provider_mismatches
from registry.store.apply import write_changes
from registry.store.rows import home_specs
from registry.store.schema import agreements, elements
from registry.store.signing import AuditKeyError
from registry.vocab import AgreementStatus, SharingType, Status

INACTIVE = frozenset({Status.RETIRED, Status.SUPERSEDED})

# The input field a rule code points at, per mutation (for ``MutationError.field``).
ELEMENT_FIELDS = {
    "GOV001": "code",
    "GOV025": "code",
    "GOV005": "owner",
    "GOV008": "sharingCondition",
    "GOV010": "sharing",
    "GOV011": "legalBasis",
    "GOV013": "replacedBy",
    "GOV018": "domain",
    "GOV026": "domain",
    "GOV002": "domain",
}
AGREEMENT_FIELDS = {
    "GOV002": "elements",
    "GOV009": "elements",
    "GOV015": "validTo",
    "GOV024": "validTo",
}


MutationErrorCode = graphene.Enum(
    "MutationErrorCode",
    [(code, code) for code in MUTATION_CODES],
    description="Why a change was refused: NOT_FOUND, INVALID, or the governance rule it breaks.",
)


class MutationError(graphene.ObjectType):
    """Why a mutation was refused (or a warning it raised): a rule code, a message, the input field."""

    code = graphene.Field(
        graphene.NonNull(lambda: MutationErrorCode),
        description="A governance rule code (GOV…), or NOT_FOUND or INVALID (who-you-are refusals are "
        "FORBIDDEN GraphQL errors instead).",
    )
    message = graphene.String(
        required=True,
        description="What is wrong, in words (restricted details you may not see: [restricted]).",
    )
    field = graphene.String(description="The input field it concerns, if one.")

    resolve_message = staticmethod(rule_text("message"))  # may quote restricted details


def _payload_fields() -> dict[str, Any]:
    return {
        "ok": graphene.Boolean(required=True, description="Whether the change was made."),
        "errors": graphene.List(
            graphene.NonNull(MutationError), required=True, description="Why it was refused (empty if ok)."
        ),
        "warnings": graphene.List(
            graphene.NonNull(MutationError),
            required=True,
            description="Governance warnings the change raises (it was made all the same).",
        ),
        "change_id": graphene.Int(description="The registry change recorded, if the change was made."),
    }


ElementPayload = type(
    "ElementPayload",
    (graphene.ObjectType,),
    {
        "__doc__": "The outcome of a change to a data element.",
        "element": graphene.Field(DataElement, description="The element as it is now (null if refused)."),
        **_payload_fields(),
    },
)
AgreementPayload = type(
    "AgreementPayload",
    (graphene.ObjectType,),
    {
        "__doc__": "The outcome of a change to a sharing agreement.",
        "agreement": graphene.Field(
            SharingAgreement, description="The agreement as it is now (null if refused)."
        ),
        **_payload_fields(),
    },
)


class ValueDomainInput(graphene.InputObjectType):
    """The permitted values of an element (each becomes a quality expectation)."""

    pattern = graphene.String(description="A regular expression every value matches.")
    codes = graphene.List(graphene.NonNull(graphene.String), description="An inline list of codes.")
    code_list = graphene.String(description="A registered code list.")
    min = graphene.Float(description="Smallest value (numeric types).")
    max = graphene.Float(description="Largest value (numeric types).")
    length = graphene.Int(description="Exact length.")
    min_length = graphene.Int(description="Shortest length.")
    max_length = graphene.Int(description="Longest length.")
    date_format = graphene.String(description="strftime format of date text.")
    check_digit = graphene.String(description="Check-digit scheme: gb32100, gb11643, ...")


class ElementInput(graphene.InputObjectType):
    """A data element to register. Vocabulary fields take the English token or the Chinese label."""

    code = graphene.String(required=True, description="Stable code (a lower-case identifier).")
    name = graphene.String(required=True, description="Chinese name.")
    name_en = graphene.String(required=True, description="English name.")
    owner = graphene.String(required=True, description="The one owner department (一数一源).")
    id = graphene.String(description="Catalog identifier, e.g. DE00001.")
    definition = graphene.String(description="What the element means.")
    synonyms = graphene.List(graphene.NonNull(graphene.String), description="Other names.")
    object_class = graphene.String(description="ISO 11179 object class.")
    property_term = graphene.String(description="ISO 11179 property.")
    type = graphene.String(description="Data type (string, integer, decimal, date, ...).")
    unit = graphene.String(description="Unit of measure.")
    domain = graphene.Field(ValueDomainInput, description="Value domain.")
    required = graphene.Boolean(description="Whether every record must carry it.")
    source_system = graphene.String(description="The owner's system of record.")
    security = graphene.String(description="Security level (public, internal, sensitive, core, ...).")
    personal = graphene.String(description="Personal-information flag.")
    personal_category = graphene.String(description="Category of personal information.")
    sharing = graphene.String(description="unconditional, conditional or not_shared.")
    sharing_condition = graphene.String(description="Condition of conditional sharing.")
    legal_basis = graphene.String(description="Legal basis (needed when not shared).")
    open = graphene.String(description="Open-data type.")
    update_cycle = graphene.String(description="How often it is updated.")
    status = graphene.String(description="Registration status (default candidate).")


class Refused(Exception):
    """A mutation refused for what it asks (not for who asks): becomes ``ok: false``."""

    def __init__(self, errors: list[dict[str, Any]]):
        super().__init__("; ".join(e["message"] for e in errors))
        self.errors = errors


def _error(code: Refusal | str, message: str, field: str | None = None) -> dict[str, Any]:
    """One ``MutationError``: ``code`` a :class:`Refusal` or a rule code (GOV…); anything else is
    a bug here, not a code a client could be told."""
    if str(code) not in MUTATION_CODES:
        raise ValueError(f"{code!r} is neither a Refusal nor a rule code")
    return {"code": str(code), "message": message, "field": field}


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(p.title() for p in rest)


def _clean(value: Any) -> Any:
    """An input object as plain data, unset (None) fields dropped."""
    if isinstance(value, Mapping):
        return {k: _clean(v) for k, v in value.items() if v is not None}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    return value


def _replace(registry: Registry, section: str, entity: Spec) -> Registry:
    sections: dict[str, dict[str, Spec]] = {name: dict(items) for name, items in registry.sections()}
    sections[section][entity.code] = entity  # type: ignore[attr-defined]
    return Registry.build(registry.settings, sections)


class _Mutation:
    """One mutation run: authorise, build, check, write, answer."""

    def __init__(self, info: Any, name: str, kind: str, reason: str, fields: Mapping[str, str]):
        self.ctx: RequestContext = info.context
        self.name = name
        self.kind = kind
        self.reason = reason.strip()
        self.fields = fields

    @property
    def token_dept(self) -> str:
        return self.ctx.token.department

    def forbid(self, code: str, message: str, reason: ForbiddenReason | None = None) -> ApiError:
        """A who-you-are refusal: a FORBIDDEN GraphQL error, audited."""
        error = self.ctx.deny(self.kind, code, self.name, message)
        if reason:
            error.extensions["reason"] = str(reason)
        return error

    def require_role(self, *roles: str) -> None:
        if self.ctx.token.role not in roles:
            raise self.ctx.deny(
                "api", self.name, self.name, f"{self.name} needs a {' or '.join(roles)} token"
            )

    def run(
        self,
        code: str,
        build: Callable[[Connection, Registry], Registry],
        table: Table,
        entity_code: Callable[[], str] | None = None,
    ) -> dict[str, Any]:
        """Build the wanted registry inside one write transaction; refuse it or write it."""
        ctx = self.ctx
        target = code
        try:
            if not self.reason:
                raise Refused(
                    [_error(Refusal.INVALID, "a reason is required (it goes into the audit log)", "reason")]
                )
            with ctx.store.write() as conn:
                current = ctx.registries.get(conn)
                wanted = build(conn, current)
                target = entity_code() if entity_code else code
                found = check_rules(wanted, ctx.today)
                before = ctx.registries.errors(current, ctx.today)
                new = [p for p in found if p.is_error and (p.code, p.message) not in before]
                if new:
                    raise Refused(
                        [
                            {**_error(p.code, p.message, self.fields.get(p.code)), "_registry": wanted}
                            for p in new
                        ]
                    )
                warned = {(p.code, p.message) for p in check_rules(current, ctx.today) if not p.is_error}
                warnings = [
                    {**_error(p.code, p.message, self.fields.get(p.code)), "_registry": wanted}
                    for p in found
                    if not p.is_error and (p.code, p.message) not in warned
                ]
                plan = make_plan(home_specs(wanted), ctx.store.read_specs(conn))
                moves = status_moves(plan)
                if moves:
                    raise Refused([_error(p.code, p.message, "status") for p in moves])
                result = write_changes(
                    conn,
                    plan.changes,
                    actor=ctx.token.actor,
                    reason=self.reason,
                    source=f"api:{self.name}",
                    registry=wanted,
                )
                row = conn.execute(select(table).where(table.c.code == target)).mappings().first()
        except AuditKeyError as exc:  # a signed store and no key: the write rolled back
            raise ApiError(ErrorCode.AUDIT_KEY, str(exc), rule=exc.code) from None
        except Refused as refused:
            summary = "; ".join(f"{e['code']}: {e['message']}" for e in refused.errors)
            ctx.denials.setdefault(
                (self.kind, target, self.name),
                f"{self.name} refused ({summary}); reason given: {self.reason or '(none)'}",
            )
            return {"ok": False, "errors": refused.errors, "warnings": [], "change_id": None, "row": None}
        ctx.refresh()
        return {
            "ok": True,
            "errors": [],
            "warnings": warnings,
            "change_id": result.change_id,
            "row": dict(row) if row is not None else None,
        }


def _element(registry: Registry, code: str, field: str = "elementCode") -> Element:
    element = registry.elements.get(code)
    if element is None:
        raise Refused([_error(Refusal.NOT_FOUND, f"no element {code!r}", field)])
    return element


def _as(payload: dict[str, Any], key: str) -> dict[str, Any]:
    return {**{k: v for k, v in payload.items() if k != "row"}, key: payload["row"]}


def _request_code(conn: Connection, consumer: str, day: date) -> str:
    prefix = f"req-{consumer}-{day:%Y%m%d}-"
    taken = conn.execute(
        select(agreements.c.code).where(agreements.c.code.startswith(prefix, autoescape=True))
    )
    numbers = [int(m.group(1)) for (c,) in taken if (m := re.fullmatch(re.escape(prefix) + r"(\d+)", c))]
    return f"{prefix}{max(numbers, default=0) + 1}"


def _owners(registry: Registry, agreement: Agreement) -> set[str]:
    """The departments whose data an agreement grants (element owners, dataset and view providers)."""
    owners = {registry.elements[e].owner for e in agreement.elements if e in registry.elements}
    for code in agreement.datasets:
        if code in registry.datasets:
            owners.add(registry.datasets[code].provider)
        elif code in registry.views:
            owners.add(registry.views[code].owner)
        else:
            owners.add("")  # unknown: nobody's, so no steward may decide it
    return owners


def _migrate_agreements(
    registry: Registry, element: Element, new_owner: str
) -> tuple[list[Agreement], list[dict[str, Any]]]:
    """The agreements naming ``element``'s old owner as provider of it, moved to ``new_owner``;
    or, for those that cannot move whole, why (GOV032), so the transfer is refused.

    An agreement moves when everything else it grants is already ``new_owner``'s: its provider
    becomes ``new_owner`` (written and audited in the transfer's change). It cannot move when it
    also grants other data of another department (one provider per agreement: split it first),
    or when its consumer is ``new_owner`` (it would provide to itself: end it first).
    """
    old = element.owner
    after = _replace(registry, "elements", element.model_copy(update={"owner": new_owner}))
    migrated: list[Agreement] = []
    blocked: list[dict[str, Any]] = []
    for code, agreement in sorted(registry.agreements.items()):
        if element.code not in agreement.elements or agreement.provider != old:
            continue
        if agreement.consumer == new_owner:
            blocked.append(
                _error(
                    "GOV032",
                    f"agreement '{code}' grants '{element.code}' to '{new_owner}': as its owner "
                    f"'{new_owner}' would provide it to itself; end the agreement (revoke it, or drop "
                    f"'{element.code}' from it) before the transfer",
                    "toDepartment",
                )
            )
            continue
        probe = agreement.model_copy(update={"provider": new_owner})
        others = [what for what, _ in provider_mismatches(after, probe)]
        if others:
            blocked.append(
                _error(
                    "GOV032",
                    f"agreement '{code}' grants '{element.code}' together with {', '.join(others)} "
                    f"(not '{new_owner}''s): one agreement has one provider, so it cannot move to "
                    f"'{new_owner}'; split it (one agreement per provider) before the transfer",
                    "toDepartment",
                )
            )
            continue
        migrated.append(probe)
    return migrated, blocked


class Mutation(graphene.ObjectType):
    """Registry changes. Each needs a ``reason`` and is audited with the token as actor."""

    register_element = graphene.Field(
        ElementPayload,
        required=True,
        input=graphene.Argument(ElementInput, required=True, description="The element."),
        reason=graphene.String(required=True, description="Why (recorded in the audit log)."),
        description="Register a new data element (center admins).",
    )
    transfer_ownership = graphene.Field(
        ElementPayload,
        required=True,
        element_code=graphene.String(required=True, description="The element."),
        to_department=graphene.String(required=True, description="Its new owner department."),
        reason=graphene.String(required=True, description="Why (recorded in the audit log)."),
        description="Make another department the element's one source (center admins). The "
        "agreements naming the old owner as its provider name the new owner, in the same change; "
        "if one also grants other data of the old owner, or the new owner is its consumer, the "
        "transfer is refused (GOV032) naming it.",
    )
    retire_element = graphene.Field(
        ElementPayload,
        required=True,
        element_code=graphene.String(required=True, description="The element."),
        replaced_by=graphene.String(description="The active element that replaces it, if any."),
        reason=graphene.String(required=True, description="Why (recorded in the audit log)."),
        description="Retire an element no dataset collects any more (center admins).",
    )
    request_access = graphene.Field(
        AgreementPayload,
        required=True,
        consumer=graphene.String(required=True, description="The consuming department (a steward's own)."),
        elements=graphene.List(
            graphene.NonNull(graphene.String), required=True, description="Element codes requested."
        ),
        purpose=graphene.String(required=True, description="What the data will be used for."),
        legal_basis=graphene.String(description="The law or rule that permits the use."),
        valid_from=graphene.Date(required=True, description="First day of use."),
        valid_to=graphene.Date(description="Last day of use."),
        reason=graphene.String(required=True, description="Why (recorded in the audit log)."),
        description="Request access to other departments' elements: a sharing agreement in status "
        "requested (stewards for their own department; center admins for any).",
    )
    decide_access = graphene.Field(
        AgreementPayload,
        required=True,
        agreement_code=graphene.String(required=True, description="The requested agreement."),
        approve=graphene.Boolean(required=True, description="true to approve, false to reject."),
        reason=graphene.String(required=True, description="Why (recorded in the audit log)."),
        description="Approve or reject an access request (center admins; stewards for requests "
        "that only ask for their own department's data; never one's own department's request).",
    )

    @staticmethod
    def resolve_register_element(root: Any, info: Any, input: Any, reason: str) -> dict[str, Any]:
        m = _Mutation(info, "registerElement", "element", reason, ELEMENT_FIELDS)
        m.require_role(CENTER_ADMIN)
        data = _clean(dict(input))
        code = str(data.get("code", ""))

        def build(conn: Connection, registry: Registry) -> Registry:
            labels = registry.settings.labels()
            try:
                element = Element.model_validate(data, context={"labels": labels})
            except ValidationError as exc:
                raise Refused(
                    [
                        _error(
                            Refusal.INVALID,
                            str(e["msg"]).removeprefix("Value error, "),
                            ".".join(_camel(str(p)) for p in e["loc"]) or None,
                        )
                        for e in exc.errors(include_url=False)
                    ]
                ) from None
            if element.code in registry.elements:
                raise Refused(
                    [_error("GOV001", f"element code '{element.code}' is already registered", "code")]
                )
            return _replace(registry, "elements", element)

        return _as(m.run(code, build, elements), "element")

    @staticmethod
    def resolve_transfer_ownership(
        root: Any, info: Any, element_code: str, to_department: str, reason: str
    ) -> dict[str, Any]:
        m = _Mutation(
            info,
            "transferOwnership",
            "element",
            reason,
            {**ELEMENT_FIELDS, "GOV005": "toDepartment", "GOV032": "toDepartment"},
        )
        m.require_role(CENTER_ADMIN)

        def build(conn: Connection, registry: Registry) -> Registry:
            element = _element(registry, element_code)
            if element.owner == to_department:
                raise Refused(
                    [
                        _error(
                            Refusal.INVALID,
                            f"'{to_department}' already owns '{element_code}'",
                            "toDepartment",
                        )
                    ]
                )
            migrated, blocked = _migrate_agreements(registry, element, to_department)
            if blocked:
                raise Refused(blocked)
            wanted = _replace(registry, "elements", element.model_copy(update={"owner": to_department}))
            for agreement in migrated:
                wanted = _replace(wanted, "agreements", agreement)
            return wanted

        return _as(m.run(element_code, build, elements), "element")

    @staticmethod
    def resolve_retire_element(
        root: Any, info: Any, element_code: str, reason: str, replaced_by: str | None = None
    ) -> dict[str, Any]:
        m = _Mutation(info, "retireElement", "element", reason, ELEMENT_FIELDS)
        m.require_role(CENTER_ADMIN)

        def build(conn: Connection, registry: Registry) -> Registry:
            element = _element(registry, element_code)
            if element.status in INACTIVE:
                raise Refused(
                    [_error(Refusal.INVALID, f"'{element_code}' is already {element.status}", "elementCode")]
                )
            if replaced_by is not None:
                replacement = registry.elements.get(replaced_by)
                if replaced_by == element_code or replacement is None or replacement.status in INACTIVE:
                    raise Refused(
                        [
                            _error(
                                "GOV013",
                                f"replacement '{replaced_by}' must be another registered, active element",
                                "replacedBy",
                            )
                        ]
                    )
            retired = element.model_copy(update={"status": Status.RETIRED, "replaced_by": replaced_by})
            return _replace(registry, "elements", retired)

        return _as(m.run(element_code, build, elements), "element")

    @staticmethod
    def resolve_request_access(
        root: Any,
        info: Any,
        consumer: str,
        elements: list[str],
        purpose: str,
        valid_from: date,
        reason: str,
        legal_basis: str | None = None,
        valid_to: date | None = None,
    ) -> dict[str, Any]:
        m = _Mutation(info, "requestAccess", "agreement", reason, AGREEMENT_FIELDS)
        m.require_role(CENTER_ADMIN, STEWARD)
        ctx = m.ctx
        if ctx.token.role == STEWARD and consumer != m.token_dept:
            raise m.forbid(
                consumer,
                f"a steward of '{m.token_dept}' may request access only for its own department, "
                f"not for '{consumer}'",
            )
        codes = list(dict.fromkeys(elements))
        made: dict[str, str] = {}

        def build(conn: Connection, registry: Registry) -> Registry:
            problems: list[dict[str, Any]] = []
            if not codes:
                problems.append(_error(Refusal.INVALID, "request at least one element", "elements"))
            if consumer not in registry.departments:
                problems.append(_error("GOV002", f"unknown consumer department '{consumer}'", "consumer"))
            for code in codes:
                element = registry.elements.get(code)
                if element is None:
                    problems.append(_error("GOV002", f"unknown element '{code}'", "elements"))
                elif element.sharing == SharingType.NOT_SHARED:
                    problems.append(
                        _error(
                            "GOV009",
                            f"'{code}' is not shared ({element.legal_basis}); it cannot be granted",
                            "elements",
                        )
                    )
                elif element.status in INACTIVE:
                    problems.append(_error("GOV004", f"'{code}' is {element.status}", "elements"))
                elif element.owner == consumer:
                    problems.append(_error(Refusal.INVALID, f"'{consumer}' owns '{code}' itself", "elements"))
            if problems:
                raise Refused(problems)
            made["code"] = _request_code(conn, consumer, ctx.today)
            owners = {registry.elements[c].owner for c in codes}
            try:
                agreement = Agreement.model_validate(
                    {
                        "code": made["code"],
                        "consumer": consumer,
                        "provider": owners.pop() if len(owners) == 1 else None,
                        "elements": codes,
                        "purpose": purpose,
                        "legal_basis": legal_basis or None,
                        "valid_from": valid_from,
                        "valid_to": valid_to,
                        "status": AgreementStatus.REQUESTED,
                    }
                )
            except ValidationError as exc:
                raise Refused(
                    [
                        _error(Refusal.INVALID, str(e["msg"]), ".".join(_camel(str(p)) for p in e["loc"]))
                        for e in exc.errors(include_url=False)
                    ]
                ) from None
            return _replace(registry, "agreements", agreement)

        return _as(m.run(consumer, build, agreements, lambda: made.get("code", consumer)), "agreement")

    @staticmethod
    def resolve_decide_access(
        root: Any, info: Any, agreement_code: str, approve: bool, reason: str
    ) -> dict[str, Any]:
        m = _Mutation(info, "decideAccess", "agreement", reason, AGREEMENT_FIELDS)
        m.require_role(CENTER_ADMIN, STEWARD)
        ctx = m.ctx
        dept = m.token_dept

        def build(conn: Connection, registry: Registry) -> Registry:
            agreement = registry.agreements.get(agreement_code)
            if agreement is None:
                raise Refused(
                    [_error(Refusal.NOT_FOUND, f"no agreement {agreement_code!r}", "agreementCode")]
                )
            if agreement.consumer == dept:
                raise m.forbid(
                    agreement_code,
                    f"'{dept}' may not decide its own request '{agreement_code}' (self-approval)",
                    ForbiddenReason.SELF_APPROVAL,
                )
            if ctx.token.role == STEWARD:
                foreign = sorted(_owners(registry, agreement) - {dept})
                if foreign:
                    raise m.forbid(
                        agreement_code,
                        f"a steward of '{dept}' may decide only requests for its own department's data; "
                        f"'{agreement_code}' also asks for data of {', '.join(repr(f) for f in foreign)}",
                    )
            if agreement.status != AgreementStatus.REQUESTED:
                raise Refused(
                    [
                        _error(
                            Refusal.INVALID,
                            f"'{agreement_code}' is {agreement.status}; only a request can be decided",
                            "agreementCode",
                        )
                    ]
                )
            update: dict[str, Any] = (
                {"status": AgreementStatus.APPROVED, "approver": ctx.token.actor, "approved_on": ctx.today}
                if approve
                else {"status": AgreementStatus.REJECTED}
            )
            return _replace(registry, "agreements", agreement.model_copy(update=update))

        return _as(m.run(agreement_code, build, agreements), "agreement")
