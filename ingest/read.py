"""Getting an extract into a shape DuckDB reads: decoding, headers, spreadsheets.

DuckDB reads UTF-8 CSV, Parquet and JSON itself. GBK and GB18030 need its encodings extension,
which it would download at run time, so those files are decoded here to a UTF-8 copy in a
stream (never whole in memory). Spreadsheets are read with openpyxl in read-only mode.
"""

from __future__ import annotations

import codecs
import csv
import unicodedata
import zipfile
from collections.abc import Mapping
from datetime import date, datetime, time
from pathlib import Path
from typing import Any

import pyarrow as pa

from ingest.errors import IngestError

CHUNK = 1 << 22
UTF8_BOM = codecs.BOM_UTF8


def normalize_name(name: object) -> str:
    """A header as departments mean it: full-width folded (NFKC), BOM and spaces trimmed."""
    text = "" if name is None else str(name)
    return unicodedata.normalize("NFKC", text).replace("\ufeff", "").strip()


def _looks_utf8(sample: bytes) -> bool:
    """Valid UTF-8 with non-ASCII bytes: almost never true of GBK text of any length."""
    if sample.isascii():
        return False
    try:
        sample.decode("utf-8")
    except UnicodeDecodeError as exc:
        return exc.start >= len(sample) - 3  # only a character cut at the sample's end
    return True


def transcode(src: Path, encoding: str, dest: Path, *, dataset: str, shown: str) -> None:
    """Decode a GBK/GB18030 file to UTF-8 in chunks; refuse a file that is not that encoding."""
    with src.open("rb") as f:
        head = f.read(1 << 16)
    if head.startswith(UTF8_BOM) or _looks_utf8(head):
        raise IngestError(
            "ING003",
            f"declared {encoding} but the file is UTF-8",
            dataset=dataset,
            file=shown,
            line=1,
            hint="declare encoding: utf-8 (or utf-8-sig) for this dataset, or "
            f"re-export the file in {encoding}",
        )
    decoder = codecs.getincrementaldecoder(encoding)("strict")
    line = 1
    with src.open("rb") as f, dest.open("wb") as out:
        while chunk := f.read(CHUNK):
            try:
                text = decoder.decode(chunk)
            except UnicodeDecodeError as exc:
                at = line + chunk.count(b"\n", 0, max(exc.start, 0))
                raise IngestError(
                    "ING003",
                    f"bytes {exc.object[exc.start : exc.end]!r} are not valid {encoding}",
                    dataset=dataset,
                    file=shown,
                    line=at,
                ) from exc
            line += chunk.count(b"\n")
            out.write(text.encode("utf-8"))
        try:
            out.write(decoder.decode(b"", final=True).encode("utf-8"))
        except UnicodeDecodeError as exc:
            raise IngestError(
                "ING003",
                f"the file ends inside a {encoding} character (truncated?)",
                dataset=dataset,
                file=shown,
                line=line,
            ) from exc


def csv_header(path: Path, delimiter: str, *, dataset: str, shown: str) -> list[str]:
    """The header row of a UTF-8 CSV file (BOM tolerated), names normalised."""
    with path.open("rb") as f:
        first = f.readline(1 << 20)
    if not first.strip():
        raise IngestError("ING006", "the file is empty", dataset=dataset, file=shown, line=1)
    try:
        text = first.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise IngestError(
            "ING003",
            "the header is not valid UTF-8 (is the file GBK?)",
            dataset=dataset,
            file=shown,
            line=1,
            hint="declare encoding: gbk (or gb18030) for this dataset, or re-export the file as UTF-8",
        ) from exc
    row = next(csv.reader([text.rstrip("\r\n")], delimiter=delimiter))
    return [normalize_name(name) for name in row]


def _cell_text(value: Any, date_format: str | None = None) -> str | None:
    if value is None:
        return None
    if date_format and isinstance(value, date):  # a date cell, shown as the element's format says
        return value.strftime(date_format)
    if isinstance(value, datetime):
        return value.date().isoformat() if value.time() == time(0) else value.isoformat(sep=" ")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def check_unpacked_size(path: Path, *, max_mb: float, max_ratio: float, dataset: str, shown: str) -> None:
    """ING009 when a zip (an .xlsx) would unpack beyond ``max_mb`` or ``max_ratio`` times its size.

    Read from the zip's central directory before anything is decompressed; each member is also
    Python's zipfile stops a member that inflates past its declared size, so a directory that
    lies about sizes fails the read (ING004) instead of filling memory.
    """
    try:
        with zipfile.ZipFile(path) as archive:
            unpacked = sum(info.file_size for info in archive.infolist())
    except (zipfile.BadZipFile, OSError):
        return  # not a zip: openpyxl's own error (ING004) says so
    packed = max(path.stat().st_size, 1)
    limit = min(max_mb * 1e6, packed * max_ratio)
    if unpacked > limit:
        raise IngestError(
            "ING009",
            f"the workbook unpacks to {unpacked / 1e6:.1f} MB, {unpacked / packed:.0f} times its "
            f"{packed / 1e3:.0f} KB (bounds: {max_mb:g} MB, {max_ratio:g} times)",
            dataset=dataset,
            file=shown,
        )


def excel_table(
    path: Path,
    sheet: str | None,
    *,
    dataset: str,
    shown: str,
    date_formats: Mapping[str, str] | None = None,
    max_mb: float = 512.0,
    max_ratio: float = 100.0,
) -> tuple[list[str], pa.Table]:
    """A sheet as text columns (cells typed by Excel are written as the text they show).

    ``date_formats`` maps a header to the date format of its element: a date cell under it is
    written in that format, so the element's own format reads it back. The sheet's
    ``<dimension>`` tag is not trusted (a writer may leave it wrong): every row is read.
    """
    from openpyxl import load_workbook

    check_unpacked_size(path, max_mb=max_mb, max_ratio=max_ratio, dataset=dataset, shown=shown)
    try:
        book = load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises zipfile, KeyError, InvalidFileException...
        raise IngestError(
            "ING004",
            f"not a readable .xlsx workbook ({exc.__class__.__name__}: {exc})",
            dataset=dataset,
            file=shown,
        ) from exc
    try:
        if sheet is not None and sheet not in book.sheetnames:
            raise IngestError(
                "ING004",
                f"no sheet named '{sheet}' (sheets: {', '.join(book.sheetnames)})",
                dataset=dataset,
                file=shown,
            )
        worksheet = book[sheet] if sheet else book.worksheets[0]
        worksheet.reset_dimensions()  # read to the last row, whatever <dimension> claims
        rows = worksheet.iter_rows(values_only=True)
        header = next(rows, None)
        names = [normalize_name(h) for h in header or ()]
        while names and not names[-1]:  # read-only rows run to the sheet's widest row: trim blanks
            names.pop()
        if not names:
            raise IngestError("ING006", "the sheet is empty", dataset=dataset, file=shown, line=1)
        width = len(names)
        formats = [(date_formats or {}).get(name) for name in names]
        columns: list[list[str | None]] = [[] for _ in range(width)]
        for number, row in enumerate(rows, start=2):
            if len(row) > width and any(v is not None for v in row[width:]):
                raise IngestError(
                    "ING004",
                    f"row has {len(row)} cells but the header {width}",
                    dataset=dataset,
                    file=shown,
                    line=number,
                )
            if all(v is None for v in row):
                continue
            for i in range(width):
                columns[i].append(_cell_text(row[i], formats[i]) if i < len(row) else None)
    finally:
        book.close()
    return names, pa.table({f"c{i}": pa.array(col, pa.string()) for i, col in enumerate(columns)})
