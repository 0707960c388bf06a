"""Who may see which datum: decided here, once per datum, for every path of the API.

Every field of the schema that returns text is declared below (:data:`FIELDS`) with the datum it
carries; the schema is checked against the declaration when it is built (:func:`check_schema`),
so a new field that is not declared stops the server from starting, and a field declared
restricted must be resolved by one of this module's resolvers (each carries its datum). Types
never decide visibility themselves: they hand the raw value to a resolver made here.

The data, and who sees them (the asker is a token: a department and a role):

* ``METADATA`` — what exists, who owns it, how it is shared, codes, names, counts: every
  authenticated token.
* ``ELEMENT_DETAILS`` — the definition, synonyms, value domain, sharing condition and legal basis
  of a core-level element: its owner department, center admins, and departments holding an
  approved agreement valid today that grants the element (or a dataset carrying it). Anyone else
  gets ``FORBIDDEN`` on that field (audited).
* ``COLUMN_VALUES`` — a quality result's sample values and error message (values of the checked
  columns): visible when every column it checks may be seen by the asker. A column of personal
  or core data may be seen by its element's owner and by departments granted that element; a
  compound key is as restricted as its most restricted column; a column govreg cannot map to an
  element counts as restricted. Center admins and the dataset's provider (whose data it is)
  always see them. Anyone else gets ``FORBIDDEN``.
* ``RULE_TEXT`` — a rule's message, hint or location (``conflicts``, a mutation's errors and
  warnings): shown with every restricted detail it quotes that the asker may not see replaced by
  ``[restricted]`` (the restricted details of every core element the asker may not see are
  looked for in the text, whatever rule wrote it).
* ``LOAD_REASON`` — why a load was refused: its full text (which may quote the file: its header,
  its values, a link's target) to the providing department and center admins; to everyone else
  a content-free reason: rule code and title, the file's name, the line number, and the columns
  it names that are registered columns of the dataset.
* ``AUDIT_TEXT`` — an audit event's reason and before/after: center admins in full; others (who
  see only events about their own department's elements and their own department) with the
  restricted details they may not see replaced, as in ``RULE_TEXT``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable
from enum import StrEnum
from functools import cached_property
from pathlib import PurePath
from typing import TYPE_CHECKING, Any

from sqlalchemy import or_

from registry.codes import RULES
from registry.store.schema import elements

if TYPE_CHECKING:
    from graphql import GraphQLSchema

    from registry.api.context import RequestContext
    from registry.home import Registry

Row = dict[str, Any]
CENTER_ADMIN = "center-admin"
MASK = "[restricted]"


class Datum(StrEnum):
    METADATA = "metadata"
    ELEMENT_DETAILS = "element details"
    COLUMN_VALUES = "column values"
    RULE_TEXT = "rule text"
    LOAD_REASON = "load reason"
    AUDIT_TEXT = "audit text"


def _fields(metadata: str = "", **restricted: Datum) -> dict[str, Datum]:
    out = {name: Datum.METADATA for name in metadata.split()}
    out.update(restricted)
    return out


# Every text-carrying field (String, JSON, ID, or a list of them) of every object type, with its
# datum. Int, Float, Boolean and enum fields carry no element data; object fields lead to types
# declared here.
FIELDS: dict[str, dict[str, Datum]] = {
    "Me": _fields("department role actor"),
    "Department": _fields("code name nameEn shortName description"),
    "DataElement": _fields(
        "code name nameEn ownerCode unit updateCycle",
        definition=Datum.ELEMENT_DETAILS,
        synonyms=Datum.ELEMENT_DETAILS,
        domain=Datum.ELEMENT_DETAILS,
        sharingCondition=Datum.ELEMENT_DETAILS,
        legalBasis=Datum.ELEMENT_DETAILS,
    ),
    "Column": _fields("name elementCode replica role"),
    "Dataset": _fields("code name nameEn providerCode classification format summary key"),
    "View": _fields("code name nameEn query description"),
    "Indicator": _fields("code name nameEn query description question unit"),
    "LineageEdge": _fields("sourceTable sourceColumn targetTable targetColumn kind"),
    "LineageNode": _fields("node table column via parent"),
    "Lineage": _fields("start direction"),
    "QualityScore": _fields("subject kind validatedAt"),
    "QualityResult": _fields(
        "suite key expectationType element rule severity status validatedAt",
        samples=Datum.COLUMN_VALUES,
        message=Datum.COLUMN_VALUES,
    ),
    "SharingAgreement": _fields("code name nameEn purpose legalBasis approver validFrom validTo"),
    "ServiceElement": _fields("source agreement"),
    "Service": _fields("code name nameEn"),
    "DataFlow": _fields("providerCode consumerCode kind sharingTypes"),
    "Conflict": _fields(
        "code severity", message=Datum.RULE_TEXT, location=Datum.RULE_TEXT, hint=Datum.RULE_TEXT
    ),
    "ImpactStep": _fields("column via source sources"),
    "ImpactConsumer": _fields("department reasons"),
    "Impact": _fields("element owner columns views indicators"),
    "AuditEvent": _fields(
        "ts actor action entityKind entityCode hash",
        reason=Datum.AUDIT_TEXT,
        before=Datum.AUDIT_TEXT,
        after=Datum.AUDIT_TEXT,
    ),
    "LoadRecord": _fields(
        "loadId dataset department file sha256 status ruleCode startedAt finishedAt",
        reason=Datum.LOAD_REASON,
    ),
    "MutationError": _fields("field", message=Datum.RULE_TEXT),  # code: an enum (MutationErrorCode)
    "PageInfo": _fields("startCursor endCursor"),
}
# Types whose fields are all declared by pattern: connections and edges (a cursor is an offset).
EDGE_FIELDS = {"cursor": Datum.METADATA}


def _marked(datum: Datum, fn: Callable[..., Any]) -> Callable[..., Any]:
    fn.visibility = datum  # type: ignore[attr-defined]
    return fn


# --- resolvers: the only way a type returns restricted data ------------------------------------
def element_detail(name: str, get: Callable[[Row], Any]) -> Callable[[Row, Any], Any]:
    """A resolver of an element's restricted detail ``name`` (``get`` reads it from the row)."""

    def resolve(row: Row, info: Any) -> Any:
        return info.context.visibility.element_detail(row, name, get(row))

    return _marked(Datum.ELEMENT_DETAILS, resolve)


def column_values(name: str, get: Callable[[Row], Any]) -> Callable[[Row, Any], Any]:
    """A resolver of a quality result's values (samples, message)."""

    def resolve(row: Row, info: Any) -> Any:
        return info.context.visibility.column_values(row, name, get(row))

    return _marked(Datum.COLUMN_VALUES, resolve)


def rule_text(key: str) -> Callable[[Row, Any], Any]:
    """A resolver of a rule's text (a finding's message, hint or location; a mutation error).
    The text is looked through against the store's registry and, when the row names one
    (``_registry``), the registry the rule checked (a mutation's wanted registry)."""

    def resolve(row: Row, info: Any) -> Any:
        value = row.get(key)
        if value is None:
            return None
        ctx = info.context
        registries = [ctx.registries.get(ctx.conn)]
        if row.get("_registry") is not None:
            registries.append(row["_registry"])
        return ctx.visibility.rule_text(str(value), *registries)

    return _marked(Datum.RULE_TEXT, resolve)


def load_reason() -> Callable[[Row, Any], Any]:
    def resolve(row: Row, info: Any) -> Any:
        return info.context.visibility.load_reason(row)

    return _marked(Datum.LOAD_REASON, resolve)


def audit_text(key: str) -> Callable[[Row, Any], Any]:
    def resolve(row: Row, info: Any) -> Any:
        return info.context.visibility.audit_text(row.get(key), json_text=key != "reason")

    return _marked(Datum.AUDIT_TEXT, resolve)


# --- the schema check -------------------------------------------------------------------------
def _is_text(gtype: Any) -> bool:
    from graphql import GraphQLList, GraphQLNonNull, GraphQLScalarType

    while isinstance(gtype, GraphQLNonNull | GraphQLList):
        gtype = gtype.of_type
    return isinstance(gtype, GraphQLScalarType) and gtype.name not in ("Int", "Float", "Boolean")


def schema_problems(schema: GraphQLSchema) -> list[str]:
    """Every text field not declared in :data:`FIELDS`, every declared field the schema lacks,
    and every restricted field not resolved by this module with its datum."""
    from graphql import GraphQLObjectType

    problems: list[str] = []
    seen: set[tuple[str, str]] = set()
    for name, gtype in schema.type_map.items():
        if name.startswith("__") or not isinstance(gtype, GraphQLObjectType):
            continue
        declared = FIELDS.get(name, EDGE_FIELDS if name.endswith(("Edge", "Connection")) else {})
        for fname, field in gtype.fields.items():
            if not _is_text(field.type):
                continue
            seen.add((name, fname))
            datum = declared.get(fname)
            if datum is None:
                problems.append(f"{name}.{fname} carries text but its visibility is not declared")
            elif datum != Datum.METADATA and getattr(field.resolve, "visibility", None) != datum:
                problems.append(f"{name}.{fname} is {datum} but not resolved through registry.api.visibility")
    for name, fields in FIELDS.items():
        for fname in fields:
            if (name, fname) not in seen:
                problems.append(f"{name}.{fname} is declared but is no text field of the schema")
    return problems


def check_schema(schema: GraphQLSchema) -> None:
    problems = schema_problems(schema)
    if problems:
        raise RuntimeError("visibility of the API's fields: " + "; ".join(problems))


# --- the decisions ------------------------------------------------------------------------------
def _restricted_texts(element: Any) -> set[str]:
    """The restricted details of a registry element, as the texts a message could quote."""
    texts = {*element.synonyms, element.definition, element.sharing_condition, element.legal_basis}
    for value in element.domain.model_dump(exclude_none=True).values():
        for leaf in value if isinstance(value, list | tuple) else [value]:
            texts.add(str(leaf))
            if isinstance(leaf, float) and leaf.is_integer():
                texts.add(str(int(leaf)))
    return {t for t in texts if t and t.strip()}


_WORD = frozenset("abcdefghijklmnopqrstuvwxyz0123456789_")


class Finder:
    """Finds given texts in a message (case-insensitive; a text that begins or ends with a Latin
    letter or digit only as a whole word there), in one pass over the message. Each text is
    indexed by its first 8, 4, 2 or 1 characters (the longest its length allows); a position of
    the message is looked at only when its character begins some text, then with four look-ups,
    however many texts there are."""

    STRIDES = (8, 4, 2, 1)

    def __init__(self, texts: Iterable[str]):
        self.index: dict[str, list[str]] = {}
        for text in sorted({t.casefold() for t in texts if t}, key=lambda t: (-len(t), t)):
            stride = next(n for n in self.STRIDES if len(text) >= n)
            self.index.setdefault(text[:stride], []).append(text)
        self.starts = frozenset(key[0] for key in self.index)
        self.strides = [n for n in self.STRIDES if any(len(key) == n for key in self.index)]

    def __bool__(self) -> bool:
        return bool(self.index)

    def _at(self, folded: str, i: int) -> int:
        """Length of the longest text found at ``i`` (0: none)."""
        for stride in self.strides:
            if i + stride > len(folded):
                continue
            for text in self.index.get(folded[i : i + stride], ()):
                end = i + len(text)
                if not folded.startswith(text, i):
                    continue
                if text[0] in _WORD and i > 0 and folded[i - 1] in _WORD:
                    continue
                if text[-1] in _WORD and end < len(folded) and folded[end] in _WORD:
                    continue
                return len(text)
        return 0

    def replace(self, message: str, mask: str) -> str:
        folded = message.casefold()
        if len(folded) != len(message):  # a character folds to several: mask the folded text
            message = folded
        out: list[str] = []
        last = i = 0
        while i < len(folded):
            found = self._at(folded, i) if folded[i] in self.starts else 0
            if found:
                out += [message[last:i], mask]
                i += found
                last = i
            else:
                i += 1
        out.append(message[last:])
        return "".join(out)


_TEXTS: list[tuple[Any, dict[str, frozenset[str]]]] = []  # the last registry's texts per element


def _element_texts(registry: Registry) -> dict[str, frozenset[str]]:
    """Each core element's restricted texts, computed once per registry (the store's registry
    changes only when a change is applied)."""
    if _TEXTS and _TEXTS[0][0] is registry:
        return _TEXTS[0][1]
    texts = {
        code: frozenset(_restricted_texts(element))
        for code, element in registry.elements.items()
        if str(element.security) == "core"
    }
    _TEXTS[:] = [(registry, texts)]
    return texts


class Visibility:
    """The decisions for one request's token (``ctx.visibility``)."""

    def __init__(self, ctx: RequestContext):
        self.ctx = ctx
        self.department = ctx.token.department
        self.is_admin = ctx.token.role == CENTER_ADMIN
        self._finders: dict[int, tuple[Any, Finder]] = {}

    @cached_property
    def granted(self) -> frozenset[str]:
        """Elements granted to the token's department by an approved agreement valid today."""
        return self.ctx.loaders.granted_elements(self.department, self.ctx.today)

    # element details ---------------------------------------------------------------------------
    def sees_element(self, code: str, owner: str) -> bool:
        return self.is_admin or owner == self.department or code in self.granted

    def details_hidden(self, element: Row) -> bool:
        """True when this element's restricted details are hidden from the token."""
        return element["security"] == "core" and not self.sees_element(element["code"], element["owner"])

    def element_detail(self, element: Row, what: str, value: Any) -> Any:
        if not self.details_hidden(element):
            return value
        raise self.ctx.deny(
            "element",
            element["code"],
            what,
            f"{what} of core-level element {element['code']} is restricted to its owner "
            f"({element['owner']}), center admins and departments with a valid agreement",
        )

    def details_visible_sql(self) -> Any:
        """A SQL condition on ``elements``: rows whose restricted details the token may see
        (None for center admins: all)."""
        if self.is_admin:
            return None
        return or_(
            elements.c.security != "core",
            elements.c.owner == self.department,
            elements.c.code.in_(sorted(self.granted)),
        )

    # column values -----------------------------------------------------------------------------
    def _blocking_element(self, result: Row) -> tuple[str, str] | None:
        """(element, owner) of a column of ``result`` the token may not see the values of, or
        ("?", provider) when a column cannot be mapped to an element; None when all may be seen."""
        loaders = self.ctx.loaders
        dataset = loaders.dataset.load(result["dataset"])
        provider = dataset["provider"] if dataset else result.get("department")
        if self.is_admin or provider == self.department:
            return None
        names = [str(c) for c in result.get("columns") or []]
        if result.get("element"):
            names.append(str(result["element"]))
        if not names:
            return ("?", str(provider))
        by_column = {c["name"]: c["element"] for c in loaders.columns_of_dataset.load(result["dataset"])}
        loaders.element.want([*names, *by_column.values()])
        for name in names:
            element = loaders.element.load(name) or (
                loaders.element.load(by_column[name]) if name in by_column else None
            )
            if element is None:
                return ("?", str(provider))
            sensitive = element["personal"] != "none" or element["security"] == "core"
            if sensitive and not self.sees_element(element["code"], element["owner"]):
                return (element["code"], element["owner"])
        return None

    def column_values(self, result: Row, what: str, value: Any) -> Any:
        if not value:
            return value
        blocked = self._blocking_element(result)
        if blocked is None:
            return value
        code, owner = blocked
        columns = "+".join(str(c) for c in result.get("columns") or []) or result.get("key")
        if code == "?":
            raise self.ctx.deny(
                "dataset",
                str(result["dataset"]),
                what,
                f"{what} of {result['dataset']} ({columns}) check columns govreg cannot map to "
                f"an element: restricted to the provider ({owner}) and center admins",
            )
        raise self.ctx.deny(
            "element",
            code,
            what,
            f"{what} of {result['dataset']} ({columns}) hold values of {code} (personal or core "
            f"data), restricted to its owner ({owner}), the dataset's provider, center admins and "
            "departments with a valid agreement",
        )

    # rule and audit texts ----------------------------------------------------------------------
    def _hidden(self, registry: Registry) -> Finder:
        """The restricted texts of ``registry``'s core elements the token may not see."""
        cached = self._finders.get(id(registry))
        if cached is not None and cached[0] is registry:
            return cached[1]
        owners = {code: registry.elements[code].owner for code in _element_texts(registry)}
        finder = Finder(
            text
            for code, texts in _element_texts(registry).items()
            if not self.sees_element(code, owners[code])
            for text in texts
        )
        self._finders[id(registry)] = (registry, finder)
        return finder

    def redact(self, text: str, *registries: Registry) -> str:
        """``text`` with every restricted detail the token may not see replaced by [restricted]."""
        if self.is_admin:
            return text
        if not registries:
            registries = (self.ctx.registries.get(self.ctx.conn),)
        for registry in registries:
            finder = self._hidden(registry)
            if finder:
                text = finder.replace(text, MASK)
        return text

    def rule_text(self, text: str, *registries: Registry) -> str:
        return self.redact(text, *registries)

    def audit_text(self, value: Any, *, json_text: bool = False) -> Any:
        if value is None or self.is_admin:
            return value
        if json_text:
            try:
                parsed = json.loads(value)
            except ValueError:
                return self.redact(str(value))
            return json.dumps(self._redact_json(parsed), ensure_ascii=False, sort_keys=True)
        return self.redact(str(value))

    def _redact_json(self, value: Any) -> Any:
        if isinstance(value, str):
            return self.redact(value)
        if isinstance(value, list):
            return [self._redact_json(v) for v in value]
        if isinstance(value, dict):
            return {k: self._redact_json(v) for k, v in value.items()}
        return value

    # load reasons ------------------------------------------------------------------------------
    def load_reason(self, load: Row) -> str | None:
        reason = load.get("reason")
        if reason is None or self.is_admin or load["department"] == self.department:
            return reason
        return content_free_reason(load, self.ctx.loaders.columns_of_dataset.load(load["dataset"]))


def content_free_reason(load: Row, columns: list[Row]) -> str:
    """Why a load was refused, without anything read from the file: rule code and title, the
    file's name, the line number, and the registered columns of the dataset the reason names."""
    reason = str(load.get("reason") or "")
    file = str(load.get("file") or "")
    name = PurePath(file).name or "the file"
    found = re.match(re.escape(file) + r":(\d+): ", reason) if file else None
    line = f", line {found.group(1)}" if found else ""
    registered = sorted({str(c["name"]) for c in columns} | {str(c["element"]) for c in columns})
    named = [
        c for c in registered if re.search(r"(?<![A-Za-z0-9_])" + re.escape(c) + r"(?![A-Za-z0-9_])", reason)
    ]
    cols = f"; columns: {', '.join(named)}" if named else ""
    rule = load.get("rule_code")
    what = f"{rule} ({RULES[rule].title})" if rule in RULES else (str(rule) if rule else str(load["status"]))
    return (
        f"{what}: {name}{line}{cols} — the full reason may quote the file and is shown only to the "
        f"provider ({load['department']}) and center admins"
    )
