"""Entities ↔ store rows: the canonical spec of each entity and the columns derived from it.

A dataset's spec carries ``derived`` values (effective security, personal flag and sharing
type, 就高从严) so that raising an element's level shows up in ``plan`` on every dataset that
holds it, and the store's queryable columns never go stale.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from typing import Any

from registry.home import Registry
from registry.model import ENTITY_TYPES, Dataset, Settings, Spec

SECTIONS: tuple[str, ...] = ("settings", *ENTITY_TYPES)
KIND = {"settings": "settings", **{s: m.kind for s, m in ENTITY_TYPES.items()}}  # type: ignore[attr-defined]
SETTINGS_CODE = "registry"


def canonical(spec: dict[str, Any]) -> str:
    """The one JSON text of a spec: sorted keys, no spaces, Chinese kept as is."""
    return json.dumps(spec, sort_keys=True, ensure_ascii=False, separators=(",", ":"))


def digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def entity_spec(registry: Registry, section: str, entity: Spec) -> dict[str, Any]:
    spec = entity.spec()
    if isinstance(entity, Dataset):
        spec["derived"] = {
            "security": str(registry.dataset_security(entity)),
            "personal": str(registry.dataset_personal(entity)),
            "sharing": str(registry.dataset_sharing(entity)),
        }
    return spec


def home_specs(registry: Registry) -> dict[str, dict[str, str]]:
    """Section → code → canonical spec text, for everything the registry declares."""
    out: dict[str, dict[str, str]] = {"settings": {SETTINGS_CODE: canonical(registry.settings.spec())}}
    for section, entities in registry.sections():
        out[section] = {code: canonical(entity_spec(registry, section, e)) for code, e in entities.items()}
    return out


def entity_columns(section: str, spec: dict[str, Any]) -> dict[str, Any]:
    """The queryable columns of an entity's row, read off its spec."""
    row: dict[str, Any] = {"name": spec.get("name"), "name_en": spec.get("name_en")}
    derived = spec.get("derived", {})
    if section == "departments":
        row["parent"] = spec.get("parent")
    elif section == "elements":
        row.update(
            owner=spec["owner"],
            data_type=spec["type"],
            security=spec["security"],
            personal=spec["personal"],
            sharing=spec["sharing"],
            status=spec["status"],
        )
    elif section == "datasets":
        row.update(
            provider=spec["provider"],
            classification=spec["classification"],
            format=spec["format"],
            security=derived["security"],
            personal=derived["personal"],
            sharing=derived["sharing"],
        )
    elif section in ("views", "indicators"):
        row.update(owner=spec["owner"], query=spec.get("query"))
    elif section == "agreements":
        row.update(
            consumer=spec["consumer"],
            provider=spec.get("provider"),
            status=spec["status"],
            valid_from=spec["valid_from"],
            valid_to=spec.get("valid_to"),
        )
    elif section == "services":
        row["department"] = spec["department"]
    return row


def child_rows(section: str, code: str, spec: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """(table name, row) for the child rows an entity owns."""
    if section == "datasets":
        keys = set(spec.get("key", ()))
        for i, col in enumerate(spec["columns"]):
            is_key = col["name"] in keys or col["element"] in keys
            required = col["required"] if col.get("required") is not None else is_key
            yield (
                "dataset_columns",
                {
                    "dataset": code,
                    "position": i,
                    "name": col["name"],
                    "element": col["element"],
                    "required": bool(required),
                    "is_key": is_key,
                    "replica": col.get("replica"),
                },
            )
    elif section == "agreements":
        grants = [("element", e) for e in spec.get("elements", ())]
        grants += [("dataset", d) for d in spec.get("datasets", ())]
        for i, (what, target) in enumerate(grants):
            yield (
                "agreement_grants",
                {
                    "agreement": code,
                    "position": i,
                    "element": target if what == "element" else None,
                    "dataset": target if what == "dataset" else None,
                },
            )
    elif section == "services":
        for i, item in enumerate(spec.get("elements", ())):
            yield (
                "service_elements",
                {
                    "service": code,
                    "position": i,
                    "element": item["element"],
                    "source": item["source"],
                    "agreement": item.get("agreement"),
                },
            )
    elif section == "codelists":
        for i, value in enumerate(spec.get("values", ())):
            yield (
                "codelist_values",
                {
                    "codelist": code,
                    "position": i,
                    "value": value["value"],
                    "label": value["label"],
                    "valid_from": value.get("valid_from"),
                    "valid_to": value.get("valid_to"),
                },
            )


CHILD_TABLES: dict[str, tuple[str, str]] = {
    "datasets": ("dataset_columns", "dataset"),
    "agreements": ("agreement_grants", "agreement"),
    "services": ("service_elements", "service"),
    "codelists": ("codelist_values", "codelist"),
}


def registry_from_specs(specs: dict[str, dict[str, str]]) -> Registry:
    """Rebuild a Registry from stored spec texts (derived values are recomputed, not read)."""
    settings_text = specs.get("settings", {}).get(SETTINGS_CODE)
    settings = Settings.model_validate(json.loads(settings_text)) if settings_text else Settings()
    sections: dict[str, dict[str, Spec]] = {}
    for section, model in ENTITY_TYPES.items():
        built: dict[str, Spec] = {}
        for code, text in specs.get(section, {}).items():
            data = json.loads(text)
            data.pop("derived", None)
            built[code] = model.model_validate(data)
        sections[section] = built
    return Registry.build(settings, sections)
