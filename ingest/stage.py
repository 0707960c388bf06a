"""Build the staging table of one extract, counting every value that could not be cast.

CSV goes through DuckDB's reader with explicit column types and ``store_rejects``, so numbers,
dates and timestamps are cast by the reader at full speed and every failure is recorded with
its line; text is trimmed; other casts run in the SELECT with the trimmed text kept beside them.
Parquet, JSON and spreadsheets are read as they come and cast in the SELECT.
"""

from __future__ import annotations

import csv
import io
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import pyarrow as pa

from ingest.cast import ident, reader_type, sql_literal, target_type, text_cast, typed_cast
from ingest.door import match_header
from ingest.errors import IngestError
from ingest.read import csv_header, excel_table, normalize_name, transcode
from registry.home import Registry
from registry.model import Dataset
from registry.vocab import DataType, Encoding, ExtractFormat

_LINE = re.compile(r"Line: (\d+)")
INSERT_COLUMNS = "load_id, file, line, source_column, element, error, value, record"
REJECTS_COLUMNS = (
    "load_id VARCHAR, file VARCHAR, line BIGINT, source_column VARCHAR, element VARCHAR, "
    "error VARCHAR, value VARCHAR, record VARCHAR, rejected_at TIMESTAMP DEFAULT current_timestamp"
)


@dataclass
class Staged:
    """A staging table built; what was rejected on the way, per source column."""

    table: str
    rows_in: int
    rows_rejected: int
    failures: Counter[str]
    absent: tuple[str, ...]
    first_failure_line: int | None = None
    reader_rejects: str | None = None  # DuckDB's rejects table for the CSV reader's own casts
    checks: list[tuple[str, str, str, str]] = field(default_factory=list)  # (raw, column, source, element)
    key: list[str] = field(default_factory=list)
    temp_tables: list[str] = field(default_factory=list)
    rows_blank: int = 0  # rows of empty fields only: not data, dropped and counted
    delimiter: str = ","

    def cleanup(self, con: duckdb.DuckDBPyConnection) -> None:
        for name in self.temp_tables:
            con.execute(f"DROP TABLE IF EXISTS {ident(name)}")

    def write_rejects(self, con: duckdb.DuckDBPyConnection, code: str, load_id: str, file: str) -> str:
        """Move rejected rows to ``<code>__rejects`` (appending, with the load id) and out of staging."""
        rejects = f"{code}__rejects"
        con.execute(f"CREATE TABLE IF NOT EXISTS {ident(rejects)} ({REJECTS_COLUMNS})")
        if self.reader_rejects:
            found = con.execute(
                f"SELECT line, source_column, element, error_message, csv_line, column_idx "
                f"FROM {self.reader_rejects} ORDER BY line"
            ).fetchall()
            failed = pa.table(
                {
                    "line": pa.array([r[0] for r in found], pa.int64()),
                    "source_column": pa.array([r[1] for r in found], pa.string()),
                    "element": pa.array([r[2] for r in found], pa.string()),
                    "error": pa.array([r[3] for r in found], pa.string()),
                    "value": pa.array([_field(r[4], r[5], self.delimiter) for r in found], pa.string()),
                    "record": pa.array([r[4] for r in found], pa.string()),
                }
            )
            view = f"__rejected_values_{load_id}"
            con.register(view, failed)
            try:
                con.execute(
                    f"INSERT INTO {ident(rejects)} ({INSERT_COLUMNS}) SELECT ?, ?, line, source_column, "
                    f"element, error, value, record FROM {ident(view)}",
                    [load_id, file],
                )
            finally:
                con.unregister(view)
        record = (
            "json_object(" + ", ".join(f"{sql_literal(k)}, {ident(k)}" for k in self.key) + ")::VARCHAR"
            if self.key
            else "NULL"
        )
        for raw, column, source, element in self.checks:
            con.execute(
                f"INSERT INTO {ident(rejects)} ({INSERT_COLUMNS}) "
                f"SELECT ?, ?, NULL, ?, ?, 'cannot cast to the element type', {ident(raw)}, {record} "
                f"FROM {ident(self.table)} WHERE {ident(raw)} IS NOT NULL AND {ident(column)} IS NULL",
                [load_id, file, source, element],
            )
        if self.checks:
            bad = " OR ".join(
                f"({ident(r)} IS NOT NULL AND {ident(c)} IS NULL)" for r, c, _, _ in self.checks
            )
            con.execute(f"DELETE FROM {ident(self.table)} WHERE {bad}")
        _drop_raw(con, self)
        return rejects


def _field(line: str | None, column: int | None, delimiter: str) -> str | None:
    """The ``column``-th (1-based) field of one CSV line as the reader saw it: the value that failed."""
    if line is None or not column:
        return None
    try:
        fields = next(csv.reader(io.StringIO(line.rstrip("\r\n")), delimiter=delimiter), [])
    except csv.Error:  # not one record after all: the whole line is in ``record``
        return None
    return fields[column - 1] if column <= len(fields) else None


def _key_elements(ds: Dataset) -> list[str]:
    found = (ds.column_for(k) for k in ds.key)
    return [c.element for c in found if c is not None]


def _drop_raw(con: duckdb.DuckDBPyConnection, staged: Staged) -> None:
    for raw, *_ in staged.checks:
        con.execute(f"ALTER TABLE {ident(staged.table)} DROP COLUMN {ident(raw)}")


def _door(registry: Registry, ds: Dataset, header: list[str], shown: str) -> dict[int, int]:
    required = {c.name for i, c in enumerate(ds.columns) if registry.column_required(ds, i)}
    match = match_header(ds, header, required)
    if match.duplicated:
        raise IngestError(
            "ING007",
            f"headers named twice: {', '.join(match.duplicated)}",
            dataset=ds.code,
            file=shown,
            line=1,
            columns=match.duplicated,
        )
    if match.unknown:
        raise IngestError(
            "ING001",
            f"columns {', '.join(match.unknown)} map to no registered element",
            dataset=ds.code,
            file=shown,
            line=1,
            columns=match.unknown,
            hint="register the elements and map these columns in the dataset's declaration "
            "(then govreg apply), or drop them from the extract",
        )
    if match.missing_required:
        raise IngestError(
            "ING002",
            f"required columns {', '.join(match.missing_required)} are missing",
            dataset=ds.code,
            file=shown,
            line=1,
            columns=match.missing_required,
        )
    return match.positions


def _drop_blank(con: duckdb.DuckDBPyConnection, table: str) -> int:
    """Delete the rows whose every field is empty (a header followed by ``,,,`` lines); how many."""
    columns = [r[0] for r in con.execute(f"DESCRIBE {ident(table)}").fetchall()]
    empty = " AND ".join(f"{ident(c)} IS NULL" for c in columns)
    deleted = con.execute(f"DELETE FROM {ident(table)} WHERE {empty}").fetchone()
    return int(deleted[0]) if deleted else 0


def _common(values: list[str | None]) -> str | None:
    present = [v for v in values if v]
    return Counter(present).most_common(1)[0][0] if present else None


def _count_checks(con: duckdb.DuckDBPyConnection, staged: Staged) -> tuple[int, int, Counter[str]]:
    """(rows in staging, rows with a failed cast, failures per source column)."""
    parts = ["count(*)"]
    parts += [
        f"count(*) FILTER (WHERE {ident(r)} IS NOT NULL AND {ident(c)} IS NULL)"
        for r, c, _, _ in staged.checks
    ]
    if staged.checks:
        bad = " OR ".join(f"({ident(r)} IS NOT NULL AND {ident(c)} IS NULL)" for r, c, _, _ in staged.checks)
        parts.append(f"count(*) FILTER (WHERE {bad})")
    row = con.execute(f"SELECT {', '.join(parts)} FROM {ident(staged.table)}").fetchone()
    assert row is not None
    failures: Counter[str] = Counter()
    for (_, _, source, _), n in zip(staged.checks, row[1:], strict=False):
        if n:
            failures[source] += int(n)
    return int(row[0]), int(row[-1]) if staged.checks else 0, failures


def stage_csv(
    registry: Registry,
    ds: Dataset,
    path: Path,
    con: duckdb.DuckDBPyConnection,
    staging: str,
    workdir: Path,
    load_id: str,
    shown: str,
) -> Staged:
    source = path
    if ds.encoding in (Encoding.GBK, Encoding.GB18030):
        source = workdir / "utf8.csv"
        transcode(path, str(ds.encoding), source, dataset=ds.code, shown=shown)
    header = csv_header(source, ds.delimiter, dataset=ds.code, shown=shown)
    positions = _door(registry, ds, header, shown)
    elements = [registry.elements[c.element] for c in ds.columns]
    dateformat = _common([e.domain.date_format for e in elements if e.type == DataType.DATE])
    tsformat = _common([e.domain.date_format for e in elements if e.type == DataType.DATETIME])
    types = ["VARCHAR"] * len(header)
    select: list[str] = []
    staged = Staged(staging, 0, 0, Counter(), (), key=_key_elements(ds), delimiter=ds.delimiter)
    absent = []
    for i, (column, element) in enumerate(zip(ds.columns, elements, strict=True)):
        out = ident(column.element)
        if i not in positions:
            absent.append(column.name)
            select.append(f"CAST(NULL AS {target_type(element.type)}) AS {out}")
            continue
        src = f"c{positions[i]}"
        rtype = reader_type(element.type, element.domain.date_format, dateformat, tsformat)
        if rtype == "VARCHAR":
            select.append(f"NULLIF(trim({src}), '') AS {out}")
        elif rtype is not None:
            types[positions[i]] = rtype
            select.append(f"{src} AS {out}")
        else:
            raw = f"__raw_{i}"
            trimmed = f"NULLIF(trim({src}), '')"
            select.append(f"{text_cast(element.type, element.domain.date_format, trimmed)} AS {out}")
            select.append(f"{trimmed} AS {ident(raw)}")
            staged.checks.append((raw, column.element, column.name, column.element))
    staged.absent = tuple(absent)
    rejects, scan = f"__rejects_{load_id}", f"__rejects_scan_{load_id}"
    options = [
        "header = true",
        "auto_detect = false",
        f"delim = {sql_literal(ds.delimiter)}",
        "quote = '\"'",
        "escape = '\"'",
        "store_rejects = true",
        f"rejects_table = '{rejects}'",
        f"rejects_scan = '{scan}'",
        "columns = {" + ", ".join(f"'c{i}': '{t}'" for i, t in enumerate(types)) + "}",
    ]
    if dateformat:
        options.append(f"dateformat = {sql_literal(dateformat)}")
    if tsformat:
        options.append(f"timestampformat = {sql_literal(tsformat)}")
    reader = f"read_csv({sql_literal(str(source))}, {', '.join(options)})"
    try:
        con.execute(f"CREATE TABLE {ident(staging)} AS SELECT {', '.join(select)} FROM {reader}")
    except duckdb.Error as exc:
        raise _reader_error(exc, ds, shown, source, transcoded=source != path) from exc
    staged.rows_blank = _drop_blank(con, staging)
    # what the reader set aside: malformed lines fail the load; cast failures are counted
    names = {f"c{p}": (ds.columns[i].name, ds.columns[i].element) for i, p in positions.items()}
    errors = con.execute(
        f"SELECT line, column_name, error_type, error_message FROM {rejects} ORDER BY line"
    ).fetchall()
    malformed = [e for e in errors if e[2] != "CAST"]
    if malformed:
        line, _, kind, message = malformed[0]
        invalid = kind in ("INVALID UNICODE", "INVALID ENCODING") and source == path  # name by version
        code = "ING003" if invalid else "ING004"
        hint = (
            "declare encoding: gbk (or gb18030), or re-export the file as UTF-8" if code == "ING003" else None
        )
        raise IngestError(
            code,
            f"{len(malformed)} malformed line(s), first: {message}",
            dataset=ds.code,
            file=shown,
            line=int(line),
            hint=hint,
        )
    staged.temp_tables += [rejects, scan]
    cast_lines = {e[0] for e in errors}
    rows_in, bad_rows, failures = _count_checks(con, staged)
    for _, column, _, _ in errors:
        failures[names.get(column, (column, ""))[0]] += 1
    lines = sorted(cast_lines)
    staged.first_failure_line = lines[0] if lines else None
    if errors:
        con.execute(
            f"CREATE TEMP TABLE {ident(rejects + '_named')} AS SELECT e.line, m.source_column, m.element, "
            f"e.error_message, e.csv_line, e.column_idx FROM {rejects} e LEFT JOIN (SELECT * FROM (VALUES "
            + ", ".join(
                f"({sql_literal(c)}, {sql_literal(s)}, {sql_literal(el)})" for c, (s, el) in names.items()
            )
            + ") v(col, source_column, element)) m ON m.col = e.column_name"
        )
        staged.reader_rejects = ident(rejects + "_named")
        staged.temp_tables.append(rejects + "_named")
    staged.rows_in = rows_in + len(cast_lines)
    staged.rows_rejected = len(cast_lines) + bad_rows
    staged.failures = failures
    if not staged.failures:
        _drop_raw(con, staged)
    return staged


def _reader_error(
    exc: duckdb.Error, ds: Dataset, shown: str, read: Path | None = None, transcoded: bool = False
) -> IngestError:
    """The reader's error as ING003 (encoding) or ING004 (anything else), naming the department's file.

    ``read`` is the file DuckDB read, when it is a decoded copy of ``shown`` (GBK and GB18030): its
    name is replaced by the real one, and since govreg wrote that copy as UTF-8 itself, an error
    reading it is never an encoding error of the department's file.
    """
    text = str(exc)
    if read is not None:
        text = text.replace(str(read), shown)
    match = _LINE.search(text)
    line = int(match.group(1)) if match else 0
    first = text.splitlines()[0] if text else exc.__class__.__name__
    probe = text.replace(shown, "").lower()  # a file named utf8.csv is no encoding error
    about_encoding = not transcoded and any(word in probe for word in ("unicode", "utf-8", "utf8"))
    if about_encoding:
        return IngestError(
            "ING003",
            f"not valid UTF-8 ({first})",
            dataset=ds.code,
            file=shown,
            line=line,
            hint="declare encoding: gbk (or gb18030), or re-export the file as UTF-8",
        )
    return IngestError("ING004", f"cannot be read: {first}", dataset=ds.code, file=shown, line=line)


def stage_typed(
    registry: Registry,
    ds: Dataset,
    path: Path,
    con: duckdb.DuckDBPyConnection,
    staging: str,
    load_id: str,
    shown: str,
) -> Staged:
    """Parquet, JSON (newline-delimited or an array of records) and spreadsheets."""
    view = f"__source_{load_id}"
    if ds.format == ExtractFormat.EXCEL:
        formats = {
            name: fmt
            for column in ds.columns
            if (fmt := registry.elements[column.element].domain.date_format)
            for name in (column.name, column.element)
        }
        header, table = excel_table(
            path,
            ds.sheet,
            dataset=ds.code,
            shown=shown,
            date_formats=formats,
            max_mb=registry.settings.max_unpacked_mb,
            max_ratio=registry.settings.max_unpacked_ratio,
        )
        con.register(view, table)
        refs = [f"c{i}" for i in range(len(header))]
        types = ["VARCHAR"] * len(header)
    else:
        reader = (
            f"read_parquet({sql_literal(str(path))})"
            if ds.format == ExtractFormat.PARQUET
            else f"read_json({sql_literal(str(path))}, format = 'auto')"
        )
        try:
            described = con.execute(f"DESCRIBE SELECT * FROM {reader}").fetchall()
            con.execute(f"CREATE TEMP VIEW {ident(view)} AS SELECT * FROM {reader}")
        except duckdb.Error as exc:
            raise _reader_error(exc, ds, shown) from exc
        header = [normalize_name(d[0]) for d in described]
        refs = [ident(d[0]) for d in described]
        types = [str(d[1]) for d in described]
    positions = _door(registry, ds, header, shown)
    select: list[str] = []
    staged = Staged(staging, 0, 0, Counter(), (), key=_key_elements(ds))
    absent = []
    for i, column in enumerate(ds.columns):
        element = registry.elements[column.element]
        out = ident(column.element)
        if i not in positions:
            absent.append(column.name)
            select.append(f"CAST(NULL AS {target_type(element.type)}) AS {out}")
            continue
        cast, raw_text = typed_cast(
            element.type, element.domain.date_format, refs[positions[i]], types[positions[i]]
        )
        select.append(f"{cast} AS {out}")
        if target_type(element.type) != "VARCHAR":
            raw = f"__raw_{i}"
            select.append(f"{raw_text} AS {ident(raw)}")
            staged.checks.append((raw, column.element, column.name, column.element))
        elif types[positions[i]].upper() == "VARCHAR":
            select[-1] = f"NULLIF(trim({refs[positions[i]]}), '') AS {out}"
    staged.absent = tuple(absent)
    try:
        con.execute(f"CREATE TABLE {ident(staging)} AS SELECT {', '.join(select)} FROM {ident(view)}")
    except duckdb.Error as exc:
        raise _reader_error(exc, ds, shown) from exc
    finally:
        if ds.format == ExtractFormat.EXCEL:
            con.unregister(view)
        else:
            con.execute(f"DROP VIEW IF EXISTS {ident(view)}")
    staged.rows_blank = _drop_blank(con, staging)
    staged.rows_in, staged.rows_rejected, staged.failures = _count_checks(con, staged)
    if not staged.failures:
        _drop_raw(con, staged)
    return staged
