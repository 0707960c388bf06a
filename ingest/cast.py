"""From extract text to the element's type, in SQL that DuckDB runs.

Two ways: the CSV reader casts a column itself when it can (numbers, and dates or timestamps in
the file's one format), recording failures in its rejects table; everything else is cast in the
SELECT with ``TRY_CAST`` / ``try_strptime``, keeping the trimmed text beside the result so a
failed cast is counted, never silently turned into NULL.

>>> sql_literal("it's")
"'it''s'"
>>> text_cast(DataType.INTEGER, None, '"raw"')
'TRY_CAST("raw" AS BIGINT)'
"""

from __future__ import annotations

from registry.vocab import DataType

TRUE_WORDS = ("是", "真", "有", "已")
FALSE_WORDS = ("否", "假", "无", "未")


def sql_literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def target_type(data_type: DataType) -> str:
    """The warehouse column type of an element (binary data arrives as text in extracts)."""
    return "VARCHAR" if data_type == DataType.BINARY else data_type.duckdb_type


def reader_type(
    data_type: DataType, date_format: str | None, dateformat: str | None, timestampformat: str | None
) -> str | None:
    """The type the CSV reader may cast a column to, or None when the SELECT must do it."""
    if data_type.is_numeric:
        return target_type(data_type)
    if data_type in (DataType.STRING, DataType.MEMO, DataType.BINARY):
        return "VARCHAR"
    if data_type == DataType.DATE and date_format == dateformat:
        return "DATE"
    if data_type == DataType.DATETIME and date_format == timestampformat:
        return "TIMESTAMP"
    return None


def text_cast(data_type: DataType, date_format: str | None, raw: str) -> str:
    """SQL turning the trimmed text ``raw`` (an expression) into the element's type, NULL on failure."""
    if data_type in (DataType.STRING, DataType.MEMO, DataType.BINARY):
        return raw
    if data_type == DataType.BOOLEAN:
        yes = ", ".join(sql_literal(w) for w in TRUE_WORDS)
        no = ", ".join(sql_literal(w) for w in FALSE_WORDS)
        return (
            f"CASE WHEN {raw} IN ({yes}) THEN true WHEN {raw} IN ({no}) THEN false "
            f"ELSE TRY_CAST({raw} AS BOOLEAN) END"
        )
    if data_type == DataType.DATE and date_format:
        return f"TRY_CAST(try_strptime({raw}, {sql_literal(date_format)}) AS DATE)"
    if data_type == DataType.DATETIME and date_format:
        return f"try_strptime({raw}, {sql_literal(date_format)})"
    return f"TRY_CAST({raw} AS {target_type(data_type)})"


def typed_cast(data_type: DataType, date_format: str | None, ref: str, source_type: str) -> tuple[str, str]:
    """(cast expression, text of the source value) for a column of a typed source (Parquet, JSON)."""
    if source_type.upper() == "JSON":  # mixed types in one key: '"0.01"' must be read as 0.01
        raw = f"NULLIF(trim(json_extract_string({ref}, '$')), '')"
        return text_cast(data_type, date_format, raw), raw
    if source_type.upper() in ("VARCHAR", "STRING", "TEXT"):
        raw = f"NULLIF(trim(CAST({ref} AS VARCHAR)), '')"
        return text_cast(data_type, date_format, raw), raw
    raw = f"CAST({ref} AS VARCHAR)"
    target = target_type(data_type)
    if target == "VARCHAR":
        return raw, raw
    return f"TRY_CAST({ref} AS {target})", raw
