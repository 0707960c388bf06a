"""How the command line shows things to a person: values, times and tables.

``--json`` prints the data as it is; these functions are for the terminal only. A vocabulary
token is shown with its standard Chinese label (``conditional 有条件共享``), a boolean as yes/no,
a value domain and a steward as a sentence, not as JSON with nulls; a time in Asia/Shanghai with
its offset shown. Tables never break an identifier (a code, a column name) across lines: those
columns do not wrap, and when the terminal is too narrow for all of them at once, each row is
printed as a block of ``field: value`` lines instead.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from enum import StrEnum
from functools import cache
from typing import Any
from zoneinfo import ZoneInfo

from cli.common import console, escape, new_table
from registry.vocab import (
    LABELS,
    AgreementStatus,
    CheckDigit,
    OpenType,
    PersonalInfo,
    ResourceClass,
    SecurityLevel,
    ServiceSource,
    SharingMethod,
    SharingType,
    Status,
    UpdateCycle,
)

ZONE = ZoneInfo("Asia/Shanghai")
"""The city's time zone: every time is shown in it, with the offset."""

VOCABULARY: Mapping[str, type[StrEnum]] = {
    "security": SecurityLevel,
    "personal": PersonalInfo,
    "sharing": SharingType,
    "open": OpenType,
    "update_cycle": UpdateCycle,
    "status": Status,
    "classification": ResourceClass,
    "sharing_method": SharingMethod,
    "source": ServiceSource,
}
"""Fields whose values are vocabulary tokens, by field name (an agreement's ``status`` is looked
up in :class:`AgreementStatus` too)."""

TEXT_MIN_WIDTH = 12
"""The narrowest a folding column of a table gets (or its longest word, if shorter)."""

CHECK_DIGITS = {
    CheckDigit.GB32100: "GB 32100",
    CheckDigit.GB11714: "GB 11714",
    CheckDigit.GB11643: "GB 11643",
}


@cache
def chinese(enum: type[StrEnum], token: str) -> str | None:
    """The standard Chinese label of a vocabulary token: the first Chinese label the vocabulary
    lists for it.

    >>> chinese(SharingType, "conditional"), chinese(PersonalInfo, "none")
    ('有条件共享', '无')
    """
    for label, value in LABELS.get(enum, {}).items():
        if value == token and any("\u4e00" <= ch <= "\u9fff" for ch in label):
            return label
    return None


def token(field: str, value: str) -> str:
    """``value`` with its standard Chinese label when ``field`` holds a vocabulary token.

    >>> token("sharing", "conditional"), token("status", "approved"), token("name", "x")
    ('conditional 有条件共享', 'approved 已批准', 'x')
    """
    for enum in (VOCABULARY.get(field), AgreementStatus if field == "status" else None):
        if enum is not None and value in {str(m) for m in enum}:
            label = chinese(enum, value)
            return f"{value} {label}" if label else value
    return value


def domain(spec: Mapping[str, Any]) -> str:
    """A value domain as a person reads it.

    >>> domain({"pattern": "^[0-9]{6}$", "length": 6, "codes": None, "check_digit": "gb32100"})
    'pattern ^[0-9]{6}$; length 6; check character GB 32100'
    >>> domain({"min": 0, "max": None, "min_length": 2, "max_length": 50, "codes": ["a", "b"]})
    'one of a, b; at least 0; 2 to 50 characters'
    """
    parts: list[str] = []
    if spec.get("codes"):
        parts.append("one of " + ", ".join(str(c) for c in spec["codes"]))
    if spec.get("code_list"):
        parts.append(f"a code of the list '{spec['code_list']}'")
    if spec.get("pattern"):
        parts.append(f"pattern {spec['pattern']}")
    low, high = spec.get("min"), spec.get("max")
    if low is not None and high is not None:
        parts.append(f"from {low} to {high}")
    elif low is not None:
        parts.append(f"at least {low}")
    elif high is not None:
        parts.append(f"at most {high}")
    if spec.get("length") is not None:
        parts.append(f"length {spec['length']}")
    shortest, longest = spec.get("min_length"), spec.get("max_length")
    if shortest is not None and longest is not None:
        parts.append(f"{shortest} to {longest} characters")
    elif shortest is not None:
        parts.append(f"at least {shortest} characters")
    elif longest is not None:
        parts.append(f"at most {longest} characters")
    if spec.get("date_format"):
        parts.append(f"dates as {spec['date_format']}")
    if spec.get("check_digit"):
        digit = spec["check_digit"]
        parts.append(f"check character {CHECK_DIGITS.get(digit, digit)}")
    return "; ".join(parts) or "any value of its type"


def person(spec: Mapping[str, Any]) -> str:
    """A steward or contact: ``name <email>, phone``, leaving out what is not known.

    >>> person({"name": "王磊", "email": "wang.lei@tax.example", "phone": None})
    '王磊 <wang.lei@tax.example>'
    """
    text = str(spec.get("name") or "")
    if spec.get("email"):
        text += f" <{spec['email']}>"
    if spec.get("phone"):
        text += f", {spec['phone']}"
    return text.strip()


def when(value: str | datetime | None, *, offset: bool = True) -> str:
    """A stored time (ISO 8601; naive means UTC) in Asia/Shanghai, to the second, zone shown
    (leave it out with ``offset=False`` where a table's title names the zone).

    >>> when("2026-12-08T04:40:56.834955Z"), when("2026-12-08T04:40:56Z", offset=False)
    ('2026-12-08 12:40:56 +08:00', '2026-12-08 12:40:56')
    >>> when(None)
    ''
    """
    if value is None or value == "":
        return ""
    moment = (
        value if isinstance(value, datetime) else datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    )
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    local = moment.astimezone(ZONE)
    zone = local.strftime("%z")
    return f"{local:%Y-%m-%d %H:%M:%S}" + (f" {zone[:3]}:{zone[3:]}" if offset else "")


def human(field: str, value: Any) -> str:
    """Any stored value of ``field`` as text for a person.

    >>> human("required", True), human("synonyms", ["社会信用代码", "统一代码"]), human("x", None)
    ('yes', '社会信用代码, 统一代码', '')
    >>> human("stewards", [{"name": "王磊", "email": None, "phone": "023-1"}])
    '王磊, 023-1'
    """
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if field == "domain" and isinstance(value, Mapping):
        return domain(value)
    if field == "stewards":
        return "; ".join(person(p) if isinstance(p, Mapping) else str(p) for p in value)
    if isinstance(value, Mapping):
        return "; ".join(f"{k} {human(str(k), v)}" for k, v in value.items() if v not in (None, "", [], {}))
    if isinstance(value, list | tuple):
        return ", ".join(human(field, v) for v in value)
    return token(field, str(value))


def rows(
    title: str,
    headers: Sequence[str],
    data: Iterable[Sequence[Any]],
    *,
    identifiers: Iterable[str] = (),
    numbers: Iterable[str] = (),
    markup: bool = False,
) -> None:
    """Print ``data`` as a table whose ``identifiers`` columns never wrap; other columns fold,
    never below a readable width.

    When the terminal is too narrow for that table (rich would crop it), every row is printed as
    a block of ``header value`` lines instead, so no code is ever cut in two. With ``markup``,
    values are rich markup the caller escaped (identifiers must be plain).
    """
    from rich.cells import cell_len
    from rich.text import Text

    data = [["" if v is None else str(v) for v in row] for row in data]
    idents, nums = set(identifiers), set(numbers)
    table = new_table(title=title)

    def plain(value: str) -> str:
        return Text.from_markup(value).plain if markup else value

    for index, header in enumerate(headers):
        values = [plain(r[index]) for r in data]
        if header in idents:  # the whole identifier on one line (cell_len: CJK is two cells wide)
            least = max([cell_len(header), *(cell_len(line) for v in values for line in v.splitlines())])
            table.add_column(header, no_wrap=True, min_width=least, overflow="fold")
        else:  # a word of the header or a value, at most TEXT_MIN_WIDTH
            words = [cell_len(w) for text in (header, *values) for w in text.split()] or [1]
            table.add_column(
                header,
                overflow="fold",
                min_width=min(max(words), TEXT_MIN_WIDTH),
                justify="right" if header in nums else "left",
            )
    for row in data:
        table.add_row(*(v if markup else escape(v) for v in row))
    with console.capture() as captured:  # laid out once, at the terminal's width
        console.print(table)
    text = captured.get()
    closing = [line for line in Text.from_ansi(text).plain.splitlines() if line.strip()]
    if closing and closing[-1].rstrip().endswith("┘"):  # rich crops a table it cannot shrink
        console.file.write(text)
        return
    console.print(f"[bold]{escape(title)}[/]")
    label = max(cell_len(h) for h in headers)  # cells: a Chinese header is twice as wide
    for row in data:
        for header, value in zip(headers, row, strict=True):
            if value:
                pad = " " * (label - cell_len(header))
                console.print(
                    f"  {escape(header)}{pad}  {value if markup else escape(value)}", soft_wrap=True
                )
        console.print()


def fields(title: str, values: Iterable[tuple[str, Any]]) -> None:
    """An entity's fields as a two-column table (field, value), values rendered by :func:`human`
    and empty ones left out."""
    table = new_table(title=title, show_header=False)
    table.add_column("field", style="bold", no_wrap=True)
    table.add_column("value", overflow="fold")
    for key, value in values:
        text = human(key, value)
        if text:
            table.add_row(escape(key), escape(text))
    console.print(table)


def utc_bound(text: str | None, *, end: bool = False) -> str | None:
    """A time a person typed (a date, or a date and time, in Asia/Shanghai unless it names its
    zone) as the UTC ISO text the audit log stores; a date alone means its first moment, or with
    ``end`` its last.

    >>> utc_bound("2026-12-08"), utc_bound("2026-12-08", end=True)
    ('2026-12-07T16:00:00.000000Z', '2026-12-08T15:59:59.999999Z')
    >>> utc_bound("2026-12-08T09:30:00Z")
    '2026-12-08T09:30:00.000000Z'
    """
    if text is None:
        return None
    from datetime import timedelta

    moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    if len(text.strip()) == 10 and end:
        moment += timedelta(days=1, microseconds=-1)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=ZONE)
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
