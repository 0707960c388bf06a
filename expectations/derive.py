"""Standards drive checks: an element's value domain becomes expectations on every column using it.

Nobody writes these per dataset. Each derived expectation carries in ``meta["govreg"]`` the
element and the rule it comes from, and a stable key, so results can be followed over time.

| rule | from | expectation | severity |
| --- | --- | --- | --- |
| required | ``required`` element, key column | not null | critical |
| unique | the dataset's ``key`` | values (or compound values) unique | critical |
| check_digit | ``domain.check_digit`` | ``expect_column_values_to_have_valid_check_digit`` | critical |
| codes | ``domain.codes`` / ``code_list`` (valid today, or on the row's ``as_of``) | in set | warning |
| pattern | ``domain.pattern`` | match regex | warning |
| range | ``domain.min`` / ``max`` | between | warning |
| length | ``domain.length`` / ``min_length`` / ``max_length`` | value lengths | warning |
| date_format | ``domain.date_format`` on a text element | match strftime format | warning |

Critical standards tolerate ``CRITICAL_MOSTLY`` (99 %) valid values before they fail: a few
bad rows are counted and reported, a broken extract blocks what is built on it.
"""

from __future__ import annotations

from datetime import date
from typing import Any

import great_expectations.expectations as gxe
from great_expectations.expectations.expectation import FailureSeverity

from expectations.custom import (
    ExpectColumnValuesToBeValidCodesOnDate,
    ExpectColumnValuesToHaveValidCheckDigit,
)
from registry.home import Registry
from registry.model import Dataset, Element

CRITICAL_MOSTLY = 0.99
CRITICAL, WARNING = FailureSeverity.CRITICAL, FailureSeverity.WARNING


def _meta(key: str, rule: str, element: str | None, columns: list[str]) -> dict[str, Any]:
    return {
        "govreg": {"key": key, "rule": rule, "element": element, "columns": columns, "source": "standard"}
    }


def allowed_codes(registry: Registry, element: Element, today: date) -> list[str] | None:
    domain = element.domain
    if domain.codes is not None:
        return list(domain.codes)
    if domain.code_list and domain.code_list in registry.codelists:
        values = registry.codelists[domain.code_list].values
        return [v.value for v in values if v.valid_on(today)]
    return None


def _iso(day: date | None) -> str | None:
    return day.isoformat() if day is not None else None


def dated_codes(registry: Registry, element: Element) -> tuple[list[str], list[list[str | None]]] | None:
    """A code list as (codes valid on every day, ``[code, from, to]`` periods of the others)."""
    codelist = registry.codelists.get(element.domain.code_list or "")
    if element.domain.codes is not None or codelist is None:
        return None
    always = sorted({v.value for v in codelist.values if v.valid_from is None and v.valid_to is None})
    periods = [
        [v.value, _iso(v.valid_from), _iso(v.valid_to)] for v in codelist.values if v.value not in always
    ]
    return always, periods


def element_expectations(
    registry: Registry, element: Element, column: str, today: date, as_of: str | None = None
) -> list[gxe.Expectation]:
    """The expectations an element's value domain implies for one column carrying it.

    ``as_of``: the warehouse column of the row's date; its code list is then checked as valid on
    that date (a row without one: on ``today``), not on ``today``.
    """
    d = element.domain
    out: list[gxe.Expectation] = []

    def add(rule: str, expectation_cls: Any, severity: FailureSeverity = WARNING, **kwargs: Any) -> None:
        if severity == CRITICAL:
            kwargs.setdefault("mostly", CRITICAL_MOSTLY)
        meta = _meta(f"{rule}:{column}", rule, element.code, [column])
        out.append(expectation_cls(column=column, severity=severity, meta=meta, **kwargs))

    if d.check_digit is not None:
        add("check_digit", ExpectColumnValuesToHaveValidCheckDigit, CRITICAL, scheme=str(d.check_digit))
    codes = allowed_codes(registry, element, today)
    dated = dated_codes(registry, element) if as_of is not None else None
    if dated is not None:
        always, periods = dated
        add(
            "codes",
            ExpectColumnValuesToBeValidCodesOnDate,
            as_of=as_of,
            always=always,
            periods=periods,
            today=today.isoformat(),
        )
    elif codes is not None:
        add("codes", gxe.ExpectColumnValuesToBeInSet, value_set=codes)
    if d.pattern is not None and element.type.is_text:
        add("pattern", gxe.ExpectColumnValuesToMatchRegex, regex=d.pattern)
    if (d.min is not None or d.max is not None) and element.type.is_numeric:
        add("range", gxe.ExpectColumnValuesToBeBetween, min_value=d.min, max_value=d.max)
    if d.length is not None:
        add("length", gxe.ExpectColumnValueLengthsToEqual, value=d.length)
    elif d.min_length is not None or d.max_length is not None:
        add("length", gxe.ExpectColumnValueLengthsToBeBetween, min_value=d.min_length, max_value=d.max_length)
    if d.date_format is not None and element.type.is_text:
        add("date_format", gxe.ExpectColumnValuesToMatchStrftimeFormat, strftime_format=d.date_format)
    return out


def standards_for(registry: Registry, ds: Dataset, today: date | None = None) -> list[gxe.Expectation]:
    """Every expectation the registry's standards imply for a dataset's warehouse table."""
    day = today or date.today()
    out: list[gxe.Expectation] = []
    key_columns = [c.element for c in (ds.column_for(k) for k in ds.key) if c is not None]
    for index, column in enumerate(ds.columns):
        element = registry.elements.get(column.element)
        if element is None:
            continue
        if registry.column_required(ds, index):
            out.append(
                gxe.ExpectColumnValuesToNotBeNull(
                    column=column.element,
                    severity=CRITICAL,
                    mostly=CRITICAL_MOSTLY,
                    meta=_meta(f"required:{column.element}", "required", element.code, [column.element]),
                )
            )
        bound = ds.column_for(column.as_of) if column.as_of else None
        as_of = bound.element if bound is not None else None
        out.extend(element_expectations(registry, element, column.element, day, as_of))
    if len(key_columns) == 1:
        out.append(
            gxe.ExpectColumnValuesToBeUnique(
                column=key_columns[0],
                severity=CRITICAL,
                mostly=CRITICAL_MOSTLY,
                meta=_meta(f"unique:{key_columns[0]}", "unique", key_columns[0], key_columns),
            )
        )
    elif key_columns:
        out.append(
            gxe.ExpectCompoundColumnsToBeUnique(
                column_list=key_columns,
                severity=CRITICAL,
                mostly=CRITICAL_MOSTLY,
                meta=_meta(f"unique:{'+'.join(key_columns)}", "unique", None, key_columns),
            )
        )
    return out
