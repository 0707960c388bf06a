"""QualityScore and QualityResult: how good arriving data is."""

from __future__ import annotations

import graphene

from registry.api.pagination import CountedConnection
from registry.api.types.base import scores
from registry.api.visibility import column_values

__all__ = ["scores"]


class QualityScore(graphene.ObjectType):
    """A quality score (0–100) of a dataset, department or element, with what it is made of."""

    subject = graphene.String(required=True, description="Code of the dataset, department or element.")
    kind = graphene.String(required=True, description="dataset, department or element.")
    score = graphene.Float(description="Latest score, 0–100 (null when nothing scored).")
    previous = graphene.Float(description="The score before the latest validation.")
    trend = graphene.Float(description="Latest minus previous.")
    passed = graphene.Int(required=True, description="Expectations passed.")
    failed = graphene.Int(required=True, description="Expectations failed.")
    errors = graphene.Int(required=True, description="Expectations that raised instead of answering.")
    rows = graphene.Int(required=True, description="Rows validated (weight).")
    validated_at = graphene.String(description="When it was last validated (ISO 8601 UTC).")


class QualityResult(graphene.ObjectType):
    """One expectation's outcome in a validation. Samples and messages of personal or core columns
    are restricted (a compound key as its most restricted column)."""

    suite = graphene.String(required=True, description="The expectation suite.")
    key = graphene.String(required=True, description="Stable key of the expectation.")
    expectation_type = graphene.String(required=True, description="GX expectation type.")
    element = graphene.String(description="Element the checked column carries, if any.")
    rule = graphene.String(description="The element rule it comes from (pattern, codes, ...).")
    severity = graphene.String(required=True, description="error or warning.")
    status = graphene.String(required=True, description="passed, failed or error.")
    element_count = graphene.Int(description="Rows checked.")
    unexpected_count = graphene.Int(description="Rows that failed.")
    unexpected_percent = graphene.Float(description="Share of rows that failed, in percent.")
    samples = graphene.List(
        graphene.String, description="Sample failing values (restricted for personal or core columns)."
    )
    message = graphene.String(
        description="Error message, if the expectation raised (restricted like the samples)."
    )
    validated_at = graphene.String(required=True, description="When (ISO 8601 UTC).")

    # values of the checked columns: only through registry.api.visibility
    resolve_samples = staticmethod(
        column_values("qualitySamples", lambda row: [str(s) for s in row.get("samples") or []])
    )
    resolve_message = staticmethod(column_values("qualityMessage", lambda row: row.get("message")))


class QualityScoreConnection(CountedConnection):
    """A page of quality scores, worst first."""

    class Meta:
        node = QualityScore
