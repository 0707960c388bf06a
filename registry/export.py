"""Write a registry back as a registry home (YAML and SQL files), so git stays the record.

Changes made through the API land in the metadata store; ``govreg export --yaml`` turns the
store back into a home that ``govreg validate`` accepts and whose specs equal the store's, so the
change can be reviewed and committed like any other. Layout (the bundled city's):

- ``registry.yaml``: the settings; ``departments.yaml``: departments;
- ``codelists/codelists.yaml``: code lists, values inline; a list that names a ``file`` gets the
  file back, holding its trailing plain ``code label`` values;
- ``elements/<owner>.yaml``, ``datasets/<provider>.yaml``: one file per department;
- ``views/<code>.yaml``, ``indicators/<code>.yaml``: one per view or indicator, its SQL in the
  file it names (``sql``) or inline (``query``);
- ``agreements/agreements.yaml``, ``services/services.yaml``.

Fields left at their defaults are not written (loading fills them in again).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from registry.errors import StoreError
from registry.home import Registry
from registry.load import iter_yaml_files
from registry.model import CodeList, CodeValue, Spec

SAFE_NAME = re.compile(r"[^A-Za-z0-9_.-]+")
HEADER = "# Exported from the govreg metadata store by `govreg export --yaml`.\n"


class _Dumper(yaml.SafeDumper):
    pass


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value and not any(c in value for c in "\t\r") else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _str)


def _dump(doc: dict[str, Any]) -> str:
    return HEADER + yaml.dump(doc, Dumper=_Dumper, allow_unicode=True, sort_keys=False, width=110)


def _data(entity: Spec) -> dict[str, Any]:
    return entity.model_dump(mode="json", exclude_defaults=True)


def _file_name(code: str) -> str:
    return (SAFE_NAME.sub("_", code).strip("._") or "unnamed") + ".yaml"


def _inside(root: Path, relative: str, base: Path) -> Path:
    target = (base / relative).resolve()
    if not target.is_relative_to(root.resolve()):
        raise StoreError(f"'{relative}' would be written outside the export folder")
    return target


def _plain(value: CodeValue) -> bool:
    """A code value a ``code label`` line reproduces exactly."""
    text = value.value
    return (
        set(_data(value)) <= {"value", "label"}
        and not any(c.isspace() for c in text)
        and not text.startswith("#")
        and "\n" not in value.label
        and value.label == value.label.strip()
    )


class _Writer:
    def __init__(self, out: Path):
        self.out = out
        self.written: dict[Path, str] = {}

    def put(self, path: Path, text: str) -> None:
        if path in self.written and self.written[path] != text:
            raise StoreError(f"two entities want different contents in {path}")
        self.written[path] = text

    def section(self, relative: str, section: str, entities: list[dict[str, Any]]) -> None:
        if entities:
            self.put(self.out / relative, _dump({section: entities}))

    def flush(self) -> list[Path]:
        for path, text in sorted(self.written.items()):
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
        return sorted(self.written)


def _codelist(writer: _Writer, base: Path, codelist: CodeList) -> dict[str, Any]:
    data = _data(codelist)
    if codelist.file is None:
        return data
    values = list(codelist.values)
    split = len(values)
    while split > 0 and _plain(values[split - 1]):
        split -= 1
    lines = "".join(f"{v.value} {v.label}\n" for v in values[split:])
    writer.put(_inside(writer.out, codelist.file, base), lines)
    data.pop("values", None)
    if split:
        data["values"] = [_data(v) for v in values[:split]]
    return data


def _query(writer: _Writer, base: Path, entity: Any) -> dict[str, Any]:
    data = _data(entity)
    if entity.sql is not None:
        data.pop("query", None)
        writer.put(_inside(writer.out, entity.sql, base), (entity.query or "") + "\n")
    return data


def export_home(registry: Registry, out: Path, *, replace: bool = False) -> list[Path]:
    """Write ``registry`` as a home in ``out``; returns the files written.

    ``out`` must hold no YAML yet, unless ``replace``: then its YAML and SQL files are removed
    first (other files — suites, landing folders, README — stay).
    """
    out = Path(out).resolve()
    existing = list(iter_yaml_files(out)) if out.is_dir() else []
    if existing and not replace:
        raise StoreError(f"{out} already holds YAML files ({existing[0].name}, ...): use --replace")
    if replace and out.is_dir():
        for path in existing + [p for p in out.rglob("*.sql") if not _hidden(out, p)]:
            path.unlink()
    writer = _Writer(out)
    settings = registry.settings.model_dump(mode="json", exclude_none=True)
    writer.put(out / "registry.yaml", _dump({"registry": settings}))
    by_code = sorted
    writer.section(
        "departments.yaml", "departments", [_data(d) for _, d in by_code(registry.departments.items())]
    )
    base = out / "codelists"
    writer.section(
        "codelists/codelists.yaml",
        "codelists",
        [_codelist(writer, base, c) for _, c in by_code(registry.codelists.items())],
    )
    for section, attribute in (("elements", "owner"), ("datasets", "provider")):
        groups: dict[str, list[dict[str, Any]]] = {}
        for _, entity in by_code(registry.section(section).items()):
            groups.setdefault(getattr(entity, attribute), []).append(_data(entity))
        for group, items in groups.items():
            writer.section(f"{section}/{_file_name(group)}", section, items)
    for section in ("views", "indicators"):
        base = out / section
        for code, entity in by_code(registry.section(section).items()):
            writer.section(f"{section}/{_file_name(code)}", section, [_query(writer, base, entity)])
    writer.section(
        "agreements/agreements.yaml",
        "agreements",
        [_data(a) for _, a in by_code(registry.agreements.items())],
    )
    writer.section(
        "services/services.yaml", "services", [_data(s) for _, s in by_code(registry.services.items())]
    )
    return writer.flush()


def _hidden(root: Path, path: Path) -> bool:
    return any(part.startswith(".") for part in path.relative_to(root).parts)


__all__ = ["export_home"]
