"""Department, DataElement, Dataset and Column: the catalog proper."""

from __future__ import annotations

from typing import Any

import graphene

from registry.api.pagination import CountedConnection, child_page, page_args
from registry.api.types.base import Row, schema_type, scores, spec
from registry.api.types.enums import (
    DataTypeEnum,
    PersonalInfoEnum,
    SecurityLevelEnum,
    SharingTypeEnum,
    StatusEnum,
)
from registry.api.visibility import element_detail


class Department(graphene.ObjectType):
    """A government body (部门): what it owns, provides and consumes."""

    code = graphene.String(required=True, description="Stable code of the department.")
    name = graphene.String(description="Chinese name.")
    name_en = graphene.String(description="English name.")
    short_name = graphene.String(description="Short Chinese name.")
    description = graphene.String(description="What the department does.")
    parent = graphene.Field(lambda: Department, description="The department it belongs to, if any.")
    owns = graphene.Field(
        lambda: DataElementConnection,
        description="Data elements this department is the source of.",
        **page_args(),
    )
    provides = graphene.Field(
        lambda: DatasetConnection, description="Datasets (information resources) it provides.", **page_args()
    )
    consumes = graphene.Field(
        "registry.api.types.sharing.SharingAgreementConnection",
        description="Sharing agreements under which it consumes other departments' data.",
        **page_args(),
    )
    views = graphene.Field(
        "registry.api.types.derived.ViewConnection", description="Derived views it owns.", **page_args()
    )
    services = graphene.Field(
        "registry.api.types.sharing.ServiceConnection",
        description="Government services it delivers.",
        **page_args(),
    )

    @staticmethod
    def resolve_short_name(row: Row, info: Any) -> str | None:
        return spec(row).get("short_name")

    @staticmethod
    def resolve_description(row: Row, info: Any) -> str | None:
        return spec(row).get("description")

    @staticmethod
    def resolve_parent(row: Row, info: Any) -> Row | None:
        return info.context.loaders.department.load(row["parent"]) if row["parent"] else None

    @staticmethod
    def resolve_owns(row: Row, info: Any, first: int | None = None, after: str | None = None) -> Any:
        loaders = info.context.loaders
        return child_page(
            info,
            DataElementConnection,
            loaders.owned_elements,
            row["code"],
            first,
            after,
            loaders.elements_seen,
        )

    @staticmethod
    def resolve_provides(row: Row, info: Any, first: int | None = None, after: str | None = None) -> Any:
        loaders = info.context.loaders
        return child_page(
            info,
            DatasetConnection,
            loaders.provided_datasets,
            row["code"],
            first,
            after,
            loaders.datasets_seen,
        )

    @staticmethod
    def resolve_consumes(row: Row, info: Any, first: int | None = None, after: str | None = None) -> Any:
        pages = info.context.loaders.consumed_agreements
        connection = schema_type(info, "SharingAgreementConnection")
        return child_page(info, connection, pages, row["code"], first, after)

    @staticmethod
    def resolve_views(row: Row, info: Any, first: int | None = None, after: str | None = None) -> Any:
        connection = schema_type(info, "ViewConnection")
        return child_page(info, connection, info.context.loaders.owned_views, row["code"], first, after)

    @staticmethod
    def resolve_services(row: Row, info: Any, first: int | None = None, after: str | None = None) -> Any:
        pages = info.context.loaders.department_services
        return child_page(info, schema_type(info, "ServiceConnection"), pages, row["code"], first, after)


class DataElement(graphene.ObjectType):
    """A data element (数据元 / 信息项) with exactly one owner department.

    For core-level elements, the definition, synonyms, value domain, sharing condition and legal
    basis are restricted to the owner, center admins and departments with a valid agreement."""

    code = graphene.String(required=True, description="Stable code of the element.")
    name = graphene.String(description="Chinese name.")
    name_en = graphene.String(description="English name.")
    owner = graphene.Field(Department, description="The one authoritative source department (一数一源).")
    owner_code = graphene.String(required=True, description="Code of the owner department.")
    data_type = graphene.Field(DataTypeEnum, description="Data type.")
    security = graphene.Field(SecurityLevelEnum, description="Security level.")
    personal = graphene.Field(PersonalInfoEnum, description="Personal-information flag.")
    sharing = graphene.Field(SharingTypeEnum, description="Sharing type.")
    status = graphene.Field(StatusEnum, description="Registration status.")
    unit = graphene.String(description="Unit of measure, if any.")
    update_cycle = graphene.String(description="How often the source updates it.")
    restricted = graphene.Boolean(
        required=True, description="True when restricted details of this element are hidden from you."
    )
    definition = graphene.String(description="Definition (restricted for core-level elements).")
    synonyms = graphene.List(
        graphene.NonNull(graphene.String), description="Other names (restricted for core-level elements)."
    )
    domain = graphene.JSONString(description="Value domain (restricted for core-level elements).")
    sharing_condition = graphene.String(description="Condition of sharing (restricted for core level).")
    legal_basis = graphene.String(description="Legal basis of collection (restricted for core level).")
    columns = graphene.List(
        graphene.NonNull(lambda: Column), description="Dataset columns that carry this element."
    )

    @staticmethod
    def resolve_owner(row: Row, info: Any) -> Row | None:
        return info.context.loaders.department.load(row["owner"])

    @staticmethod
    def resolve_owner_code(row: Row, info: Any) -> str:
        return str(row["owner"])

    @staticmethod
    def resolve_data_type(row: Row, info: Any) -> str:
        return str(row["data_type"])

    @staticmethod
    def resolve_unit(row: Row, info: Any) -> str | None:
        return spec(row).get("unit")

    @staticmethod
    def resolve_update_cycle(row: Row, info: Any) -> str | None:
        return spec(row).get("update_cycle")

    @staticmethod
    def resolve_restricted(row: Row, info: Any) -> bool:
        return bool(info.context.visibility.details_hidden(row))

    # restricted details: only through registry.api.visibility (which decides who sees them)
    resolve_definition = staticmethod(element_detail("definition", lambda row: spec(row).get("definition")))
    resolve_synonyms = staticmethod(
        element_detail("synonyms", lambda row: list(spec(row).get("synonyms", [])))
    )
    resolve_domain = staticmethod(element_detail("domain", lambda row: spec(row).get("domain")))
    resolve_sharing_condition = staticmethod(
        element_detail("sharingCondition", lambda row: spec(row).get("sharing_condition"))
    )
    resolve_legal_basis = staticmethod(element_detail("legalBasis", lambda row: spec(row).get("legal_basis")))

    @staticmethod
    def resolve_columns(row: Row, info: Any) -> list[Row]:
        return list(info.context.loaders.columns_of_element.load(row["code"]))


class Column(graphene.ObjectType):
    """A column of a dataset, mapped to the data element it carries."""

    name = graphene.String(required=True, description="Column name in the extract.")
    position = graphene.Int(required=True, description="0-based position in the dataset.")
    dataset = graphene.Field(lambda: Dataset, description="The dataset the column belongs to.")
    element = graphene.Field(DataElement, description="The data element the column carries.")
    element_code = graphene.String(required=True, description="Code of the data element.")
    required = graphene.Boolean(required=True, description="Whether a value is required.")
    is_key = graphene.Boolean(required=True, description="Whether the column is part of the dataset key.")
    replica = graphene.String(description="Agreement under which this column replicates another's element.")
    role = graphene.String(
        description="source (the provider owns the element), replica (held under an agreement) or "
        "duplicate (collected again without one)."
    )

    @staticmethod
    def resolve_dataset(row: Row, info: Any) -> Row | None:
        return info.context.loaders.dataset.load(row["dataset"])

    @staticmethod
    def resolve_element(row: Row, info: Any) -> Row | None:
        return info.context.loaders.element.load(row["element"])

    @staticmethod
    def resolve_element_code(row: Row, info: Any) -> str:
        return str(row["element"])

    @staticmethod
    def resolve_role(row: Row, info: Any) -> str | None:
        ds = info.context.loaders.dataset.load(row["dataset"])
        el = info.context.loaders.element.load(row["element"])
        if ds is None or el is None:
            return None
        if ds["provider"] == el["owner"]:
            return "source"
        return "replica" if row["replica"] else "duplicate"


class Dataset(graphene.ObjectType):
    """An information resource (信息资源) provided by one department as extracts."""

    code = graphene.String(required=True, description="Stable code of the dataset.")
    name = graphene.String(description="Chinese name.")
    name_en = graphene.String(description="English name.")
    provider = graphene.Field(Department, description="The department that provides it.")
    provider_code = graphene.String(required=True, description="Code of the provider department.")
    classification = graphene.String(description="Resource classification (base, theme, departmental).")
    format = graphene.String(description="Extract format (csv, excel, parquet, json).")
    summary = graphene.String(description="What the dataset holds.")
    security = graphene.Field(SecurityLevelEnum, description="Effective security level (就高从严).")
    personal = graphene.Field(PersonalInfoEnum, description="Effective personal-information flag.")
    sharing = graphene.Field(SharingTypeEnum, description="Effective sharing type.")
    key = graphene.List(graphene.NonNull(graphene.String), description="Key columns.")
    columns = graphene.List(graphene.NonNull(Column), description="Columns, in extract order.")
    quality = graphene.Field(
        "registry.api.types.quality.QualityScore", description="Latest quality score, if validated."
    )
    quality_results = graphene.List(
        graphene.NonNull("registry.api.types.quality.QualityResult"),
        description="Expectation results of the latest validation of each suite.",
    )

    @staticmethod
    def resolve_provider(row: Row, info: Any) -> Row | None:
        return info.context.loaders.department.load(row["provider"])

    @staticmethod
    def resolve_provider_code(row: Row, info: Any) -> str:
        return str(row["provider"])

    @staticmethod
    def resolve_summary(row: Row, info: Any) -> str | None:
        return spec(row).get("summary")

    @staticmethod
    def resolve_key(row: Row, info: Any) -> list[str]:
        return list(spec(row).get("key", []))

    @staticmethod
    def resolve_columns(row: Row, info: Any) -> list[Row]:
        return list(info.context.loaders.columns_of_dataset.load(row["code"]))

    @staticmethod
    def resolve_quality(row: Row, info: Any) -> Any:
        return scores(info.context).get(("dataset", row["code"]))

    @staticmethod
    def resolve_quality_results(row: Row, info: Any) -> list[Row]:
        return list(info.context.loaders.quality_of_dataset.load(row["code"]))


class DataElementConnection(CountedConnection):
    """A page of data elements."""

    class Meta:
        node = DataElement


class DatasetConnection(CountedConnection):
    """A page of datasets."""

    class Meta:
        node = Dataset


class DepartmentConnection(CountedConnection):
    """A page of departments."""

    class Meta:
        node = Department
