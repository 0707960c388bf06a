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

import csv
import io
import re
from datetime import date
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
    """The fields to write (defaults left out); dates as dates, so YAML writes them unquoted."""
    data = entity.model_dump(mode="json", exclude_defaults=True)
    for key in data:
        if isinstance(value := getattr(entity, key, None), date):
            data[key] = value
    return data


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


def codes_csv(values: list[Any]) -> str:
    """A code list's values in the CSV form a home reads (``code,label,...``, ISO dates)."""
    out = io.StringIO()
    table = csv.writer(out, lineterminator="\n")
    table.writerow(["code", "label", "label_en", "valid_from", "valid_to", "successor"])
    for v in values:
        table.writerow(
            [v.value, v.label, v.label_en or "", v.valid_from or "", v.valid_to or "", v.successor or ""]
        )
    return out.getvalue()


def _codelist(writer: _Writer, base: Path, codelist: CodeList) -> dict[str, Any]:
    data = _data(codelist)
    if codelist.file is None:
        return data
    values = list(codelist.values)
    if codelist.file.lower().endswith(".csv"):  # every code in the file, periods and successors too
        writer.put(_inside(writer.out, codelist.file, base), codes_csv(values))
        data.pop("values", None)
        return data
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


def export_home(
    registry: Registry,
    out: Path,
    *,
    replace: bool = False,
    suites_from: Path | None = None,
    prune: bool = False,
    kept: list[str] | None = None,
) -> list[Path]:
    """Write ``registry`` as a home in ``out``; returns the files written (changed).

    When ``out`` already holds a home, it is updated in place (see :func:`update_home`): only
    what differs is written, comments and layout kept. ``replace`` instead removes its YAML and
    SQL files first and writes the layout above (other files — suites, landing folders,
    README — stay). ``suites_from``: a home whose ``suites/`` are copied along (the store does
    not hold suites), file by file, only where they differ. ``prune`` and ``kept``: see
    :func:`update_home`.
    """
    out = Path(out).resolve()
    existing = list(iter_yaml_files(out)) if out.is_dir() else []
    written = _copy_suites(suites_from, out)
    if existing and not replace:
        return sorted(update_home(registry, out, prune=prune, kept=kept) + written)
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
    return sorted(writer.flush() + written)


def _hidden(root: Path, path: Path) -> bool:
    return any(part.startswith(".") for part in path.relative_to(root).parts)


# --- in place: a home updated with ruamel.yaml round-trip ------------------------------------------
#
# The home's files are read with ruamel.yaml's round-trip loader; an entity whose stored spec
# equals the home's is not touched; a changed one has only its changed fields replaced (the others
# keep their comments, order, quoting and flow style); a new one is appended to the file its
# section's layout names (or the first file holding that section); a removed one is taken out.
# Only the files that changed are written, and in them only the lines that changed: the new text
# is merged line by line into the original, so what ruamel.yaml would render differently from the
# author (an escape such as ``\\u4e00``) stays as the author wrote it.


def _yaml() -> Any:
    from ruamel.yaml import YAML

    rt = YAML(typ="rt")
    rt.preserve_quotes = True
    rt.width = 4096  # never wrap a long line the author did not wrap
    return rt


class _Doc:
    """One YAML file of the home: its text, ruamel document and indentation."""

    def __init__(self, path: Path):
        from ruamel.yaml.util import load_yaml_guess_indent

        self.path = path
        raw = path.read_bytes()
        self.bom = raw.startswith(b"\xef\xbb\xbf")  # kept as found: a byte-order mark,
        self.newline = "\r\n" if b"\r\n" in raw else "\n"  # Windows line ends
        self.text = raw.decode("utf-8-sig").replace("\r\n", "\n")
        _, indent, offset = load_yaml_guess_indent(self.text)
        self.rt = _yaml()
        self.rt.indent(mapping=2, sequence=max(indent or 2, (offset or 0) + 2), offset=offset or 0)
        self.doc = self.rt.load(self.text)
        self.baseline = self._render()
        self.changed = False

    def _render(self) -> str:
        import io

        buffer = io.StringIO()
        self.rt.dump(self.doc, buffer)
        return buffer.getvalue()

    def result(self) -> str | None:
        """The file's new text (None when the document is now empty)."""
        if not self.doc:
            return None
        return _merge(self.text, self.baseline, self._render())


def _merge(original: str, baseline: str, new: str) -> str:
    """``new`` with the lines it shares with ``baseline`` as ``original`` has them.

    ``baseline`` is ruamel.yaml's rendering of the unchanged file, ``new`` of the changed one:
    their differences are the export's edits; the differences between ``baseline`` and
    ``original`` are only how ruamel.yaml renders, and are kept out of the result.
    """
    from difflib import SequenceMatcher

    if baseline == original:
        return new
    o, b, n = original.splitlines(True), baseline.splitlines(True), new.splitlines(True)
    to_original = SequenceMatcher(None, b, o, autojunk=False).get_opcodes()

    def as_original(i1: int, i2: int, at_end: bool) -> list[str]:
        lines: list[str] = []
        for tag, a1, a2, c1, c2 in to_original:
            if tag == "insert":
                if i1 <= a1 < i2 or (at_end and a1 == i2):
                    lines += o[c1:c2]
                continue
            lo, hi = max(a1, i1), min(a2, i2)
            if lo >= hi:
                continue
            if tag == "equal":
                lines += o[c1 + lo - a1 : c1 + hi - a1]
            elif a1 >= i1 and a2 <= i2:
                lines += o[c1:c2]
            else:
                lines += b[lo:hi]
        return lines

    out: list[str] = []
    for tag, i1, i2, j1, j2 in SequenceMatcher(None, b, n, autojunk=False).get_opcodes():
        if tag == "equal":
            out += as_original(i1, i2, i2 == len(b))
        else:
            out += n[j1:j2]
    return "".join(out)


def _plain_node(value: Any) -> Any:
    """A ruamel node as JSON-ready plain data (dates as ISO text)."""
    import json

    return json.loads(json.dumps(value, default=str, ensure_ascii=False))


def _node(value: Any, in_list: bool = False) -> Any:
    """Plain data as ruamel nodes in the bundled city's style: scalar lists and small scalar
    mappings inside lists in flow style, everything else in block style."""
    from ruamel.yaml.comments import CommentedMap, CommentedSeq
    from ruamel.yaml.scalarstring import LiteralScalarString

    if isinstance(value, dict):
        node = CommentedMap((k, _node(v)) for k, v in value.items())
        if in_list and len(value) <= 4 and not any(isinstance(v, dict | list) for v in value.values()):
            node.fa.set_flow_style()
        return node
    if isinstance(value, list):
        seq = CommentedSeq(_node(v, in_list=True) for v in value)
        if not any(isinstance(v, dict | list) for v in value):
            seq.fa.set_flow_style()
        return seq
    if isinstance(value, str) and "\n" in value and not any(c in value for c in "\t\r"):
        return LiteralScalarString(value)
    return value


def _scalar(entity: Spec, field: str, value: Any) -> Any:
    """A field's value to write: dates as dates (unquoted in YAML), the rest JSON-ready."""
    python = getattr(entity, field, None)
    if isinstance(python, date):
        return python
    return value


def _same(old: Any, new: Any, full: Any) -> bool:
    """Whether the plain value ``old`` (as written) says what ``new`` says: ``new`` is the value
    with defaults left out, ``full`` the same value with them, so a default written out counts."""
    if isinstance(old, dict) and isinstance(full, dict):
        minimal = new if isinstance(new, dict) else {}
        return all(k in old for k in minimal) and all(
            k in full and _same(v, minimal.get(k, full[k]), full[k]) for k, v in old.items()
        )
    if isinstance(old, list) and isinstance(full, list):
        items = new if isinstance(new, list) and len(new) == len(full) else full
        return len(old) == len(full) and all(map(_same, old, items, full))
    return bool(old == full)


def _merge_value(old: Any, new: Any, full: Any) -> Any:
    """``new`` (defaults left out; ``full``: with them) written over the node ``old``: the items
    and keys that say the same keep their nodes, comments and style."""
    from ruamel.yaml.comments import CommentedMap, CommentedSeq

    if isinstance(old, CommentedMap) and isinstance(new, dict) and isinstance(full, dict):
        for key in [
            k
            for k in old
            if k not in full or (k not in new and not _same(_plain_node(old[k]), full[k], full[k]))
        ]:
            del old[key]
        for key, value in new.items():
            if key not in old:
                old[key] = _node(value)
            elif not _same(_plain_node(old[key]), value, full.get(key, value)):
                old[key] = _merge_value(old[key], value, full.get(key, value))
        return old
    if (
        isinstance(old, CommentedSeq)
        and isinstance(new, list)
        and isinstance(full, list)
        and len(new) == len(full)
    ):
        for index, (value, whole) in enumerate(zip(new, full, strict=True)):
            if index < len(old):
                if not _same(_plain_node(old[index]), value, whole):
                    old[index] = _merge_value(old[index], value, whole)
            else:
                old.append(_node(value, in_list=True))
        del old[len(new) :]
        return old
    return _node(new)


def _set_field(node: Any, entity: Spec, field: str, value: Any, order: list[str], full: Any) -> None:
    """Set (or insert, in the model's field order) one top-level key of an entity's mapping;
    ``full`` is the value with its defaults."""
    if field in node:
        node[field] = (
            _merge_value(node[field], value, full)
            if isinstance(value, dict | list)
            else _node(_scalar(entity, field, value))
        )
        return
    position = 0
    for index, key in enumerate(node):
        if key in order and order.index(key) < order.index(field):
            position = index + 1
    node.insert(position, field, _node(_scalar(entity, field, value)))


def _update_entity(node: Any, old: Spec, new: Spec, folder: Path, writer: _Writer, out: Path) -> None:
    """Write ``new`` over the mapping ``node`` that declared ``old``: changed fields only."""
    full_old, full_new = old.spec(), new.spec()
    wanted = _data(new)
    order = list(type(new).model_fields)
    external: set[str] = set()
    if getattr(new, "sql", None) is not None and "sql" in node:
        external.add("query")
        if full_old.get("query") != full_new.get("query") or full_old.get("sql") != full_new.get("sql"):
            writer.put(_inside(out, str(new.sql), folder), (getattr(new, "query", None) or "") + "\n")  # type: ignore[attr-defined]
    if isinstance(new, CodeList) and new.file is not None and "file" in node:
        external.add("values")
        if full_old.get("values") != full_new.get("values") or full_old.get("file") != new.file:
            inline = _codelist(writer, folder, new).get("values")
            if inline:
                node["values"] = (
                    _merge_value(node.get("values"), inline, full_new["values"][: len(inline)])
                    if "values" in node
                    else _node(inline)
                )
            elif "values" in node:
                del node["values"]
    for field in order:
        if field in external or full_old.get(field) == full_new.get(field):
            continue
        if field in wanted:
            _set_field(node, new, field, wanted[field], order, full_new[field])
        elif field in node:
            del node[field]


def _entity_node(entity: Spec, folder: Path, writer: _Writer, out: Path) -> Any:
    if isinstance(entity, CodeList):
        return _node(_codelist(writer, folder, entity))
    if getattr(entity, "sql", None) is not None:
        return _node(_query(writer, folder, entity))
    return _node(_data(entity))


PER_FILE = frozenset({"elements", "datasets", "views", "indicators"})  # one file per department or code


def _layout_file(section: str, entity: Spec) -> str:
    if section in ("elements", "datasets"):
        return f"{section}/{_file_name(getattr(entity, 'owner' if section == 'elements' else 'provider'))}"
    if section in ("views", "indicators"):
        return f"{section}/{_file_name(entity.code)}"  # type: ignore[attr-defined]
    return {"departments": "departments.yaml", "codelists": "codelists/codelists.yaml"}.get(
        section, f"{section}/{section}.yaml"
    )


def update_home(
    registry: Registry, out: Path, *, prune: bool = False, kept: list[str] | None = None
) -> list[Path]:
    """Update the home in ``out`` in place to hold ``registry``; returns the files written.

    An entity the home declares and the store does not hold (work not applied yet) is kept, and
    named in ``kept`` (``"<kind> <code>"``), unless ``prune``: then it is removed. Refused
    (nothing written) when the home's YAML does not load: its entities could not be matched to
    the store's.
    """
    from registry.load import load_home
    from registry.model import ENTITY_TYPES, Settings

    home, problems = load_home(out)
    broken = [p for p in problems if p.code in ("YAML001", "YAML003", "YAML004", "YAML005")]
    if broken:
        raise StoreError(
            f"{out} holds a registry home that does not load ({broken[0].location}: {broken[0].message}): "
            "fix it, or export with --replace"
        )
    docs = {path: _Doc(path) for path in iter_yaml_files(out)}
    writer = _Writer(out)
    where: dict[tuple[str, str], tuple[_Doc, Any, int]] = {}
    for doc in docs.values():
        if not hasattr(doc.doc, "items"):
            continue
        for section, items in doc.doc.items():
            if section in ENTITY_TYPES and isinstance(items, list):
                for index, item in enumerate(items):
                    if hasattr(item, "get") and item.get("code") is not None:
                        where[(section, str(item["code"]))] = (doc, items, index)

    settings_file = out / "registry.yaml"
    if registry.settings.spec() != home.settings.spec():
        wanted = registry.settings.model_dump(mode="json", exclude_none=True)
        top = docs.get(settings_file)
        if top is None or not hasattr(top.doc, "get") or "registry" not in top.doc:
            writer.put(settings_file, _dump({"registry": wanted}))
        else:
            node = top.doc["registry"]
            full_old, full_new = home.settings.spec(), registry.settings.spec()
            order = list(Settings.model_fields)
            for field in order:
                if full_old.get(field) == full_new.get(field):
                    continue
                if field in wanted:
                    _set_field(node, registry.settings, field, wanted[field], order, full_new.get(field))
                elif field in node:
                    del node[field]
            top.changed = True

    removals: list[tuple[_Doc, Any, int]] = []
    fresh: dict[Path, dict[str, list[dict[str, Any]]]] = {}
    for section, stored in registry.sections():
        declared = home.section(section)
        for code in sorted(declared.keys() - stored.keys()):
            if (section, code) in where and prune:
                removals.append(where[(section, code)])
            elif kept is not None:
                kept.append(f"{declared[code].kind} {code}")  # type: ignore[attr-defined]
        for code in sorted(stored.keys() & declared.keys()):
            old, new = declared[code], stored[code]
            if old.spec() == new.spec() or (section, code) not in where:
                continue
            doc, items, index = where[(section, code)]
            _update_entity(items[index], old, new, doc.path.parent, writer, out)
            doc.changed = True
        for code in sorted(stored.keys() - declared.keys()):
            entity = stored[code]
            target = out / _layout_file(section, entity)
            into = docs.get(target)
            if (into is None or not hasattr(into.doc, "get")) and section not in PER_FILE:
                into = next(
                    (
                        d
                        for d in docs.values()
                        if hasattr(d.doc, "get") and isinstance(d.doc.get(section), list)
                    ),
                    None,
                )
            if into is None or not hasattr(into.doc, "get"):  # a new file for it, in the layout
                fresh.setdefault(target, {}).setdefault(section, []).append(
                    _entity_data(entity, target.parent, writer, out)
                )
                continue
            items = into.doc.get(section)
            if not isinstance(items, list):
                into.doc[section] = items = _node([])
                items.fa.set_block_style()
            items.append(_entity_node(entity, into.path.parent, writer, out))
            if len(items) > 1 and "\n\n" in into.text:
                items.yaml_set_comment_before_after_key(len(items) - 1, before="\n", indent=0)
            into.changed = True
    for target, sections in fresh.items():
        writer.put(target, _dump(sections))
    for doc, items, index in sorted(removals, key=lambda r: -r[2]):
        _drop(items, index)
        doc.changed = True
    for doc in docs.values():  # a section left empty is dropped
        if doc.changed and hasattr(doc.doc, "items"):
            for key in [k for k, v in doc.doc.items() if k in ENTITY_TYPES and isinstance(v, list) and not v]:
                del doc.doc[key]

    changed: list[Path] = []
    for path, text in sorted(writer.written.items()):
        if not (path.is_file() and path.read_text(encoding="utf-8") == text):
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
            changed.append(path)
    for doc in docs.values():
        if not doc.changed:
            continue
        result = doc.result()
        if result is None:
            doc.path.unlink()
            changed.append(doc.path)
        elif result != doc.text:
            doc.path.write_text(result, encoding="utf-8-sig" if doc.bom else "utf-8", newline=doc.newline)
            changed.append(doc.path)
    return changed


def _tail(node: Any) -> tuple[str, Any] | None:
    """The text ruamel.yaml keeps after a node's last line (its end-of-line comment, then the
    blank lines and comments before whatever follows), with where it is kept."""
    from ruamel.yaml.comments import CommentedMap, CommentedSeq

    if not isinstance(node, CommentedMap | CommentedSeq) or not node:
        return None
    if getattr(node.ca, "end", None):
        return "".join(t.value for t in node.ca.end), ("end", node)
    last = list(node)[-1] if isinstance(node, CommentedMap) else len(node) - 1
    inner = _tail(node[last])
    if inner is not None:
        return inner
    token = node.ca.items.get(last)
    slot = 2 if isinstance(node, CommentedMap) else 0
    if token and len(token) > slot and token[slot] is not None and not isinstance(token[slot], list):
        return token[slot].value, ("token", token[slot])
    return None


def _drop(items: Any, index: int) -> None:
    """Remove one entity from its list. When it is the last one, the blank lines and comments
    that followed it (before the next section) replace those that followed the one before it."""
    if index == len(items) - 1 and index > 0 and (before := _tail(items[index - 1])) is not None:
        after = _tail(items[index])
        text, (kind, holder) = before
        rest = after[0] if after else ""
        if after and after[1][0] == "token":
            rest = rest.split("\n", 1)[1] if "\n" in rest else ""
        if kind == "end":
            holder.ca.end = []
            if rest:
                from ruamel.yaml.error import CommentMark
                from ruamel.yaml.tokens import CommentToken

                holder.ca.end = [CommentToken(rest, CommentMark(0))]
        else:
            holder.value = text.split("\n", 1)[0] + "\n" + rest
    del items[index]


def _entity_data(entity: Spec, folder: Path, writer: _Writer, out: Path) -> dict[str, Any]:
    if isinstance(entity, CodeList):
        return _codelist(writer, folder, entity)
    if getattr(entity, "sql", None) is not None:
        return _query(writer, folder, entity)
    return _data(entity)


def _copy_suites(home: Path | None, out: Path) -> list[Path]:
    """Copy ``home``'s ``suites/*.json`` into ``out/suites`` where they differ (the store holds
    no suites: they travel from home to home)."""
    if home is None:
        return []
    source = Path(home).resolve() / "suites"
    if not source.is_dir() or source == (out / "suites").resolve():
        return []
    copied = []
    for path in sorted(source.glob("*.json")):
        target = out / "suites" / path.name
        data = path.read_bytes()
        if not (target.is_file() and target.read_bytes() == data):
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
            copied.append(target)
    return copied


__all__ = ["export_home", "update_home"]
