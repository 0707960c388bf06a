"""What a refused or set-aside value tells the department: the real value, the real file, the real code."""

from __future__ import annotations

from pathlib import Path

import duckdb

from ingest.stage import _reader_error
from tests.attacks.cities import Door, csv_text, rows


def test_the_rejects_table_holds_the_value_that_failed(door: Door) -> None:
    data = rows(40)
    for i, bad in ((3, "not a number"), (7, "12,5万"), (11, "壹佰")):
        data[i][2] = bad
    path = door.landing("ents") / "ents.csv"
    path.write_text(csv_text(data), encoding="utf-8")
    outcome = door.ingest("ents", path)
    assert outcome.record.rows_loaded == 37 and outcome.record.rows_rejected == 3
    found = door.con.execute("SELECT line, source_column, value FROM ents__rejects ORDER BY line").fetchall()
    assert found == [(5, "ZCZB", "not a number"), (9, "ZCZB", "12,5万"), (13, "ZCZB", "壹佰")]


def test_a_reader_error_on_a_decoded_gbk_copy_is_ing004_naming_the_real_file(
    tmp_path: Path, door: Door
) -> None:
    # GBK and GB18030 files are read from a UTF-8 copy named utf8.csv: an error DuckDB raises on
    # that copy is about the file's content, never "not valid UTF-8" (govreg wrote the copy)
    copy = tmp_path / "govreg-ents-x" / "utf8.csv"
    copy.parent.mkdir()
    copy.write_text("TYSHXYDM\nabc\n", encoding="utf-8")
    con = duckdb.connect()
    try:
        con.execute(
            f"SELECT * FROM read_csv('{copy}', header = true, auto_detect = false, "
            "columns = {'a': 'INTEGER'})"
        ).fetchall()
    except duckdb.Error as exc:
        error = _reader_error(
            exc, door.registry.datasets["ents"], "/landing/企业_GBK.csv", copy, transcoded=True
        )
    else:
        raise AssertionError("DuckDB read a non-number as INTEGER")
    finally:
        con.close()
    assert error.rule == "ING004", error
    assert "utf8.csv" not in str(error) and "企业_GBK.csv" in str(error)
