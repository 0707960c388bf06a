"""The registry's domain objects: typed, immutable, each carrying where it was declared.

Every entity is a frozen pydantic model; unknown keys are refused (``extra="forbid"``) so a typo
in YAML is an error, never a silently ignored field. Vocabulary fields accept the English token,
the Chinese label or a city-configured label (see :mod:`registry.vocab`).

>>> e = Element.model_validate({"code": "uscc", "name": "统一社会信用代码",
...     "name_en": "Unified social credit code", "owner": "market", "sharing": "无条件共享"})
>>> e.sharing, e.security
(<SharingType.UNCONDITIONAL: 'unconditional'>, <SecurityLevel.INTERNAL: 'internal'>)
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import date
from enum import StrEnum
from typing import Annotated, Any, ClassVar, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PrivateAttr,
    StringConstraints,
    ValidationInfo,
)
from pydantic_core import PydanticCustomError

from registry.errors import Location
from registry.vocab import (
    AgreementStatus,
    CheckDigit,
    Completion,
    DataType,
    Encoding,
    ExtractFormat,
    OnCastError,
    OpenType,
    PersonalInfo,
    ResourceClass,
    SecurityLevel,
    ServiceSource,
    SharingMethod,
    SharingType,
    Status,
    UpdateCycle,
    normalize,
)


def _labels(enum: type[StrEnum]) -> Callable[[object, ValidationInfo], Any]:
    """A validator accepting the token, the Chinese label or a label configured for the city."""

    def validate(value: object, info: ValidationInfo) -> Any:
        labels = (info.context or {}).get("labels", {}).get(enum.__name__)
        return normalize(enum, value, labels)

    return validate


Security = Annotated[SecurityLevel, BeforeValidator(_labels(SecurityLevel))]
Personal = Annotated[PersonalInfo, BeforeValidator(_labels(PersonalInfo))]
Sharing = Annotated[SharingType, BeforeValidator(_labels(SharingType))]
Open = Annotated[OpenType, BeforeValidator(_labels(OpenType))]
Cycle = Annotated[UpdateCycle, BeforeValidator(_labels(UpdateCycle))]
RegStatus = Annotated[Status, BeforeValidator(_labels(Status))]
Type = Annotated[DataType, BeforeValidator(_labels(DataType))]
ResClass = Annotated[ResourceClass, BeforeValidator(_labels(ResourceClass))]
Format = Annotated[ExtractFormat, BeforeValidator(_labels(ExtractFormat))]
Enc = Annotated[Encoding, BeforeValidator(_labels(Encoding))]
Method = Annotated[SharingMethod, BeforeValidator(_labels(SharingMethod))]
AgrStatus = Annotated[AgreementStatus, BeforeValidator(_labels(AgreementStatus))]
Source = Annotated[ServiceSource, BeforeValidator(_labels(ServiceSource))]
Check = Annotated[CheckDigit, BeforeValidator(_labels(CheckDigit))]
CastPolicy = Annotated[OnCastError, BeforeValidator(_labels(OnCastError))]

Text = Annotated[str, Field(min_length=1)]


def _one_owner(value: object) -> object:
    """An element has exactly one owner department (一数一源): a list of them is refused by name."""
    if isinstance(value, list | tuple | set):
        names = ", ".join(str(v) for v in value)
        raise PydanticCustomError(
            "one_owner",
            "an element has exactly one owner department, not {count} ({names}): name one owner and "
            "let the others read it through sharing agreements",
            {"count": len(value), "names": names},
        )
    return value


Owner = Annotated[str, BeforeValidator(_one_owner), Field(min_length=1)]


class Spec(BaseModel):
    """Base of every declared object: frozen, strict about keys, aware of its location."""

    model_config = ConfigDict(
        frozen=True, extra="forbid", str_strip_whitespace=True, coerce_numbers_to_str=True
    )
    _loc: Location = PrivateAttr(default_factory=Location)

    @property
    def loc(self) -> Location:
        return self._loc

    def located(self, loc: Location) -> Any:
        self._loc = loc
        return self

    def spec(self) -> dict[str, Any]:
        """The canonical JSON-ready form that the store keeps and ``plan`` compares."""
        return self.model_dump(mode="json")


class Named(Spec):
    code: Text
    name: Text
    name_en: Text


class Steward(Spec):
    name: Text
    email: str | None = None
    phone: str | None = None


class Department(Named):
    """A government body (部门). ``uscc`` is its own unified social credit code (starts ``11``)."""

    kind: ClassVar[str] = "department"
    short_name: str | None = None
    parent: str | None = None
    uscc: str | None = None
    team: str | None = None
    description: str = ""
    stewards: tuple[Steward, ...] = ()


def _year_only(end: bool) -> Callable[[object], object]:
    """Accept a year alone (``2011`` or ``"2011"``): from its first day, or to its last."""

    def validate(value: object) -> object:
        text = str(value).strip() if isinstance(value, int | str) and not isinstance(value, bool) else None
        if text is not None and len(text) == 4 and text.isdigit():
            return date(int(text), 12, 31) if end else date(int(text), 1, 1)
        if isinstance(value, str) and not value.strip():
            return None
        return value

    return validate


ValidFrom = Annotated[date | None, BeforeValidator(_year_only(end=False))]
ValidTo = Annotated[date | None, BeforeValidator(_year_only(end=True))]


class CodeValue(Spec):
    """One code of a list, valid from ``valid_from`` to ``valid_to`` (both days included; open
    when absent). A year alone is accepted: as ``valid_from`` it means 1 January, as ``valid_to``
    31 December. ``successor`` names the code that replaced it."""

    value: Text
    label: Text
    label_en: str | None = None
    valid_from: ValidFrom = None
    valid_to: ValidTo = None
    successor: str | None = None

    def valid_on(self, day: date) -> bool:
        return (self.valid_from is None or self.valid_from <= day) and (
            self.valid_to is None or day <= self.valid_to
        )


class CodeList(Named):
    """A code list (value domain by enumeration), e.g. GB/T 2260 division codes."""

    kind: ClassVar[str] = "codelist"
    description: str = ""
    source: str | None = None
    file: str | None = None
    values: tuple[CodeValue, ...] = ()


class ValueDomain(Spec):
    """The permitted values of an element: these become quality expectations everywhere."""

    pattern: str | None = None
    codes: tuple[str, ...] | None = None
    code_list: str | None = None
    min: float | None = None
    max: float | None = None
    length: int | None = Field(default=None, ge=1)
    min_length: int | None = Field(default=None, ge=0)
    max_length: int | None = Field(default=None, ge=1)
    date_format: str | None = None
    check_digit: Check | None = None

    @property
    def is_empty(self) -> bool:
        return all(v is None for v in self.model_dump().values())


class Element(Named):
    """A data element (数据元 / 信息项) with exactly one owner department."""

    kind: ClassVar[str] = "element"
    id: str | None = None
    synonyms: tuple[str, ...] = ()
    definition: str = ""
    object_class: str | None = None
    property_term: str | None = None
    type: Type = DataType.STRING
    unit: str | None = None
    domain: ValueDomain = ValueDomain()
    required: bool = False
    owner: Owner
    source_system: str | None = None
    security: Security = SecurityLevel.INTERNAL
    personal: Personal = PersonalInfo.NONE
    personal_category: str | None = None
    sharing: Sharing = SharingType.UNCONDITIONAL
    sharing_condition: str | None = None
    legal_basis: str | None = None
    open: Open = OpenType.NOT_OPEN
    update_cycle: Cycle = UpdateCycle.IRREGULAR
    status: RegStatus = Status.CANDIDATE
    replaced_by: str | None = None
    approved_on: date | None = None


class Column(Spec):
    """A column of an extract, mapped to the element it carries."""

    name: Text
    element: Text
    required: bool | None = None
    replica: str | None = None
    basic: bool = False
    as_of: str | None = None
    """A date column of the same dataset (source name or element): the column's code list is
    checked as valid on each record's date instead of on the day of the check."""
    description: str = ""


class Dataset(Named):
    """An information resource (信息资源) provided by one department as extracts."""

    kind: ClassVar[str] = "dataset"
    catalog_code: str | None = None
    catalog_class: str | None = None
    classification: ResClass = ResourceClass.DEPARTMENTAL
    provider: Text
    summary: str = ""
    source_system: str | None = None
    format: Format = ExtractFormat.CSV
    encoding: Enc = Encoding.UTF8
    delimiter: Annotated[str, StringConstraints(strip_whitespace=False, min_length=1, max_length=4)] = ","
    sheet: str | None = None
    landing: str | None = None
    file_pattern: str | None = None
    key: tuple[str, ...] = ()
    columns: tuple[Column, ...] = Field(min_length=1)
    security: Security | None = None
    sharing: Sharing | None = None
    sharing_condition: str | None = None
    legal_basis: str | None = None
    sharing_method: Method = SharingMethod.PLATFORM
    open: Open = OpenType.NOT_OPEN
    update_cycle: Cycle = UpdateCycle.IRREGULAR
    published: date | None = None
    related: tuple[str, ...] = ()
    on_cast_error: CastPolicy = OnCastError.REJECT
    completion: Completion | None = None
    """How a file is known to be complete; ``None``: the registry's (``settle`` by default)."""
    max_row_drop: float | None = Field(default=None, ge=0, le=1)
    """Largest share of rows a new extract may lose against the last good load (blocking);
    ``None``: the registry's default (``registry.yaml``'s ``max_row_drop``, 0.2)."""

    def column_for(self, name_or_element: str) -> Column | None:
        for column in self.columns:
            if name_or_element in (column.name, column.element):
                return column
        return None


class _Query(Named):
    owner: Text
    description: str = ""
    sql: str | None = None
    query: str | None = None
    dialect: str = "duckdb"


class Declassification(Spec):
    """An explicit, audited rule lowering a view column's level (aggregation or masking only).

    ``method`` names how the data changes, and the view's SQL must do exactly that
    (:mod:`lineage.masking`): ``aggregate`` (over groups that are not an identifier), ``mask``
    (govreg's ``govreg_mask``), ``prefix`` (``left(x, n)`` with n at most ``length``) or ``hash``
    (``sha256`` of the value with ``getvariable('<salt>')``). Without one, aggregation or
    ``govreg_mask``.
    """

    column: Text
    security: Security | None = None
    personal: Personal | None = None
    reason: Text
    method: Literal["aggregate", "mask", "prefix", "hash"] | None = None
    length: int | None = Field(default=None, ge=1)
    salt: str | None = None


class View(_Query):
    """A derived dataset defined by SQL over other datasets; lineage is parsed, never declared."""

    kind: ClassVar[str] = "view"
    declassify: tuple[Declassification, ...] = ()
    # output columns that identify a row ("one row per enterprise"): each build is checked for
    # nulls and duplicates in them before it replaces the live table (a blocking asset check)
    key: tuple[str, ...] = ()


class Indicator(_Query):
    """A named SQL metric that answers a question the center has set."""

    kind: ClassVar[str] = "indicator"
    question: str = ""
    unit: str | None = None


class Agreement(Spec):
    """A sharing agreement: a consumer department may use these elements for this purpose."""

    kind: ClassVar[str] = "agreement"
    code: Text
    name: str | None = None
    name_en: str | None = None
    consumer: Text
    provider: str | None = None
    elements: tuple[str, ...] = ()
    datasets: tuple[str, ...] = ()
    purpose: Text
    legal_basis: str | None = None
    method: Method = SharingMethod.PLATFORM
    approver: str | None = None
    approved_on: date | None = None
    valid_from: date
    valid_to: date | None = None
    status: AgrStatus = AgreementStatus.REQUESTED

    def is_valid_on(self, day: date) -> bool:
        return (
            self.status == AgreementStatus.APPROVED
            and self.valid_from <= day
            and (self.valid_to is None or day <= self.valid_to)
        )


class ServiceItem(Spec):
    element: Text
    source: Source = ServiceSource.APPLICANT
    agreement: str | None = None


class Service(Named):
    """A government service (政务服务事项) and the elements it needs."""

    kind: ClassVar[str] = "service"
    department: Text
    description: str = ""
    elements: tuple[ServiceItem, ...] = ()


class Settings(Spec):
    """``registry.yaml``: the registry's own name and the city's labels for vocabularies."""

    name: Text = "govreg"
    name_en: str | None = None
    division: str | None = None
    center: str | None = None
    """The big-data center's department code: only its staff may hold center-admin tokens (none
    can be issued while it is unset; GOV040 when it names no department)."""
    sharing_labels: dict[str, str] = {}
    open_labels: dict[str, str] = {}
    security_labels: dict[str, str] = {}
    max_row_drop: float = Field(default=0.2, ge=0, le=1)
    """Default share of rows a dataset's new extract may lose against its last good load."""
    completion: Completion = Completion.SETTLE
    settle_seconds: float = Field(default=5.0, ge=0, le=3600)
    """``settle``: a file is read once unchanged this long, and only if still unchanged after."""
    max_unpacked_mb: float = Field(default=512.0, gt=0)
    max_unpacked_ratio: float = Field(default=100.0, gt=1)
    """An .xlsx (a zip) may not unpack to more than this many MB, nor this many times its size."""

    def labels(self) -> dict[str, Mapping[str, str]]:
        return {
            "SharingType": self.sharing_labels,
            "OpenType": self.open_labels,
            "SecurityLevel": self.security_labels,
        }


ENTITY_TYPES: dict[str, type[Spec]] = {
    "departments": Department,
    "codelists": CodeList,
    "elements": Element,
    "datasets": Dataset,
    "views": View,
    "indicators": Indicator,
    "agreements": Agreement,
    "services": Service,
}
"""Section name in YAML → model, in dependency order (apply creates in this order)."""
