"""Load a registry home: a folder of YAML declarations (plus the SQL files they name).

Every problem is collected, with file, line, rule code and hint; nothing raises half-way.

Layout is free: any ``*.yaml`` file below the home (hidden folders excepted) may hold any of the
sections ``departments``, ``codelists``, ``elements``, ``datasets``, ``views``, ``indicators``,
``agreements``, ``services``, each a list of mappings; ``registry.yaml`` at the top may hold the
``registry`` settings.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import typing
from collections.abc import Iterator
from dataclasses import replace
from datetime import date
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from registry.errors import DeclarationError, Location, Problem, display_path, sort_problems
from registry.home import Registry
from registry.model import ENTITY_TYPES, Settings, Spec
from registry.source import (
    LineDict,
    LineList,
    error_line,
    error_text,
    full_width_cause,
    parse_yaml,
    unclosed_quote_cause,
)
from registry.vocab import did_you_mean

SETTINGS_KEY = "registry"
SKIP_DIRS = frozenset({"__pycache__", "node_modules", "suites", "landing", "quarantine"})


CSV_CODE_COLUMNS = ("code", "label", "label_en", "valid_from", "valid_to", "successor")
"""The columns of a code list in CSV form (``code`` and ``label`` required)."""


def iter_yaml_files(home: Path) -> Iterator[Path]:
    for root, dirs, files in os.walk(home):
        dirs[:] = sorted(d for d in dirs if not d.startswith(".") and d not in SKIP_DIRS)
        for name in sorted(files):
            if name.endswith((".yaml", ".yml")) and not name.startswith("."):
                yield Path(root, name)


class _Loader:
    def __init__(self, home: Path):
        self.home = home
        self.problems: list[Problem] = []
        self.settings = Settings()
        self.sections: dict[str, dict[str, Spec]] = {name: {} for name in ENTITY_TYPES}
        self.declared: dict[tuple[str, str], list[Location]] = {}  # (section, code) → where
        self.rejected: set[tuple[str, str]] = set()  # declared, but the declaration has errors

    def problem(
        self, code: str, message: str, file: str, line: int = 0, hint: str = "", unread: bool = False
    ) -> None:
        self.problems.append(Problem(code, message, Location(file, line), hint, unread=unread))

    # --- files -----------------------------------------------------------------------------
    def read(self, path: Path) -> tuple[str, Any] | None:
        shown = display_path(path)
        try:
            text = path.read_bytes().decode("utf-8-sig")
        except (OSError, UnicodeDecodeError) as exc:
            self.problem("YAML005", f"cannot read {path.name}: {exc}", shown, unread=True)
            return None
        try:
            return shown, parse_yaml(text, shown)
        except yaml.YAMLError as exc:
            code = "YAML004" if "duplicate key" in error_text(exc) else "YAML001"
            cause = (
                (full_width_cause(text, exc) or unclosed_quote_cause(text, exc))
                if code == "YAML001"
                else None
            )
            if cause is not None:  # name the full-width punctuation or open quote, on its own line
                self.problem(code, cause[1], shown, cause[0], unread=True)
            else:
                self.problem(code, error_text(exc), shown, error_line(exc), unread=True)
            return None

    def load(self) -> Registry:
        if not self.home.is_dir():
            self.problem("YAML005", "registry home is not a folder", display_path(self.home))
            return Registry.build(self.settings, self.sections, self.home)
        files = list(iter_yaml_files(self.home))
        settings_file = self.home / "registry.yaml"
        if settings_file in files:  # settings first: they carry the city's vocabulary labels
            files.remove(settings_file)
            files.insert(0, settings_file)
        for path in files:
            parsed = self.read(path)
            if parsed is None:
                continue
            shown, doc = parsed
            if doc is None:
                continue
            if not isinstance(doc, LineDict):
                self.problem(
                    "YAML003",
                    "a declaration file must be a mapping of sections",
                    shown,
                    1,
                    f"start the file with one of: {', '.join(ENTITY_TYPES)}",
                    unread=True,
                )
                continue
            self.load_document(path, shown, doc)
        twice = self.report_duplicates()
        rejected = frozenset(k for k in self.rejected if k[1] not in self.sections[k[0]])
        return Registry.build(
            self.settings, self.sections, self.home, declared_twice=twice, rejected=rejected
        )

    def report_duplicates(self) -> frozenset[str]:
        """GOV001 at every place a code is declared more than once, each naming the others.

        No declaration is the original (file order says nothing). An element declared twice is
        dropped altogether: neither declaration is taken as its owner, and the checks that would
        call it unregistered stay quiet (its code is returned). Of another section's entity the
        first declaration is kept for the checks of what refers to it only.
        """
        twice: set[str] = set()
        for (section, code), places in self.declared.items():
            if len(places) < 2:
                continue
            noun = ENTITY_TYPES[section].kind  # type: ignore[attr-defined]
            times = "twice" if len(places) == 2 else f"{len(places)} times"
            if section == "elements":
                twice.add(code)
                del self.sections[section][code]
            neither = "no owner is taken from either" if section == "elements" else "neither is the original"
            for place in places:
                others = ", ".join(str(p) for p in places if p is not place)
                self.problems.append(
                    Problem(
                        "GOV001",
                        f"{noun} code '{code}' is declared {times}: here and at {others}; "
                        f"{neither} — keep one",
                        place,
                    )
                )
        return frozenset(twice)

    def load_document(self, path: Path, shown: str, doc: LineDict) -> None:
        for key, value in doc.items():
            line = doc.key_line(key)
            if key == SETTINGS_KEY and path.parent == self.home:
                self.load_settings(shown, value, line)
            elif key in ENTITY_TYPES:
                if not isinstance(value, LineList):
                    self.problem("YAML003", f"section '{key}' must be a list of mappings", shown, line)
                    continue
                for index, item in enumerate(value):
                    self.load_entity(key, path, shown, item, value.item_line(index))
            else:
                where = "registry.yaml at the home's top" if key == SETTINGS_KEY else None
                self.problem(
                    "YAML002",
                    f"unknown section '{key}'",
                    shown,
                    line,
                    f"settings belong in {where}" if where else f"sections are: {', '.join(ENTITY_TYPES)}",
                )

    def load_settings(self, shown: str, value: Any, line: int) -> None:
        if not isinstance(value, LineDict):
            self.problem("YAML003", "'registry' must be a mapping", shown, line)
            return
        try:
            # located at its `center` key (or the mapping): GOV040 points there
            self.settings = Settings.model_validate(value).located(Location(shown, value.key_line("center")))
        except ValidationError as exc:
            self.report(exc, "registry settings", shown, value, Settings)

    # --- entities ----------------------------------------------------------------------------
    def load_entity(self, section: str, path: Path, shown: str, raw: Any, line: int) -> None:
        model = ENTITY_TYPES[section]
        noun = model.kind  # type: ignore[attr-defined]
        if not isinstance(raw, LineDict):
            self.problem("YAML003", f"each entry of '{section}' must be a mapping", shown, line)
            return
        data: dict[str, Any] = dict(raw)
        if section in ("views", "indicators"):
            self.attach_sql(path, shown, raw, data)
        file_lines: list[tuple[str, int]] = []  # where each code read from a code list's file is
        if section == "codelists" and raw.get("file"):
            file_lines = self.attach_codes(path, shown, raw, data)
        code = data.get("code")
        label = f"{noun} '{code}'" if code else f"a {noun}"
        try:
            entity = model.model_validate(data, context={"labels": self.settings.labels()})
        except ValidationError as exc:
            before = len(self.problems)
            self.report(exc, label, shown, raw, model)
            self.problems[before:] = [replace(p, rejected=True) for p in self.problems[before:]]
            if isinstance(code, str) and code:
                self.rejected.add((section, code))
            return
        entity.located(Location(shown, raw.line))
        self.locate_children(entity, shown, raw)
        if file_lines:
            values = entity.values  # type: ignore[attr-defined]
            for value, (file, number) in zip(
                values[len(values) - len(file_lines) :], file_lines, strict=True
            ):
                value.located(Location(file, number))
        key = entity.code  # type: ignore[attr-defined]
        self.declared.setdefault((section, key), []).append(Location(shown, raw.key_line("code")))
        self.sections[section].setdefault(key, entity)  # duplicates: see report_duplicates

    @staticmethod
    def locate_children(entity: Spec, shown: str, raw: LineDict) -> None:
        for name in ("columns", "elements", "stewards", "values"):
            children = getattr(entity, name, None)
            items = raw.get(name)
            if not children or not isinstance(items, LineList) or not isinstance(children[0], Spec):
                continue
            for index, child in enumerate(children):
                child.located(Location(shown, items.item_line(index)))

    def attach_sql(self, path: Path, shown: str, raw: LineDict, data: dict[str, Any]) -> None:
        sql = raw.get("sql")
        if not isinstance(sql, str):
            if raw.get("query") is None:
                self.problem("GOV019", "no SQL: give 'sql' (a file) or 'query' (inline)", shown, raw.line)
            return
        if raw.get("query") is not None:
            self.problem("YAML003", "give either 'sql' or 'query', not both", shown, raw.key_line("query"))
            return
        target = (path.parent / sql).resolve()
        try:
            data["query"] = target.read_text(encoding="utf-8-sig")
        except (OSError, UnicodeDecodeError) as exc:
            self.problem(
                "GOV019",
                f"SQL file '{sql}' cannot be read ({exc.__class__.__name__})",
                shown,
                raw.key_line("sql"),
            )

    def attach_codes(
        self, path: Path, shown: str, raw: LineDict, data: dict[str, Any]
    ) -> list[tuple[str, int]]:
        """A code list may name a file: ``code label`` lines (``.txt``, e.g. GB/T 2260), or a CSV
        (``.csv``, UTF-8) with a header row of ``code,label`` and optionally ``label_en``,
        ``valid_from``, ``valid_to`` and ``successor`` (dates as ``YYYY-MM-DD`` or a year alone).

        Returns, for each code read from the file, the file (as shown) and its line.
        """
        target = path.parent / str(raw["file"])
        try:
            text = target.read_text(encoding="utf-8-sig")
        except (OSError, UnicodeDecodeError) as exc:
            self.problem(
                "GOV002",
                f"code list file '{raw['file']}' cannot be read ({exc})",
                shown,
                raw.key_line("file"),
            )
            return []
        values = list(data.get("values") or [])
        if target.suffix.lower() == ".csv":
            found = self._csv_codes(text, str(raw["file"]), shown, raw)
            data["values"] = values + [v for v, _ in found]
            return [(display_path(target), line) for _, line in found]
        lines: list[tuple[str, int]] = []
        for number, line in enumerate(text.splitlines(), 1):
            parts = line.split(None, 1)
            if not parts or line.lstrip().startswith("#"):
                continue
            if len(parts) != 2:
                self.problem(
                    "YAML003", f"{raw['file']}:{number}: expected 'code label'", shown, raw.key_line("file")
                )
                continue
            values.append({"value": parts[0], "label": parts[1].strip()})
            lines.append((display_path(target), number))
        data["values"] = values
        return lines

    def _csv_codes(self, text: str, name: str, shown: str, raw: LineDict) -> list[tuple[dict[str, str], int]]:
        rows = list(csv.reader(io.StringIO(text)))
        header = [h.strip().lower() for h in rows[0]] if rows else []
        missing = [c for c in ("code", "label") if c not in header]
        unknown = [c for c in header if c not in CSV_CODE_COLUMNS]
        if missing or unknown:
            what = "; ".join(
                [f"missing column(s) {', '.join(missing)}"] * bool(missing)
                + [f"unknown column(s) {', '.join(unknown)}"] * bool(unknown)
            )
            self.problem(
                "YAML003",
                f"{name}:1: {what}; the header is code,label[,label_en][,valid_from][,valid_to][,successor]",
                shown,
                raw.key_line("file"),
            )
            return []
        out: list[tuple[dict[str, str], int]] = []
        for number, row in enumerate(rows[1:], 2):
            if not any(cell.strip() for cell in row):
                continue
            if len(row) != len(header):
                self.problem(
                    "YAML003",
                    f"{name}:{number}: {len(row)} fields, the header has {len(header)}",
                    shown,
                    raw.key_line("file"),
                )
                continue
            cells = {h: cell.strip() for h, cell in zip(header, row, strict=True) if cell.strip()}
            value = {"value" if h == "code" else h: cell for h, cell in cells.items()}
            out.append((value, number))
        return out

    def report(
        self,
        exc: ValidationError,
        label: str,
        shown: str,
        raw: LineDict,
        model: type[BaseModel] | None = None,
    ) -> None:
        errors = exc.errors(include_url=False)
        for error in errors:
            loc = error["loc"]
            if error["type"] == "too_short" and any(
                len(e["loc"]) > len(loc) and e["loc"][: len(loc)] == loc for e in errors
            ):
                continue  # pydantic counts only the items that validated; their own errors say why
            line = line_of(raw, loc)
            field = ".".join(str(p) for p in loc) or "(entry)"
            kind = error["type"]
            if kind == "extra_forbidden":
                guess = did_you_mean(str(loc[-1]), known_keys(model, loc[:-1])) if loc else None
                hint = f"; did you mean '{guess}'?" if guess else ""
                self.problem("YAML002", f"{label}: unknown key '{field}'{hint}", shown, line)
            elif kind == "missing":
                self.problem("YAML003", f"{label}: missing required field '{field}'", shown, line)
            elif kind == "one_owner":
                self.problem("GOV005", f"{label}: {error['msg']}", shown, line)
            else:
                message = str(error["msg"]).removeprefix("Value error, ")
                self.problem("YAML003", f"{label}: field '{field}': {message}", shown, line)


def known_keys(model: type[BaseModel] | None, loc: tuple[Any, ...]) -> list[str]:
    """The keys a model accepts at ``loc`` (walking nested models; list indexes are skipped)."""
    current: Any = model
    for part in loc:
        if isinstance(part, int):
            continue
        field = (
            current.model_fields.get(part)
            if isinstance(current, type) and issubclass(current, BaseModel)
            else None
        )
        if field is None:
            return []
        current = _model_in(field.annotation)
    if not (isinstance(current, type) and issubclass(current, BaseModel)):
        return []
    return [alias for name, f in current.model_fields.items() for alias in {name, f.alias or name}]


def _model_in(annotation: Any) -> Any:
    """The pydantic model inside a field's type (``Column``, ``list[Column]``, ``Steward | None``)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in typing.get_args(annotation):
        found = _model_in(arg)
        if found is not None:
            return found
    return None


def line_of(raw: Any, loc: tuple[Any, ...]) -> int:
    """The line of the deepest YAML node that a pydantic error location reaches."""
    line = raw.line if isinstance(raw, (LineDict, LineList)) else 0
    node = raw
    for part in loc:
        if isinstance(node, LineDict) and isinstance(part, str):
            line = node.key_line(part)
            node = node.get(part)
        elif isinstance(node, LineList) and isinstance(part, int):
            line = node.item_line(part)
            node = node[part] if part < len(node) else None
        else:
            break
    return line


def load_home(home: str | Path) -> tuple[Registry, list[Problem]]:
    """Load every declaration below ``home``; returns the registry and the shape problems.

    Governance rules are separate: see :func:`registry.rules.check_rules`.
    """
    loader = _Loader(Path(home))
    registry = loader.load()
    return registry, loader.problems


def suite_problems(home: str | Path, registry: Registry) -> list[Problem]:
    """Problems of the Great Expectations suites in ``<home>/suites`` (QA codes), if there are any.

    Great Expectations is imported only when the home has suites, and only when one of them is
    not known to pass already: a suite GX accepted is remembered (:class:`SuiteCheckCache`) by
    its exact bytes, the GX and govreg versions and its dataset's columns, so validating an
    unchanged home again does not pay for importing GX; any change to any of them checks again.
    """
    folder = Path(home) / "suites"
    files = sorted(folder.glob("*.json")) if folder.is_dir() else []
    if not files:
        return []
    cache = SuiteCheckCache.open()
    keys = {path: cache.key(path, registry) for path in files}
    if all(k is not None and cache.passed(k) for k in keys.values()):
        return []
    from expectations.suites import load_suites

    problems = load_suites(Path(home), registry)[1]
    failed = {p.location.file for p in problems}
    for path, key in keys.items():
        if key is not None and display_path(path) not in failed:
            cache.remember(key)
    cache.save()
    return problems


def _suite_code() -> bytes:
    """The source of govreg's suite loading and custom expectations: a checkout whose code changed
    without a new version number still checks its suites again. Found without importing it."""
    import importlib.util

    spec = importlib.util.find_spec("expectations")
    if spec is None or not spec.submodule_search_locations:
        return b""
    folder = Path(next(iter(spec.submodule_search_locations)))
    return b"".join(
        (folder / name).read_bytes() for name in ("suites.py", "custom.py") if (folder / name).is_file()
    )


class SuiteCheckCache:
    """Suites Great Expectations accepted, by content: ``$GOVREG_CACHE_DIR`` (default
    ``$XDG_CACHE_HOME/govreg``, else ``~/.cache/govreg``) ``/suite-checks.json``; set
    ``GOVREG_CACHE_DIR=off`` to check every suite every time. Only passes are remembered: a suite
    with a problem is checked again each time, and an unreadable cache is an empty one."""

    def __init__(self, path: Path | None, known: set[str]):
        self.path, self.known, self.changed = path, known, False
        self._salt: bytes | None = None

    @property
    def salt(self) -> bytes:
        """What every key shares, read once: GX's and govreg's versions and govreg's suite code.
        Empty when a version cannot be told (then no key is made)."""
        if self._salt is None:
            from importlib.metadata import PackageNotFoundError, version

            try:
                versions = f"{version('great_expectations')}/{version('govreg')}".encode()
            except PackageNotFoundError:
                versions = b""
            self._salt = versions + b"\0" + _suite_code() if versions else b""
        return self._salt

    @classmethod
    def open(cls) -> SuiteCheckCache:
        where = os.environ.get("GOVREG_CACHE_DIR")
        if where == "off":
            return cls(None, set())
        base = (
            Path(where)
            if where
            else Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "govreg"
        )
        path = base / "suite-checks.json"
        try:
            known = set(json.loads(path.read_text(encoding="utf-8")).get("passed", []))
        except (OSError, ValueError, AttributeError):
            known = set()
        return cls(path, known)

    def key(self, suite: Path, registry: Registry) -> str | None:
        """What a pass depends on: the suite's bytes, the dataset's columns and :attr:`salt`
        (govreg registers expectations of its own). None when it cannot be told."""
        dataset = registry.datasets.get(suite.stem)
        if dataset is None or self.path is None or not self.salt:
            return None
        try:
            content = suite.read_bytes()
        except OSError:
            return None
        columns = ",".join(sorted(c.element for c in dataset.columns))
        return hashlib.sha256(b"\0".join([content, columns.encode(), self.salt])).hexdigest()

    def passed(self, key: str) -> bool:
        return key in self.known

    def remember(self, key: str) -> None:
        if key not in self.known:
            self.known.add(key)
            self.changed = True

    def save(self) -> None:
        if self.path is None or not self.changed:
            return
        try:  # written whole or not at all; a cache that cannot be written is only slower
            self.path.parent.mkdir(parents=True, exist_ok=True)
            temporary = self.path.with_suffix(f".{os.getpid()}.tmp")
            temporary.write_text(json.dumps({"passed": sorted(self.known)[-10_000:]}), encoding="utf-8")
            os.replace(temporary, self.path)
        except OSError:
            pass


def check_home(home: str | Path, today: date | None = None) -> tuple[Registry, list[Problem]]:
    """Load a home and run every check on it: shape, governance rules and suites."""
    from registry.rules import check_rules

    registry, problems = load_home(home)
    problems += check_rules(registry, today)
    if not any(p.is_error and not p.dated for p in problems):  # the suites need a sound registry
        problems += suite_problems(home, registry)
    return registry, sort_problems(problems)


def load_valid_home(home: str | Path, today: date | None = None) -> tuple[Registry, list[Problem]]:
    """Load and check a home; raise :class:`DeclarationError` with all problems on any error that
    holds whatever the day (a broken declaration).

    Returns the registry and the rest: its warnings, and its date-driven errors (``Problem.dated``:
    an agreement that has ended or not begun), which stop only the assets they name
    (:func:`registry.rules.date_stops`), not every pipeline of the city. ``validate`` and ``apply``
    (:func:`check_home`) still count them as errors.
    """
    registry, problems = check_home(home, today)
    if any(p.is_error and not p.dated for p in problems):
        raise DeclarationError(problems)
    return registry, problems
