"""Governance rules over a whole registry.

Each rule is one pure function ``(Registry, date) -> Iterator[Problem]``; :data:`RULE_CHECKS`
composes them, and :func:`check_rules` runs them all and returns every problem (errors and
warnings). The codes, severities and hints are in :mod:`registry.codes`.

Date-driven findings — true on one day and not on another, because an agreement has ended or has
not yet begun — are marked ``dated`` and name the datasets, views or indicators they stop
(``stops``): GOV007 (a replica whose agreement is not in force today), GOV029 (a service whose grant
is not in force today), GOV030 (a view, or an agreement in force, exposing what is granted only on
other days), and the warnings GOV024 and GOV033. A finding that holds whatever the day (an unknown
agreement, one that grants something else, one never approved) is not dated. The Dagster
definitions refuse only undated errors; :func:`date_stops` gives each asset its dated ones, for it
to fail with at run time (:mod:`pipelines.assets`).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from datetime import date, timedelta
from typing import Any

from registry.checkdigit import is_valid
from registry.errors import Location, Problem, sort_problems
from registry.home import Registry
from registry.model import Agreement, Dataset, Element, Spec
from registry.vocab import AgreementStatus, DataType, PersonalInfo, ResourceClass, SharingType, Status

IDENTIFIER = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
INACTIVE = frozenset({Status.RETIRED, Status.SUPERSEDED})
NOT_YET_AGREED = frozenset({Status.INCOMPLETE, Status.CANDIDATE})

EXPIRES_SOON = timedelta(days=30)  # GOV033: how long before its last day an agreement is warned of

Rule = Callable[[Registry, date], Iterator[Problem]]


def _p(
    code: str,
    message: str,
    where: Spec | Location,
    hint: str = "",
    *,
    dated: bool = False,
    stops: tuple[str, ...] = (),
) -> Problem:
    loc = where if isinstance(where, Location) else where.loc
    return Problem(code, message, loc, hint, dated=dated, stops=stops)


def _in_force(agreement: Agreement, today: date | None) -> bool:
    """In force on ``today``; with ``today`` None, on some day of its term: approved, or approved
    once and since ended (``expired`` is what the calendar made it, not a declaration to fix)."""
    if today is None:
        return agreement.status in (AgreementStatus.APPROVED, AgreementStatus.EXPIRED)
    return agreement.is_valid_on(today)


def identifiers(r: Registry, today: date) -> Iterator[Problem]:
    """GOV025: codes that become warehouse and asset names must be identifiers."""
    for section in ("departments", "elements", "datasets", "views", "indicators", "codelists"):
        for code, entity in r.section(section).items():
            if not IDENTIFIER.match(code):
                noun = entity.kind  # type: ignore[attr-defined]
                yield _p("GOV025", f"{noun} code '{code}' is not a lower-case identifier", entity)


def _missing(r: Registry, section: str, code: str) -> str | None:
    """None when ``code`` is declared in ``section``; else the end of the finding's message (a
    "did you mean" naming the closest declared code, or nothing). A code whose declaration was
    rejected (or an element declared twice) is declared: its own error is the finding, and
    "unknown" here would only echo it."""
    return None if r.is_declared(section, code) else r.did_you_mean(section, code)


def departments(r: Registry, today: date) -> Iterator[Problem]:
    """GOV002 unknown parent, GOV014 cycles, GOV028 a bad unified social credit code, GOV034 one
    code for two departments."""
    for code, dept in r.departments.items():
        if dept.parent is not None and (hint := _missing(r, "departments", dept.parent)) is not None:
            yield _p("GOV002", f"department '{code}' has unknown parent '{dept.parent}'{hint}", dept)
        if dept.uscc and not is_valid("gb32100", dept.uscc):
            yield _p(
                "GOV028", f"department '{code}' has an invalid unified social credit code '{dept.uscc}'", dept
            )
    by_uscc: dict[str, list[str]] = {}
    for code, dept in r.departments.items():
        if dept.uscc:
            by_uscc.setdefault(dept.uscc.strip().upper(), []).append(code)
    for uscc, codes in by_uscc.items():
        for later in codes[1:]:  # reported at each department after the first declared, naming all
            others = ", ".join(f"'{c}'" for c in codes if c != later)
            yield _p(
                "GOV034",
                f"departments '{later}' and {others} share the unified social credit code '{uscc}'",
                r.departments[later],
            )
    reported: set[str] = set()
    for code in r.departments:
        seen: list[str] = []
        current: str | None = code
        while current is not None and current in r.departments and current not in seen:
            seen.append(current)
            current = r.departments[current].parent
        if current is not None and current in seen and current not in reported:
            cycle = seen[seen.index(current) :]
            reported.update(cycle)
            path = " → ".join([*cycle, current])
            yield _p("GOV014", f"department hierarchy has a cycle: {path}", r.departments[current])


def center(r: Registry, today: date) -> Iterator[Problem]:
    """GOV040: ``registry.center`` names a declared department (the big-data center)."""
    code = r.settings.center
    if code is not None and code not in r.departments:
        yield _p(
            "GOV040",
            f"registry.center is '{code}', which is not a declared department",
            r.settings,
        )


def element_ownership(r: Registry, today: date) -> Iterator[Problem]:
    """GOV005: exactly one owner department, and it exists."""
    for code, element in r.elements.items():
        if (hint := _missing(r, "departments", element.owner)) is not None:
            yield _p(
                "GOV005", f"element '{code}' is owned by unknown department '{element.owner}'{hint}", element
            )


def element_sharing(r: Registry, today: date) -> Iterator[Problem]:
    """GOV008, GOV010, GOV011: an element's sharing type and what it needs."""
    for code, element in r.elements.items():
        yield from _sharing_problems(
            f"element '{code}'", element.sharing, element.sharing_condition, element.legal_basis, element
        )
        if (
            element.personal == PersonalInfo.SENSITIVE_PERSONAL
            and element.sharing == SharingType.UNCONDITIONAL
        ):
            yield _p(
                "GOV010",
                f"element '{code}' is sensitive personal information but shared unconditionally",
                element,
            )


def _sharing_problems(
    label: str, sharing: SharingType | None, condition: str | None, basis: str | None, where: Spec
) -> Iterator[Problem]:
    if sharing == SharingType.CONDITIONAL and not condition:
        yield _p("GOV008", f"{label} is shared conditionally but states no sharing_condition", where)
    if sharing == SharingType.NOT_SHARED and not basis:
        yield _p("GOV011", f"{label} is not shared but cites no legal_basis", where)


def element_status(r: Registry, today: date) -> Iterator[Problem]:
    """GOV013: a superseded element names an existing, active replacement."""
    for code, element in r.elements.items():
        if element.status != Status.SUPERSEDED:
            continue
        target = r.elements.get(element.replaced_by or "")
        if target is None:
            hint = _missing(r, "elements", element.replaced_by or "")
            if hint is not None:
                yield _p(
                    "GOV013",
                    f"element '{code}' is superseded but replaced_by "
                    f"{element.replaced_by!r} is not a registered element{hint}",
                    element,
                )
        elif target.status in INACTIVE:
            yield _p(
                "GOV013",
                f"element '{code}' is replaced by '{target.code}', which is itself {target.status}",
                element,
            )


def code_lists(r: Registry, today: date) -> Iterator[Problem]:
    """GOV036 a code valid to before it is valid from, or two periods of one code that overlap;
    a successor not in the list; and ``as_of`` bindings: GOV002 a column the dataset lacks, GOV036
    one that is not a date, or bound on an element without a code list."""
    for code, codelist in r.codelists.items():
        periods: dict[str, list[Any]] = {}
        values = {v.value for v in codelist.values}
        for v in codelist.values:
            if v.valid_from is not None and v.valid_to is not None and v.valid_to < v.valid_from:
                yield _p(
                    "GOV036",
                    f"code '{v.value}' of '{code}' is valid to {v.valid_to}, before it is valid from "
                    f"{v.valid_from}",
                    v,
                )
                continue
            for other in periods.get(v.value, []):
                if (v.valid_from is None or other.valid_to is None or v.valid_from <= other.valid_to) and (
                    other.valid_from is None or v.valid_to is None or other.valid_from <= v.valid_to
                ):
                    yield _p(
                        "GOV036",
                        f"code '{v.value}' of '{code}': periods overlap ({_period(other)} at "
                        f"{other.loc} and {_period(v)}); a year alone runs from 1 January to 31 December",
                        v,
                    )
            periods.setdefault(v.value, []).append(v)
            if v.successor is not None and v.successor not in values:
                yield _p(
                    "GOV036",
                    f"code '{v.value}' of '{code}' names successor '{v.successor}', not in the list",
                    v,
                )
    for ds in r.datasets.values():
        for column in ds.columns:
            if column.as_of is None:
                continue
            bound = ds.column_for(column.as_of)
            if bound is None:
                yield _p(
                    "GOV002",
                    f"column '{column.name}' of '{ds.code}' is checked as of '{column.as_of}', which is no "
                    f"column of the dataset",
                    column,
                )
                continue
            element, date_element = r.elements.get(column.element), r.elements.get(bound.element)
            if date_element is not None and date_element.type not in (DataType.DATE, DataType.DATETIME):
                yield _p(
                    "GOV036",
                    f"column '{column.name}' of '{ds.code}' is checked as of '{column.as_of}', which holds "
                    f"'{bound.element}' ({date_element.type}), not a date",
                    column,
                    "bind as_of to a date or datetime column of the same dataset",
                )
            if element is not None and element.domain.code_list is None:
                yield _p(
                    "GOV036",
                    f"column '{column.name}' of '{ds.code}' is checked as of '{column.as_of}', but its "
                    f"element '{element.code}' has no code list with validity periods",
                    column,
                    "remove as_of, or give the element a code_list",
                )


def _period(v: Any) -> str:
    return f"{v.valid_from or '…'}–{v.valid_to or '…'}"


def value_domains(r: Registry, today: date) -> Iterator[Problem]:
    """GOV018 impossible domains, GOV026 domains that do not fit the type, GOV002 code lists."""
    for code, element in r.elements.items():
        d = element.domain
        label = f"element '{code}'"
        if d.pattern is not None:
            try:
                re.compile(d.pattern)
            except re.error as exc:
                yield _p(
                    "GOV018", f"{label}: pattern {d.pattern!r} is not a regular expression ({exc})", element
                )
        if d.min is not None and d.max is not None and d.min > d.max:
            yield _p("GOV018", f"{label}: min {d.min} is greater than max {d.max}", element)
        if d.min_length is not None and d.max_length is not None and d.min_length > d.max_length:
            yield _p(
                "GOV018", f"{label}: min_length {d.min_length} exceeds max_length {d.max_length}", element
            )
        if d.length is not None and (d.min_length is not None or d.max_length is not None):
            yield _p("GOV018", f"{label}: give either length or min_length/max_length", element)
        if d.codes is not None and not d.codes:
            yield _p("GOV018", f"{label}: an empty code list admits no value", element)
        if d.codes is not None and d.code_list is not None:
            yield _p("GOV018", f"{label}: give either codes or code_list", element)
        if d.date_format is not None and "%" not in d.date_format:
            yield _p("GOV018", f"{label}: date_format {d.date_format!r} has no strftime directive", element)
        if d.code_list is not None and (hint := _missing(r, "codelists", d.code_list)) is not None:
            yield _p("GOV002", f"{label}: unknown code list '{d.code_list}'{hint}", element)
        if (d.min is not None or d.max is not None) and not element.type.is_numeric:
            yield _p("GOV026", f"{label}: a numeric range needs a numeric type, not {element.type}", element)
        if d.check_digit is not None and not element.type.is_text:
            yield _p("GOV026", f"{label}: a check digit needs a character type, not {element.type}", element)
        if d.date_format is not None and element.type.is_numeric:
            yield _p("GOV026", f"{label}: a date format does not fit type {element.type}", element)


def duplicate_elements(r: Registry, today: date) -> Iterator[Problem]:
    """GOV022: two active elements known by the same name are probably one element twice."""
    by_name: dict[str, str] = {}
    for code, element in r.elements.items():
        if element.status in INACTIVE:
            continue
        names = {n.casefold() for n in (element.name, element.name_en, *element.synonyms)}
        for name in names:
            first = by_name.setdefault(name, code)
            if first != code:
                other = r.elements[first]
                yield _p(
                    "GOV022",
                    f"elements '{first}' ({other.owner}) and '{code}' ({element.owner}) "
                    f"are both called '{name}'",
                    element,
                )
                break


def dataset_columns(r: Registry, today: date) -> Iterator[Problem]:
    """GOV003, GOV004, GOV023, GOV016, GOV017, GOV002 (provider): what a dataset may collect."""
    for code, ds in r.datasets.items():
        if (hint := _missing(r, "departments", ds.provider)) is not None:
            yield _p("GOV002", f"dataset '{code}' has unknown provider department '{ds.provider}'{hint}", ds)
        names: set[str] = set()
        elements: set[str] = set()
        for column in ds.columns:
            element = r.elements.get(column.element)
            if element is None:  # quiet for GOV001 or a rejected declaration: its own error is the finding
                if (hint := _missing(r, "elements", column.element)) is not None:
                    yield _p(
                        "GOV003",
                        f"column '{column.name}' maps to unregistered element '{column.element}'{hint}",
                        column,
                        f"register '{column.element}' in elements/ or remove the column",
                    )
            elif element.status in INACTIVE:
                repl = f"; its replacement is '{element.replaced_by}'" if element.replaced_by else ""
                yield _p(
                    "GOV004",
                    f"column '{column.name}' maps to {element.status} element '{column.element}'{repl}",
                    column,
                )
            if column.name in names:
                yield _p("GOV023", f"dataset '{code}' declares source column '{column.name}' twice", column)
            if column.element in elements:
                yield _p("GOV023", f"dataset '{code}' maps element '{column.element}' twice", column)
            names.add(column.name)
            elements.add(column.element)
        for key in ds.key:
            if ds.column_for(key) is None:
                yield _p("GOV016", f"dataset '{code}' key '{key}' is not one of its columns", ds)
        if ds.security is not None:
            effective = r.dataset_security(ds)
            if effective != ds.security:
                yield _p(
                    "GOV017",
                    f"dataset '{code}' declares security '{ds.security}' but holds '{effective}' items",
                    ds,
                )
        yield from _sharing_problems(
            f"dataset '{code}'", ds.sharing, ds.sharing_condition, ds.legal_basis, ds
        )
        for related in ds.related:
            if (hint := _missing(r, "datasets", related)) is not None:
                yield _p("GOV002", f"dataset '{code}' relates to unknown dataset '{related}'{hint}", ds)


def basic_items(r: Registry, today: date) -> Iterator[Problem]:
    """GOV012: basic information items of basic resources are shared unconditionally."""
    for code, ds in r.datasets.items():
        if ds.classification != ResourceClass.BASIC:
            continue
        for column in ds.columns:
            element = r.elements.get(column.element)
            if column.basic and element is not None and element.sharing != SharingType.UNCONDITIONAL:
                yield _p(
                    "GOV012",
                    f"column '{column.name}' is a basic item of basic resource '{code}' "
                    f"but element '{element.code}' is {element.sharing}",
                    column,
                )


def one_source(r: Registry, today: date) -> Iterator[Problem]:
    """GOV006 duplicate collection, GOV007 a replica without a valid agreement."""
    for code, ds in r.datasets.items():
        for column in ds.columns:
            element = r.elements.get(column.element)
            if element is None or element.owner == ds.provider:
                if column.replica is not None and element is not None:
                    yield _p(
                        "GOV007",
                        f"column '{column.name}' of '{code}' is declared a replica, but "
                        f"'{ds.provider}' owns '{element.code}' itself",
                        column,
                        "remove 'replica': the owner's own collection is the source",
                    )
                continue
            if column.replica is None:
                yield _p(
                    "GOV006",
                    f"dataset '{code}' of '{ds.provider}' collects '{element.code}', "
                    f"owned by '{element.owner}', without declaring a replica",
                    column,
                )
                continue
            found = _replica_problem(r, ds, element, column.replica, today)
            if found:
                problem, dated = found
                message = f"column '{column.name}' of '{code}': {problem}"
                yield _p("GOV007", message, column, dated=dated, stops=(code,))


def _replica_problem(
    r: Registry, ds: Dataset, element: Element, code: str, today: date
) -> tuple[str, bool] | None:
    """What is wrong with a replica's agreement, and whether only the day makes it wrong."""
    agreement = r.agreements.get(code)
    if agreement is None:
        return f"replica names unknown agreement '{code}'" + r.did_you_mean("agreements", code), False
    if agreement.consumer != ds.provider:
        return f"agreement '{code}' is for '{agreement.consumer}', not '{ds.provider}'", False
    if not _grants(r, agreement.elements, agreement.datasets, element.code):
        return f"agreement '{code}' does not grant '{element.code}'", False
    if not agreement.is_valid_on(today):
        return (
            f"agreement '{code}' is {agreement.status}, valid {agreement.valid_from}–"
            f"{agreement.valid_to or '…'}, not valid on {today}",
            _in_force(agreement, None),
        )
    return None


def _grants(r: Registry, elements: tuple[str, ...], datasets: tuple[str, ...], element: str) -> bool:
    if element in elements:
        return True
    return any(d in r.datasets and r.datasets[d].column_for(element) for d in datasets)


def provider_mismatches(r: Registry, agreement: Agreement) -> list[tuple[str, str]]:
    """GOV032: what ``agreement`` grants that its provider does not own, with the real owner.

    An element is its owner's; a dataset its provider's; a view its owner's. An agreement without
    a provider (a request spanning several owners) or naming an unknown one (GOV002) is not judged
    here; nor are unknown grants (GOV002).
    """
    provider = agreement.provider
    if provider is None or provider not in r.departments:
        return []
    found: list[tuple[str, str]] = []
    for code in agreement.elements:
        element = r.elements.get(code)
        if element is not None and element.owner != provider:
            found.append((f"element '{code}'", element.owner))
    for code in agreement.datasets:
        dataset, view = r.datasets.get(code), r.views.get(code)
        if dataset is not None and dataset.provider != provider:
            found.append((f"dataset '{code}'", dataset.provider))
        elif dataset is None and view is not None and view.owner != provider:
            found.append((f"view '{code}'", view.owner))
    return found


def agreements(r: Registry, today: date) -> Iterator[Problem]:
    """GOV002 references, GOV009 not-shared grants, GOV015 terms, GOV024 expired agreements,
    GOV032 a provider that does not own what it grants."""
    for code, agr in r.agreements.items():
        for role, dept in (("consumer", agr.consumer), ("provider", agr.provider)):
            if dept is not None and (hint := _missing(r, "departments", dept)) is not None:
                yield _p("GOV002", f"agreement '{code}' names unknown {role} department '{dept}'{hint}", agr)
        if not agr.elements and not agr.datasets:
            yield _p("GOV002", f"agreement '{code}' grants nothing: list elements or datasets", agr)
        for granted, owner in provider_mismatches(r, agr):
            yield _p(
                "GOV032",
                f"agreement '{code}' names '{agr.provider}' as provider of {granted}, owned by '{owner}'",
                agr,
            )
        for element_code in agr.elements:
            element = r.elements.get(element_code)
            if element is None:  # quiet for GOV001 or a rejected declaration: its own error is the finding
                if (hint := _missing(r, "elements", element_code)) is not None:
                    yield _p(
                        "GOV002", f"agreement '{code}' names unknown element '{element_code}'{hint}", agr
                    )
            elif element.sharing == SharingType.NOT_SHARED:
                yield _p(
                    "GOV009",
                    f"agreement '{code}' grants '{element_code}', which is not shared "
                    f"({element.legal_basis})",
                    agr,
                )
        for dataset_code in agr.datasets:
            dataset = r.datasets.get(dataset_code)
            if dataset is None:  # a view may be granted too (checked by exposure())
                hint = None if dataset_code in r.views else _missing(r, "datasets", dataset_code)
                if hint is not None:
                    yield _p(
                        "GOV002", f"agreement '{code}' names unknown dataset '{dataset_code}'{hint}", agr
                    )
            elif dataset.sharing == SharingType.NOT_SHARED:  # views are checked by exposure()
                yield _p(
                    "GOV009", f"agreement '{code}' grants dataset '{dataset_code}', which is not shared", agr
                )
        if agr.valid_to is not None and agr.valid_to < agr.valid_from:
            yield _p(
                "GOV015", f"agreement '{code}' ends ({agr.valid_to}) before it starts ({agr.valid_from})", agr
            )
        if agr.status == AgreementStatus.APPROVED:
            if not agr.approver:
                yield _p("GOV015", f"agreement '{code}' is approved but names no approver", agr)
            if not agr.is_valid_on(today):
                yield _p(
                    "GOV024",
                    f"agreement '{code}' is approved but not valid on {today} "
                    f"({agr.valid_from}–{agr.valid_to or '…'})",
                    agr,
                    dated=True,
                )
            elif agr.valid_to is not None and agr.valid_to - today <= EXPIRES_SOON:
                left = (agr.valid_to - today).days
                yield _p(
                    "GOV033",
                    f"agreement '{code}' ends on {agr.valid_to}, "
                    + ("today" if not left else f"in {left} day{'s' if left > 1 else ''}")
                    + f" ('{agr.consumer}' uses it for {', '.join((*agr.elements, *agr.datasets))})",
                    agr,
                    dated=True,
                )


def services(r: Registry, today: date) -> Iterator[Problem]:
    """GOV002 references, GOV020 asking applicants for shared data, GOV029 ungranted sharing."""
    for code, svc in r.services.items():
        if (hint := _missing(r, "departments", svc.department)) is not None:
            yield _p("GOV002", f"service '{code}' names unknown department '{svc.department}'{hint}", svc)
        for item in svc.elements:
            element = r.elements.get(item.element)
            if element is None:  # quiet for GOV001 or a rejected declaration: its own error is the finding
                if (hint := _missing(r, "elements", item.element)) is not None:
                    yield _p("GOV002", f"service '{code}' needs unknown element '{item.element}'{hint}", item)
                continue
            if item.agreement is not None and (hint := _missing(r, "agreements", item.agreement)) is not None:
                yield _p("GOV002", f"service '{code}' names unknown agreement '{item.agreement}'{hint}", item)
            granted = _service_may_share(r, svc.department, element, today)
            held = bool(r.providers.get(element.code))
            # The owner's own service is where the element is first collected: the one source.
            originates = element.owner == svc.department
            if item.source == "applicant" and held and granted and not originates:
                yield _p(
                    "GOV020",
                    f"service '{code}' asks the applicant for '{element.code}', which "
                    "the sharing platform already holds",
                    item,
                )
            if item.source == "sharing" and not granted:
                yield _p(
                    "GOV029",
                    f"service '{code}' of '{svc.department}' takes '{element.code}' "
                    f"({element.sharing}) from sharing without a grant",
                    item,
                    dated=_service_may_share(r, svc.department, element, None),
                )


def _service_may_share(r: Registry, department: str, element: Element, today: date | None) -> bool:
    """Whether ``department`` may use ``element`` on ``today`` (None: on some day)."""
    if element.owner == department or element.sharing == SharingType.UNCONDITIONAL:
        return True
    if element.sharing == SharingType.NOT_SHARED:
        return False
    return any(
        agr.consumer == department
        and _in_force(agr, today)
        and _grants(r, agr.elements, agr.datasets, element.code)
        for agr in r.agreements.values()
    )


def queries(r: Registry, today: date) -> Iterator[Problem]:
    """GOV002: views and indicators are owned by existing departments."""
    for section in ("views", "indicators"):
        for code, q in r.section(section).items():
            owner = q.owner  # type: ignore[attr-defined]
            if (hint := _missing(r, "departments", owner)) is not None:
                yield _p("GOV002", f"{q.kind} '{code}' has unknown owner '{owner}'{hint}", q)  # type: ignore[attr-defined]


def orphans(r: Registry, today: date) -> Iterator[Problem]:
    """GOV021 elements nobody collects; GOV027 elements in use that are not yet agreed."""
    for code, element in r.elements.items():
        if element.status in INACTIVE:
            continue
        if code not in r.providers:
            yield _p("GOV021", f"element '{code}' is registered but no dataset collects it", element)
        elif element.status in NOT_YET_AGREED:
            yield _p("GOV027", f"element '{code}' is collected but still {element.status}", element)


def exposure(r: Registry, today: date) -> Iterator[Problem]:
    """GOV030 views or agreements exposing data without grants; GOV031 declassification misuse;
    GOV016 a view key that is not an output column.

    Lineage is parsed from the views' SQL; only value-carrying edges count (indirect ones do not).
    An agreement granting a view is checked on every day of its term, not only today: an exposure
    it would make is an error from the day it is declared, not from the day it begins.

    It fails closed: indicators are checked like views; SQL that does not parse is GOV038 (what
    cannot be read cannot be checked); a column whose sources are not all resolved is GOV039 (a
    warning) and carries every element of every table its statement reads (:mod:`lineage.propagate`).
    """
    if not r.views and not r.indicators:
        return
    from lineage.propagate import Propagation
    from lineage.views import RegistryLineage

    lineage = RegistryLineage(r)
    for query in lineage.queries.values():
        spec = r.views[query.code] if query.kind == "view" else r.indicators[query.code]
        for statement in query.statements:
            where = f" at line {statement.line}, column {statement.col}" if statement.line else ""
            if statement.status == "failed":
                yield _p(
                    "GOV038",
                    f"{query.kind} '{query.code}': statement {statement.index + 1} does not parse{where}: "
                    f"{statement.reason}",
                    spec,
                )
            elif statement.status == "partial":
                columns = ", ".join(statement.unresolved) or "no output column"
                yield _p(
                    "GOV039",
                    f"{query.kind} '{query.code}': lineage only partly resolved ({statement.reason}); "
                    f"columns taking the strictest classification of {', '.join(statement.sources) or '?'}: "
                    f"{columns}",
                    spec,
                )
    for code, view in r.views.items():
        outputs = lineage.schema.get(code, [])
        for column in view.key:
            if outputs and column not in outputs:
                yield _p(
                    "GOV016",
                    f"view '{code}' key '{column}' is not one of its output columns ({', '.join(outputs)})",
                    view,
                )
    propagation = Propagation(r, lineage)
    for query in lineage.queries.values():
        undeclared = sorted(propagation.undeclared.get(query.code, ()))
        if undeclared:
            yield _p(
                "GOV039",
                f"{query.kind} '{query.code}' reads what the registry does not declare "
                f"({', '.join(undeclared[:5])}): its columns take the strictest classification",
                r.views[query.code] if query.kind == "view" else r.indicators[query.code],
            )
    for problem in propagation.problems:
        yield _p("GOV031", f"view '{problem.view}': {problem.message}", r.views[problem.view])
    for code, view in r.views.items():
        label = f"view '{code}' of '{view.owner}'"
        yield from _exposed(r, today, propagation, code, view.owner, label, view, stops=(code,))
    for code, indicator in r.indicators.items():
        label = f"indicator '{code}' of '{indicator.owner}'"
        yield from _exposed(r, today, propagation, code, indicator.owner, label, indicator, stops=(code,))
    for code, agr in r.agreements.items():
        for granted in agr.datasets:
            if granted in r.views and _in_force(agr, None):
                yield from _exposed(
                    r,
                    today,
                    propagation,
                    granted,
                    agr.consumer,
                    f"agreement '{code}' granting view '{granted}' to '{agr.consumer}'",
                    agr,
                    in_force=agr.is_valid_on(today),
                )


def _exposed(
    r: Registry,
    today: date,
    propagation: Any,
    view: str,
    department: str,
    label: str,
    where: Spec,
    *,
    stops: tuple[str, ...] = (),
    in_force: bool = True,
) -> Iterator[Problem]:
    """GOV030 for each element ``view`` carries that ``department`` has no grant for today.

    Dated when a grant exists on some other day; then reported only while the exposing grant
    (``in_force``) is in force. Undated (no grant on any day) whatever the day.
    """
    reported: set[str] = set()
    for column, classification in propagation.view_columns(view):
        for element_code in sorted(classification.elements - reported):
            element = r.elements.get(element_code)
            if element is None or _service_may_share(r, department, element, today):
                continue
            dated = _service_may_share(r, department, element, None)
            if dated and not in_force:
                continue
            reported.add(element_code)
            path = next(
                (
                    p
                    for p in classification.paths
                    if p.startswith(
                        tuple(f"{ds}.{element_code} " for ds in r.providers.get(element_code, ()))
                    )
                ),
                f"{element_code} -> {view}.{column}",
            )
            yield _p(
                "GOV030",
                f"{label} exposes '{element_code}' ({element.sharing}, owner '{element.owner}') "
                f"without a grant: {path}",
                where,
                dated=dated,
                stops=stops,
            )


RULE_CHECKS: tuple[Rule, ...] = (
    identifiers,
    departments,
    center,
    element_ownership,
    element_sharing,
    element_status,
    value_domains,
    code_lists,
    duplicate_elements,
    dataset_columns,
    basic_items,
    one_source,
    agreements,
    services,
    queries,
    orphans,
    exposure,
)


def check_rules(registry: Registry, today: date | None = None) -> list[Problem]:
    """Run every governance rule; returns errors and warnings, errors first."""
    day = today or date.today()
    return sort_problems(p for check in RULE_CHECKS for p in check(registry, day))


def date_stops(registry: Registry, today: date | None = None) -> dict[str, tuple[Problem, ...]]:
    """Dataset, view or indicator code → the date-driven errors that stop its asset on ``today``."""
    stops: dict[str, list[Problem]] = {}
    for problem in check_rules(registry, today):
        if problem.is_error and problem.dated:
            for code in problem.stops:
                stops.setdefault(code, []).append(problem)
    return {code: tuple(found) for code, found in stops.items()}
