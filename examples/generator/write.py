"""Write a generated table in a dataset's declared format, encoding and delimiter.

- CSV: pyarrow's writer without quoting (a value that needs quotes falls back to quoting only
  those), header written by us; GBK / GB18030 transcoded from UTF-8 in 1 MiB chunks;
  ``utf-8-sig`` starts with a BOM.
- Excel: xlsxwriter in constant-memory mode, numbers as numbers, text as text, with a fixed
  creation time so the file is byte-identical between runs.
- Parquet: pyarrow, typed columns (string, int64, double, bool), snappy compression.
- JSON: newline-delimited records (one JSON object per line) in a ``.json`` file, written by
  DuckDB; null values are written as ``null``.
"""

from __future__ import annotations

import codecs
import os
from datetime import datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pcsv
import pyarrow.parquet as pq

EXTENSIONS = {"csv": "csv", "excel": "xlsx", "parquet": "parquet", "json": "json"}
CHUNK = 1 << 20
_FIXED_TIME = datetime(2024, 1, 1)


def transcode(source: Path, target: Path, encoding: str) -> None:
    """Stream a UTF-8 file into ``encoding`` (BOM first for utf-8-sig)."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    encoder = codecs.getincrementalencoder(encoding)()
    with source.open("rb") as src, target.open("wb") as dst:
        while chunk := src.read(CHUNK):
            dst.write(encoder.encode(decoder.decode(chunk)))
        dst.write(encoder.encode(decoder.decode(b"", final=True), final=True))


def _as_text(table: pa.Table) -> pa.Table:
    columns = [c if pa.types.is_string(c.type) else pc.cast(c, pa.string()) for c in table.columns]
    return pa.table(columns, names=table.column_names)


def _header(names: list[str], delimiter: str) -> str:
    def quote(name: str) -> str:
        return f'"{name.replace(chr(34), chr(34) * 2)}"' if delimiter in name or '"' in name else name

    return delimiter.join(quote(n) for n in names) + "\n"


def write_csv(table: pa.Table, path: Path, encoding: str, delimiter: str) -> None:
    utf8 = path if encoding == "utf-8" else path.with_name(path.name + ".utf8.tmp")
    text = _as_text(table)
    with utf8.open("wb") as out:
        out.write(_header(table.column_names, delimiter).encode())
        try:
            options = pcsv.WriteOptions(include_header=False, delimiter=delimiter, quoting_style="none")
            pcsv.write_csv(text, out, options)
        except pa.ArrowInvalid:
            out.seek(0)
            out.truncate()
            out.write(_header(table.column_names, delimiter).encode())
            options = pcsv.WriteOptions(include_header=False, delimiter=delimiter, quoting_style="needed")
            pcsv.write_csv(text, out, options)
    if utf8 != path:
        transcode(utf8, path, encoding)
        os.remove(utf8)


def write_excel(table: pa.Table, path: Path, sheet: str | None) -> None:
    import xlsxwriter

    workbook = xlsxwriter.Workbook(
        str(path),
        {
            "constant_memory": True,
            "strings_to_numbers": False,
            "strings_to_formulas": False,
            "strings_to_urls": False,
        },
    )
    workbook.set_properties({"created": _FIXED_TIME})
    sheet_obj = workbook.add_worksheet(sheet or "Sheet1")
    sheet_obj.write_row(0, 0, table.column_names)
    columns = [c.to_pylist() for c in table.columns]
    kinds = [pa.types.is_string(c.type) for c in table.columns]
    for r, row in enumerate(zip(*columns, strict=True), start=1):
        for c, value in enumerate(row):
            if value is None:
                continue
            if kinds[c]:
                sheet_obj.write_string(r, c, value)
            elif isinstance(value, bool):
                sheet_obj.write_boolean(r, c, value)
            else:
                sheet_obj.write_number(r, c, value)
    workbook.close()


def write_json(table: pa.Table, path: Path, encoding: str) -> None:
    import duckdb

    utf8 = path if encoding == "utf-8" else path.with_name(path.name + ".utf8.tmp")
    con = duckdb.connect()
    try:
        con.execute("SET preserve_insertion_order = true")
        con.register("extract", table)
        con.execute(f"COPY extract TO '{utf8.as_posix()}' (FORMAT JSON)")
    finally:
        con.close()
    if utf8 != path:
        transcode(utf8, path, encoding)
        os.remove(utf8)


def write_table(
    table: pa.Table, path: Path, fmt: str, encoding: str, delimiter: str, sheet: str | None
) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if fmt == "csv":
        write_csv(table, path, encoding, delimiter)
    elif fmt == "excel":
        write_excel(table, path, sheet)
    elif fmt == "parquet":
        pq.write_table(table, path, compression="snappy")
    else:
        write_json(table, path, encoding)
    # the completion marker a department's transfer writes once the file is whole (completion: marker)
    path.with_name(path.name + ".done").touch()
