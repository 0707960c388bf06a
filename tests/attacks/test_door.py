"""No partial, oversized or foreign file goes live: the door of ingestion under attack.

Each attack sends a file that parses, through the same function the Dagster asset calls
(:func:`ingest.ingest_file`) with a real DuckDB file and a real metadata store, or
through the real landing sensor; the promise is that it is read whole or refused with its code,
and that a refusal changes nothing.
"""

from __future__ import annotations

import os
import re
import tracemalloc
import zipfile
from pathlib import Path
from typing import Any

import dagster as dg
from openpyxl import Workbook

from pipelines.definitions import build_definitions
from pipelines.resources import Settings, landing_files
from tests.attacks.cities import HEAD, Door, csv_text, make_door, rows


def workbook(path: Path, data: list[list[str]]) -> Path:
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(HEAD)
    for row in data:
        sheet.append(row)
    book.save(path)
    return path


def rewrite_member(path: Path, member: str, change: Any) -> None:
    """Rewrite one member of a zip (an .xlsx), keeping the others byte for byte."""
    with zipfile.ZipFile(path) as src:
        members = [(info, src.read(info)) for info in src.infolist()]
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as out:
        for info, data in members:
            if info.filename == member:
                change(out, info)
            else:
                out.writestr(info, data)


def test_an_xlsx_whose_dimension_tag_lies_is_read_whole(door: Door) -> None:
    path = workbook(door.landing("ents_xlsx") / "ents.xlsx", rows(256))
    with zipfile.ZipFile(path) as z:
        xml = z.read("xl/worksheets/sheet1.xml").decode()
    lying = re.sub(r'<dimension ref="[^"]+"', '<dimension ref="A1:C11"', xml)
    assert lying != xml
    rewrite_member(path, "xl/worksheets/sheet1.xml", lambda out, info: out.writestr(info, lying))
    outcome = door.ingest("ents_xlsx", path)
    assert outcome.record.rows_loaded == 256  # not the 10 the tag claims
    assert door.count("ents_xlsx") == 256


def test_an_xlsx_that_unpacks_a_hundredfold_is_refused_before_it_is_read(door: Door) -> None:
    path = workbook(door.landing("ents_xlsx") / "bomb.xlsx", rows(5))
    junk = '<row><c t="inlineStr"><is><t>junk</t></is></c></row>' * 50_000  # row numbers are optional

    def bomb(out: zipfile.ZipFile, info: zipfile.ZipInfo) -> None:
        with out.open(info.filename, "w") as member:
            member.write(
                b'<?xml version="1.0"?><worksheet xmlns="http://schemas.openxmlformats.org/'
                b'spreadsheetml/2006/main"><sheetData>'
            )
            for _ in range(16):  # 800,000 rows of junk: about 40 MB of XML in well under 1 MB
                member.write(junk.encode())
            member.write(b"</sheetData></worksheet>")

    rewrite_member(path, "xl/worksheets/sheet1.xml", bomb)
    with zipfile.ZipFile(path) as z:
        assert sum(i.file_size for i in z.infolist()) > 100 * path.stat().st_size
    tracemalloc.start()
    try:
        error = door.refused("ents_xlsx", path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert error.rule == "ING009", error
    assert peak < 20_000_000  # refused from the zip's directory, not after inflating 40 MB
    assert door.count("ents_xlsx") is None
    assert door.last_load("ents_xlsx")["status"] == "rejected"


def test_a_symbolic_link_in_a_landing_folder_is_refused_and_never_followed(door: Door) -> None:
    secret = door.root / "elsewhere" / "other_departments_data.csv"
    secret.parent.mkdir()
    secret.write_text(csv_text(rows(40)), encoding="utf-8")  # content the dataset would accept
    link = door.landing("ents") / "ents.csv"
    link.symlink_to(secret)
    assert landing_files(door.data, door.registry.datasets["ents"]) == [link]  # listed, to be refused
    error = door.refused("ents", link)
    assert error.rule == "ING010", error
    assert door.count("ents") is None  # nothing read through the link
    assert secret.read_text(encoding="utf-8") == csv_text(rows(40))  # the target is untouched, in place
    quarantined = Path(error.quarantined_to or "")
    assert quarantined.is_symlink() and not link.exists()  # the link itself was moved aside
    record = door.last_load("ents")
    assert record["status"] == "rejected" and record["rule_code"] == "ING010" and not record["sha256"]


def test_a_file_written_to_while_it_is_read_is_refused_and_left_in_place(door: Door) -> None:
    path = door.landing("ents") / "ents.csv"
    path.write_text(csv_text(rows(1219)), encoding="utf-8")
    door.ingest("ents", path)
    growing = door.landing("ents") / "ents_2.csv"
    growing.write_text(csv_text(rows(606)), encoding="utf-8")  # half sent so far

    def writer_goes_on(step: str) -> None:
        if step == "staging":
            with growing.open("a", encoding="utf-8") as f:
                f.write(csv_text(rows(613, start=606), head=False))

    error = door.refused("ents", growing, fault=writer_goes_on)
    assert error.rule == "ING011", error
    assert door.count("ents") == 1219  # the live table is unchanged
    assert growing.exists() and error.quarantined_to is None  # left for the writer to finish
    assert door.last_load("ents")["rule_code"] == "ING011"


def test_with_completion_markers_an_unmarked_file_is_not_read(tmp_path: Path) -> None:
    door = make_door(tmp_path, "  completion: marker\n")
    path = door.landing("ents") / "ents.csv"
    path.write_text(csv_text(rows(606)), encoding="utf-8")
    error = door.refused("ents", path)
    assert error.rule == "ING011" and "ents.csv.done" in str(error), error
    assert door.count("ents") is None and path.exists()
    path.with_name("ents.csv.done").touch()  # the department's transfer says it is whole
    assert door.ingest("ents", path).record.rows_loaded == 606
    door.con.close()


def test_the_sensor_does_not_request_a_file_younger_than_its_settle_period(tmp_path: Path) -> None:
    door = make_door(tmp_path, "  settle_seconds: 120\n")
    door.con.close()
    settings = Settings(
        home=tmp_path / "home",
        store_url=f"sqlite:///{tmp_path / 'store.db'}",
        data=door.data,
        warehouse=tmp_path / "warehouse.duckdb",
        automation=False,
    )
    defs = build_definitions(settings)
    sensor = defs.resolve_sensor_def("market_landing")
    resources = {"govreg": defs.resources["govreg"]}  # type: ignore[index]
    path = door.landing("ents") / "ents.csv"
    path.write_text(csv_text(rows(606)), encoding="utf-8")  # just written: maybe still being written
    instance = dg.DagsterInstance.ephemeral()
    with dg.build_sensor_context(instance=instance, resources=resources) as context:
        young = list(sensor(context))
        cursor = context.cursor
    assert not [r for r in young if isinstance(r, dg.RunRequest)]
    stat = path.stat()
    os.utime(path, (stat.st_atime - 600, stat.st_mtime - 600))  # unchanged for ten minutes now
    with dg.build_sensor_context(instance=instance, resources=resources, cursor=cursor) as context:
        settled = [r for r in sensor(context) if isinstance(r, dg.RunRequest)]
    assert len(settled) == 1 and settled[0].tags["govreg/file"] == "ents.csv"
