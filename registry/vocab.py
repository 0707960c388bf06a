"""Controlled vocabularies, with the Chinese labels of the government standards.

Each vocabulary is a ``StrEnum`` whose value is the canonical English token stored and exported.
YAML may use the token, the Chinese label, or a city's own label configured in ``registry.yaml``
(for example Shanghai's 授权共享 for conditional sharing).

>>> normalize(SharingType, "有条件共享")
<SharingType.CONDITIONAL: 'conditional'>
>>> normalize(SharingType, "授权共享", {"授权共享": "conditional"})
<SharingType.CONDITIONAL: 'conditional'>
>>> SecurityLevel.CORE.gbt43697
'core data (核心数据)'
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping
from enum import StrEnum
from typing import TypeVar


class SecurityLevel(StrEnum):
    """Security level, ordered from least to most restricted."""

    PUBLIC = "public"
    INTERNAL = "internal"
    SENSITIVE = "sensitive"
    CORE = "core"

    @property
    def rank(self) -> int:
        return list(type(self)).index(self)

    @property
    def gbt43697(self) -> str:
        """The GB/T 43697-2024 grade this level falls under."""
        return _GRADE[self]


class PersonalInfo(StrEnum):
    """Personal-information flag (PIPL), ordered from least to most restricted."""

    NONE = "none"
    PERSONAL = "personal"
    SENSITIVE_PERSONAL = "sensitive_personal"

    @property
    def rank(self) -> int:
        return list(type(self)).index(self)


class SharingType(StrEnum):
    """Sharing type (国发〔2016〕51号), ordered from least to most restricted."""

    UNCONDITIONAL = "unconditional"
    CONDITIONAL = "conditional"
    NOT_SHARED = "not_shared"

    @property
    def rank(self) -> int:
        return list(type(self)).index(self)


class OpenType(StrEnum):
    """Whether the data is opened to society."""

    OPEN = "open"
    CONDITIONAL = "conditional"
    NOT_OPEN = "not_open"


class UpdateCycle(StrEnum):
    REALTIME = "realtime"
    DAILY = "daily"
    WEEKLY = "weekly"
    MONTHLY = "monthly"
    QUARTERLY = "quarterly"
    HALF_YEARLY = "half_yearly"
    YEARLY = "yearly"
    IRREGULAR = "irregular"


class Status(StrEnum):
    """ISO/IEC 11179 registration status ladder.

    >>> Status.RETIRED.may_become(Status.STANDARD)
    False
    >>> Status.CANDIDATE.may_become(Status.QUALIFIED), Status.STANDARD.may_become(Status.RETIRED)
    (True, True)
    """

    INCOMPLETE = "incomplete"
    CANDIDATE = "candidate"
    RECORDED = "recorded"
    QUALIFIED = "qualified"
    STANDARD = "standard"
    PREFERRED = "preferred"
    SUPERSEDED = "superseded"
    RETIRED = "retired"

    def may_become(self, new: Status) -> bool:
        """Whether an element registered at this status may be moved to ``new`` (see
        :data:`STATUS_MOVES`)."""
        return new == self or new in STATUS_MOVES[self]


_LADDER = (Status.INCOMPLETE, Status.CANDIDATE, Status.RECORDED, Status.QUALIFIED, Status.STANDARD)
STATUS_MOVES: dict[Status, frozenset[Status]] = {
    **{
        step: frozenset((*_LADDER[i + 1 :], Status.PREFERRED, Status.SUPERSEDED, Status.RETIRED))
        for i, step in enumerate(_LADDER)
    },
    Status.PREFERRED: frozenset({Status.STANDARD, Status.SUPERSEDED, Status.RETIRED}),
    Status.SUPERSEDED: frozenset({Status.RETIRED, Status.CANDIDATE}),
    Status.RETIRED: frozenset({Status.CANDIDATE}),
}
"""The allowed moves of the ISO/IEC 11179 registration ladder: from a status to the statuses it
may take next. Up the ladder (incomplete → candidate → recorded → qualified → standard →
preferred), skipping steps allowed; never down it, except a preferred standard losing its
preference (preferred → standard, when another is preferred); from any active status to
superseded (naming its replacement, GOV013) or retired; superseded to retired; and out of either
only back to the bottom, as a candidate to be registered again. Anything else is GOV035."""


class DataType(StrEnum):
    """Data item types of the catalogue guide (C, N, Y, D, T, L, M, G, B, I, F)."""

    STRING = "string"
    NUMERIC = "numeric"
    CURRENCY = "currency"
    DATE = "date"
    DATETIME = "datetime"
    BOOLEAN = "boolean"
    MEMO = "memo"
    BINARY = "binary"
    DOUBLE = "double"
    INTEGER = "integer"
    FLOAT = "float"

    @property
    def is_numeric(self) -> bool:
        return self in _NUMERIC

    @property
    def is_text(self) -> bool:
        return self in (DataType.STRING, DataType.MEMO)

    @property
    def duckdb_type(self) -> str:
        return _DUCKDB[self]


class ResourceClass(StrEnum):
    """Catalogue resource attribute: basic, thematic or departmental resource."""

    BASIC = "basic"
    THEMATIC = "thematic"
    DEPARTMENTAL = "departmental"


class ExtractFormat(StrEnum):
    CSV = "csv"
    EXCEL = "excel"
    PARQUET = "parquet"
    JSON = "json"


class Encoding(StrEnum):
    UTF8 = "utf-8"
    UTF8_SIG = "utf-8-sig"
    GBK = "gbk"
    GB18030 = "gb18030"


class SharingMethod(StrEnum):
    PLATFORM = "platform"
    DATABASE = "database"
    INTERFACE = "interface"
    FILE = "file"


class AgreementStatus(StrEnum):
    REQUESTED = "requested"
    APPROVED = "approved"
    REJECTED = "rejected"
    REVOKED = "revoked"
    EXPIRED = "expired"


class ServiceSource(StrEnum):
    """Where a government service gets an element: from the applicant or from sharing."""

    APPLICANT = "applicant"
    SHARING = "sharing"


class CheckDigit(StrEnum):
    GB32100 = "gb32100"  # unified social credit code
    GB11714 = "gb11714"  # organisation code
    GB11643 = "gb11643"  # resident identity card number


class Completion(StrEnum):
    """How ingestion knows an extract in a landing folder is complete (not still being written)."""

    SETTLE = "settle"  # unchanged (size and modification time) for the settle period
    MARKER = "marker"  # a completion marker ``<file>.done`` written beside it after the file


class OnCastError(StrEnum):
    """What ingestion does with a row whose value cannot be cast: fail the load or set it aside."""

    FAIL = "fail"
    REJECT = "reject"


_GRADE = {
    SecurityLevel.PUBLIC: "general data (一般数据)",
    SecurityLevel.INTERNAL: "general data (一般数据)",
    SecurityLevel.SENSITIVE: "important data (重要数据)",
    SecurityLevel.CORE: "core data (核心数据)",
}

_NUMERIC = frozenset({DataType.NUMERIC, DataType.CURRENCY, DataType.DOUBLE, DataType.INTEGER, DataType.FLOAT})

_DUCKDB = {
    DataType.STRING: "VARCHAR",
    DataType.NUMERIC: "DECIMAL(18,4)",
    DataType.CURRENCY: "DECIMAL(18,2)",
    DataType.DATE: "DATE",
    DataType.DATETIME: "TIMESTAMP",
    DataType.BOOLEAN: "BOOLEAN",
    DataType.MEMO: "VARCHAR",
    DataType.BINARY: "BLOB",
    DataType.DOUBLE: "DOUBLE",
    DataType.INTEGER: "BIGINT",
    DataType.FLOAT: "DOUBLE",
}

# Labels in Chinese (and the catalogue's one-letter type codes) accepted in declarations.
LABELS: dict[type[StrEnum], dict[str, str]] = {
    SecurityLevel: {"公开": "public", "内部": "internal", "敏感": "sensitive", "核心": "core"},
    PersonalInfo: {
        "无": "none",
        "非个人信息": "none",
        "个人信息": "personal",
        "敏感个人信息": "sensitive_personal",
    },
    SharingType: {"无条件共享": "unconditional", "有条件共享": "conditional", "不予共享": "not_shared"},
    OpenType: {"无条件开放": "open", "有条件开放": "conditional", "不予开放": "not_open"},
    UpdateCycle: {
        "实时": "realtime",
        "每日": "daily",
        "每周": "weekly",
        "每月": "monthly",
        "每季度": "quarterly",
        "每半年": "half_yearly",
        "每年": "yearly",
        "不定期": "irregular",
    },
    Status: {
        "不完整": "incomplete",
        "候选": "candidate",
        "已记录": "recorded",
        "合格": "qualified",
        "标准": "standard",
        "首选标准": "preferred",
        "被替代": "superseded",
        "废止": "retired",
    },
    DataType: {
        "c": "string",
        "n": "numeric",
        "y": "currency",
        "d": "date",
        "t": "datetime",
        "l": "boolean",
        "m": "memo",
        "g": "binary",
        "b": "double",
        "i": "integer",
        "f": "float",
        "字符型": "string",
        "数值型": "numeric",
        "货币型": "currency",
        "日期型": "date",
        "日期时间型": "datetime",
        "逻辑型": "boolean",
        "备注型": "memo",
        "通用型": "binary",
        "双精度型": "double",
        "整型": "integer",
        "浮点型": "float",
    },
    ResourceClass: {"基础": "basic", "主题": "thematic", "部门": "departmental"},
    ExtractFormat: {"xlsx": "excel", "xls": "excel"},
    Encoding: {"utf8": "utf-8", "utf-8-bom": "utf-8-sig", "utf8-bom": "utf-8-sig"},
    AgreementStatus: {
        "已申请": "requested",
        "已批准": "approved",
        "已驳回": "rejected",
        "已撤销": "revoked",
        "已过期": "expired",
    },
    ServiceSource: {"申请人": "applicant", "共享": "sharing"},
}

E = TypeVar("E", bound=StrEnum)


def did_you_mean(word: str, choices: Iterable[str]) -> str | None:
    """The closest of ``choices`` to a misspelt ``word`` (difflib), or None when none is close:
    the one rule every "did you mean" of govreg uses (keys, vocabulary values, references).

    >>> did_you_mean("ownr", ["owner", "provider", "code"])
    'owner'
    """
    found = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return found[0] if found else None


def normalize(enum: type[E], value: object, extra: Mapping[str, str] | None = None) -> E:
    """Map a token or label to the vocabulary, or raise ValueError naming what is allowed."""
    if isinstance(value, enum):
        return value
    if not isinstance(value, str):
        raise ValueError(f"expected one of {', '.join(enum)}, got {value!r}")
    text = value.strip()
    for candidate in (text, text.lower()):
        if extra and candidate in extra:
            return enum(extra[candidate])
        if candidate in LABELS.get(enum, {}):
            return enum(LABELS[enum][candidate])
        try:
            return enum(candidate)
        except ValueError:
            pass
    guess = did_you_mean(text.lower(), [str(a) for a in (*enum, *LABELS.get(enum, {}), *(extra or {}))])
    meant = ""
    if guess:  # name the token a label stands for: 'did you mean 有条件共享 (conditional)?'
        token = (extra or {}).get(guess) or LABELS.get(enum, {}).get(guess) or guess
        meant = f"; did you mean '{guess}'" + (f" ({token})" if token != guess else "") + "?"
    raise ValueError(f"expected one of {', '.join(enum)}, got {value!r}{meant}")


def strictest(values: list[E]) -> E | None:
    """The most restricted of ranked values (security, personal, sharing)."""
    return max(values, key=lambda v: v.rank) if values else None  # type: ignore[attr-defined]
