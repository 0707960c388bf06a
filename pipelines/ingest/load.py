"""Ingest one extract into its DuckDB table: check at the door, stage, swap, record.

The live table is replaced only by a fully built staging table, inside one transaction, so
readers see the old table or the new one, never half. A refused file is moved to quarantine
with a reason file beside it, recorded in the metadata store, and raised as an
:class:`IngestError`; the live table stays as it was. The same content twice is a no-op.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb

from pipelines.ingest.errors import IngestError
from pipelines.ingest.stage import stage_csv, stage_typed
from registry.home import Registry
from registry.store import Store
from registry.store.audit import now
from registry.store.loads import LoadRecord, find_loaded, known_sizes, record_load
from registry.vocab import ExtractFormat, OnCastError

Fault = Callable[[str], None]


@dataclass(frozen=True)
class LoadOutcome:
    """The result of one ingestion: the record written to the store, plus table names."""

    record: LoadRecord
    table: str
    rejects_table: str | None = None
    absent_columns: tuple[str, ...] = ()
    seconds: float = 0.0
    extra: dict[str, object] = field(default_factory=dict)

    @property
    def status(self) -> str:
        return self.record.status


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(1 << 22):
            digest.update(chunk)
    return digest.hexdigest()


class _Hasher(threading.Thread):
    """Hash a file beside the load (hashlib releases the GIL on large buffers)."""

    def __init__(self, path: Path):
        super().__init__(daemon=True)
        self.path = path
        self.value = ""
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            self.value = sha256_file(self.path)
        except BaseException as exc:  # re-raised by result()
            self.error = exc

    def result(self) -> str:
        self.join()
        if self.error is not None:
            raise self.error
        return self.value


def table_exists(con: duckdb.DuckDBPyConnection, name: str) -> bool:
    found = con.execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'main' AND table_name = ?",
        [name],
    ).fetchone()
    return bool(found and found[0])


def _drop_temp_tables(con: duckdb.DuckDBPyConnection, load_id: str) -> None:
    """Drop the CSV reader's rejects tables of a refused load (they live as long as the connection)."""
    names = con.execute(
        "SELECT table_name FROM duckdb_tables() WHERE temporary AND contains(table_name, ?)", [load_id]
    ).fetchall()
    for (name,) in names:
        con.execute(f'DROP TABLE IF EXISTS temp."{name}"')


def quarantine_file(
    path: Path, root: Path, department: str, dataset: str, error: IngestError, sha: str
) -> Path:
    """Move a refused extract aside, with ``<name>.reason.json`` beside it."""
    folder = root / department / dataset
    folder.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime())
    target = folder / f"{stamp}-{sha[:8]}-{path.name}"
    shutil.move(str(path), target)
    reason = {**error.to_json(), "sha256": sha, "quarantined_at": now(), "moved_from": str(path)}
    target.with_name(target.name + ".reason.json").write_text(
        json.dumps(reason, ensure_ascii=False, indent=2) + "\n", encoding="utf-8"
    )
    return target


def ingest_file(
    registry: Registry,
    dataset_code: str,
    path: Path,
    *,
    warehouse: duckdb.DuckDBPyConnection,
    store: Store,
    quarantine: Path,
    run_id: str | None = None,
    fault: Fault | None = None,
) -> LoadOutcome:
    """Load ``path`` as the new content of dataset ``dataset_code``; see the module docstring."""
    started, clock = now(), time.perf_counter()
    ds = registry.datasets[dataset_code]
    path = Path(path)
    shown = str(path)
    size = path.stat().st_size
    load_id = uuid.uuid4().hex
    base: dict[str, Any] = {
        "load_id": load_id,
        "dataset": ds.code,
        "department": ds.provider,
        "file": shown,
        "size_bytes": size,
        "run_id": run_id,
    }

    hasher: _Hasher | None = None
    if size in known_sizes(store, ds.code):  # same size as loaded content: hash first, maybe a duplicate
        sha = sha256_file(path)
        previous = find_loaded(store, ds.code, sha)
        if previous is not None and table_exists(warehouse, ds.code):
            record = LoadRecord(
                **base,
                sha256=sha,
                status="duplicate",
                started_at=started,
                finished_at=now(),
                rows_in=previous["rows_in"],
                rows_loaded=0,
                rows_rejected=0,
                reason=f"same content as load {previous['load_id']} of {previous['finished_at']}",
            )
            record_load(store, record)
            return LoadOutcome(record, ds.code, seconds=time.perf_counter() - clock)
    else:
        hasher = _Hasher(path)
        hasher.start()

    staging = f"__staging_{ds.code}"
    workdir = Path(tempfile.mkdtemp(prefix=f"govreg-{ds.code}-"))
    try:
        try:
            if size == 0:
                raise IngestError("ING006", "the file is empty", dataset=ds.code, file=shown, line=1)
            warehouse.execute(f'DROP TABLE IF EXISTS "{staging}"')
            if fault:
                fault("staging")
            if ds.format == ExtractFormat.CSV:
                staged = stage_csv(registry, ds, path, warehouse, staging, workdir, load_id, shown)
            else:
                staged = stage_typed(registry, ds, path, warehouse, staging, load_id, shown)
            if staged.rows_in == 0:
                raise IngestError(
                    "ING006", "the file has a header but no data rows", dataset=ds.code, file=shown, line=2
                )
            if staged.failures and ds.on_cast_error == OnCastError.FAIL:
                detail = ", ".join(f"{col}: {n}" for col, n in sorted(staged.failures.items()))
                raise IngestError(
                    "ING005",
                    f"values that cannot be cast ({detail}); first at line "
                    f"{staged.first_failure_line or '?'}",
                    dataset=ds.code,
                    file=shown,
                    line=staged.first_failure_line or 0,
                    columns=sorted(staged.failures),
                )
        except IngestError as error:
            warehouse.execute(f'DROP TABLE IF EXISTS "{staging}"')
            _drop_temp_tables(warehouse, load_id)
            sha = hasher.result() if hasher else sha256_file(path)
            error.quarantined_to = str(quarantine_file(path, quarantine, ds.provider, ds.code, error, sha))
            record_load(
                store,
                LoadRecord(
                    **base,
                    sha256=sha,
                    status="rejected",
                    started_at=started,
                    finished_at=now(),
                    rule_code=error.rule,
                    reason=str(error),
                    quarantined_to=error.quarantined_to,
                ),
            )
            raise
        rejects = staged.write_rejects(warehouse, ds.code, load_id, shown) if staged.failures else None
        staged.cleanup(warehouse)
        if fault:
            fault("swap")
        warehouse.begin()
        try:
            warehouse.execute(f'DROP TABLE IF EXISTS "{ds.code}"')
            warehouse.execute(f'ALTER TABLE "{staging}" RENAME TO "{ds.code}"')
            comment = f"{ds.name} / {ds.name_en}; load {load_id} of {path.name}"
            warehouse.execute(f"COMMENT ON TABLE \"{ds.code}\" IS '{comment.replace(chr(39), chr(39) * 2)}'")
            warehouse.commit()
        except BaseException:
            warehouse.rollback()
            raise
        sha = hasher.result() if hasher else sha
        record = LoadRecord(
            **base,
            sha256=sha,
            status="loaded",
            started_at=started,
            finished_at=now(),
            rows_in=staged.rows_in,
            rows_loaded=staged.rows_in - staged.rows_rejected,
            rows_rejected=staged.rows_rejected,
            cast_failures=dict(staged.failures),
        )
        record_load(store, record)
        return LoadOutcome(record, ds.code, rejects, staged.absent, time.perf_counter() - clock)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
