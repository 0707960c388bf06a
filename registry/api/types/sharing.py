"""SharingAgreement and Service: how data moves between departments, and what it serves."""

from __future__ import annotations

from typing import Any

import graphene

from registry.api.pagination import CountedConnection
from registry.api.types.base import Row, spec
from registry.api.types.catalog import DataElement, Dataset, Department
from registry.api.types.enums import AgreementStatusEnum


class SharingAgreement(graphene.ObjectType):
    """A sharing agreement: a consumer department may use these elements for this purpose."""

    code = graphene.String(required=True, description="Stable code of the agreement.")
    name = graphene.String(description="Chinese name.")
    name_en = graphene.String(description="English name.")
    consumer = graphene.Field(Department, description="The department that consumes the data.")
    provider = graphene.Field(Department, description="The department that provides the data.")
    status = graphene.Field(AgreementStatusEnum, description="Requested, approved, rejected, ...")
    purpose = graphene.String(description="What the data is used for.")
    legal_basis = graphene.String(description="The law or rule that permits the use.")
    approver = graphene.String(description="Who approved it.")
    valid_from = graphene.String(description="First day of validity (YYYY-MM-DD).")
    valid_to = graphene.String(description="Last day of validity (YYYY-MM-DD), if limited.")
    valid_today = graphene.Boolean(required=True, description="Approved and within its term today.")
    elements = graphene.List(graphene.NonNull(DataElement), description="Elements granted.")
    datasets = graphene.List(graphene.NonNull(Dataset), description="Datasets granted.")

    @staticmethod
    def resolve_consumer(row: Row, info: Any) -> Row | None:
        return info.context.loaders.department.load(row["consumer"])

    @staticmethod
    def resolve_provider(row: Row, info: Any) -> Row | None:
        return info.context.loaders.department.load(row["provider"]) if row["provider"] else None

    @staticmethod
    def resolve_purpose(row: Row, info: Any) -> str | None:
        return spec(row).get("purpose")

    @staticmethod
    def resolve_legal_basis(row: Row, info: Any) -> str | None:
        return spec(row).get("legal_basis")

    @staticmethod
    def resolve_approver(row: Row, info: Any) -> str | None:
        return spec(row).get("approver")

    @staticmethod
    def resolve_valid_today(row: Row, info: Any) -> bool:
        day = info.context.today.isoformat()
        return bool(
            row["status"] == "approved"
            and row["valid_from"] <= day
            and (row["valid_to"] is None or day <= row["valid_to"])
        )

    @staticmethod
    def _grants(row: Row, info: Any) -> list[Row]:
        return list(info.context.loaders.grants_of_agreement.load(row["code"]))

    @staticmethod
    def resolve_elements(row: Row, info: Any) -> list[Row]:
        codes = [g["element"] for g in SharingAgreement._grants(row, info) if g["element"]]
        info.context.loaders.element.want(codes)
        return [e for e in (info.context.loaders.element.load(c) for c in codes) if e]

    @staticmethod
    def resolve_datasets(row: Row, info: Any) -> list[Row]:
        codes = [g["dataset"] for g in SharingAgreement._grants(row, info) if g["dataset"]]
        info.context.loaders.dataset.want(codes)
        return [d for d in (info.context.loaders.dataset.load(c) for c in codes) if d]


class ServiceElement(graphene.ObjectType):
    """An element a government service needs, and where it now comes from."""

    element = graphene.Field(DataElement, description="The element needed.")
    source = graphene.String(description="applicant (asked of the citizen) or sharing.")
    agreement = graphene.String(description="The agreement it is shared under, if any.")

    @staticmethod
    def resolve_element(row: Row, info: Any) -> Row | None:
        return info.context.loaders.element.load(row["element"])


class Service(graphene.ObjectType):
    """A government service (政务服务事项) and the elements it needs."""

    code = graphene.String(required=True, description="Stable code of the service.")
    name = graphene.String(description="Chinese name.")
    name_en = graphene.String(description="English name.")
    department = graphene.Field(Department, description="The department delivering it.")
    elements = graphene.List(graphene.NonNull(ServiceElement), description="Elements it needs.")

    @staticmethod
    def resolve_department(row: Row, info: Any) -> Row | None:
        return info.context.loaders.department.load(row["department"])

    @staticmethod
    def resolve_elements(row: Row, info: Any) -> list[Row]:
        return list(info.context.loaders.elements_of_service.load(row["code"]))


class SharingAgreementConnection(CountedConnection):
    """A page of sharing agreements."""

    class Meta:
        node = SharingAgreement


class ServiceConnection(CountedConnection):
    """A page of government services."""

    class Meta:
        node = Service
