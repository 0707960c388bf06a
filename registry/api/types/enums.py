"""The registry's vocabularies as GraphQL enums (values are the store's tokens)."""

from __future__ import annotations

import graphene

from registry.vocab import AgreementStatus, DataType, PersonalInfo, SecurityLevel, SharingType, Status

SecurityLevelEnum = graphene.Enum.from_enum(
    SecurityLevel, description="Security level, least to most restricted."
)
PersonalInfoEnum = graphene.Enum.from_enum(PersonalInfo, description="Personal-information flag (PIPL).")
SharingTypeEnum = graphene.Enum.from_enum(
    SharingType, description="Sharing type: unconditional, conditional (agreement needed) or not shared."
)
StatusEnum = graphene.Enum.from_enum(Status, description="Registration status of an element.")
DataTypeEnum = graphene.Enum.from_enum(DataType, description="Data type of an element.")
AgreementStatusEnum = graphene.Enum.from_enum(AgreementStatus, description="Status of a sharing agreement.")
