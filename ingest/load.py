"""Ingest one extract into its DuckDB table: write, audit, publish.

1. **Write**: :func:`prepare_load` checks the file at the door and builds a staging table
   (``__staging_<dataset>``); a file refused at the door is moved to quarantine with a reason
   file beside it, recorded as ``rejected`` and raised as an :class:`IngestError`. A load whose
   every row was set aside by casting is refused (ING012): it would publish an empty table.
2. **Audit**: the caller validates the staging table (the pipelines run the dataset's blocking
   expectations on it: standards, suite, row drop against the last good load).
3. **Publish** or **block**: :func:`publish_load` swaps the staging table in by one transaction,
   so readers see the old table or the new one, never half; :func:`block_load` keeps the live
   table, moves the staged rows to ``<dataset>__blocked`` for inspection, quarantines the file,
   records a ``blocked`` load (QA005) naming the failing expectations.

:func:`ingest_file` does all three with an optional ``gate``. The same content twice is a no-op.
"""

from __future__ import annotations

import functools
import hashlib
import json
import shutil
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb

from ingest.complete import assert_unchanged, await_complete, marker_for, refuse_link
from ingest.errors import IngestError
from ingest.stage import Staged, stage_csv, stage_typed
from registry.home import Registry
from registry.model import Dataset
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
    path: Path,
    root: Path,
    department: str,
    dataset: str,
    error: IngestError,
    sha: str,
    failures: Sequence[str] = (),
) -> Path:
    """Move a refused extract aside, with ``<name>.reason.json`` beside it."""
    folder = root / department / dataset
    folder.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime())
    target = folder / f"{stamp}-{sha[:8] or 'unread'}-{path.name}"
    shutil.move(str(path), target)  # a symbolic link is moved as the link, never followed
    if marker_for(path).exists():
        shutil.move(str(marker_for(path)), marker_for(target))
    reason = {**error.to_json(), "sha256": sha, "quarantined_at": now(), "moved_from": str(path)}
    if failures:
        reason["failed_expectations"] = list(failures)
    target.with_name(target.name + ".reason.json").write_text(
        json.dumps(reason, ensure_ascii=False, indent=2) + "\n", encoding="utf-8"
    )
    return target


BLOCKED_SUFFIX = "__blocked"
Gate = Callable[[str], Sequence[str]]
"""Validates a staging table by name; returns what failed (empty: publish)."""


def staging_table(code: str) -> str:
    return f"__staging_{code}"


def blocked_table(code: str) -> str:
    """Where the rows of the latest blocked load of a dataset are kept for inspection."""
    return f"{code}{BLOCKED_SUFFIX}"


@dataclass
class PreparedLoad:
    """A staging table built and not yet published: the result of :func:`prepare_load`."""

    ds: Dataset
    path: Path
    base: dict[str, Any]
    staged: Staged
    rejects_table: str | None
    started: str
    clock: float
    hasher: _Hasher | None
    sha: str = ""

    @property
    def staging(self) -> str:
        return self.staged.table

    @property
    def rows_loaded(self) -> int:
        return self.staged.rows_in - self.staged.rows_rejected

    def sha256(self) -> str:
        if not self.sha:
            self.sha = self.hasher.result() if self.hasher else sha256_file(self.path)
        return self.sha

    def record(self, status: str, **extra: Any) -> LoadRecord:
        return LoadRecord(
            **self.base,
            sha256=self.sha256(),
            status=status,
            started_at=self.started,
            finished_at=now(),
            rows_in=self.staged.rows_in,
            rows_loaded=self.rows_loaded if status == "loaded" else 0,
            rows_rejected=self.staged.rows_rejected,
            cast_failures=dict(self.staged.failures),
            **extra,
        )


def _refuse(
    error: IngestError,
    *,
    path: Path,
    base: dict[str, Any],
    ds: Dataset,
    started: str,
    sha: str,
    warehouse: duckdb.DuckDBPyConnection,
    store: Store,
    quarantine: Path,
) -> IngestError:
    warehouse.execute(f'DROP TABLE IF EXISTS "{staging_table(ds.code)}"')
    _drop_temp_tables(warehouse, base["load_id"])
    if error.rule != "ING011":  # a file still being written stays where it is, to be read once complete
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
    return error


def prepare_load(
    registry: Registry,
    dataset_code: str,
    path: Path,
    *,
    warehouse: duckdb.DuckDBPyConnection,
    store: Store,
    quarantine: Path,
    run_id: str | None = None,
    fault: Fault | None = None,
) -> PreparedLoad | LoadOutcome:
    """Check ``path`` at the door and stage it; a :class:`LoadOutcome` when it is a duplicate.

    Raises :class:`IngestError` (after quarantining and recording it) when the file is refused.
    """
    started, clock = now(), time.perf_counter()
    ds = registry.datasets[dataset_code]
    path = Path(path)
    shown = str(path)
    load_id = uuid.uuid4().hex
    base: dict[str, Any] = {
        "load_id": load_id,
        "dataset": ds.code,
        "department": ds.provider,
        "file": shown,
        "size_bytes": path.lstat().st_size,
        "run_id": run_id,
    }
    refuse = functools.partial(
        _refuse,
        path=path,
        base=base,
        ds=ds,
        started=started,
        warehouse=warehouse,
        store=store,
        quarantine=quarantine,
    )
    try:
        refuse_link(path, dataset=ds.code)
        state = await_complete(registry, ds, path)
    except IngestError as error:
        raise refuse(error, sha="") from None
    size = base["size_bytes"] = state.size

    hasher: _Hasher | None = None
    sha = ""
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

    staging = staging_table(ds.code)
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
                blank = f" ({staged.rows_blank} rows of empty fields only)" if staged.rows_blank else ""
                raise IngestError(
                    "ING006",
                    f"the file has a header but no data rows{blank}",
                    dataset=ds.code,
                    file=shown,
                    line=2,
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
            if staged.rows_rejected >= staged.rows_in:
                detail = ", ".join(f"{col}: {n}" for col, n in sorted(staged.failures.items()))
                raise IngestError(
                    "ING012",
                    f"all {staged.rows_in} rows were set aside by casting ({detail}); "
                    "publishing would leave an empty table",
                    dataset=ds.code,
                    file=shown,
                    line=staged.first_failure_line or 0,
                    columns=sorted(staged.failures),
                )
            assert_unchanged(ds, path, state)  # not still being written while it was read
        except IngestError as error:
            sha = sha or (hasher.result() if hasher else sha256_file(path))
            raise refuse(error, sha=sha) from None
        rejects = staged.write_rejects(warehouse, ds.code, load_id, shown) if staged.failures else None
        staged.cleanup(warehouse)
        return PreparedLoad(ds, path, base, staged, rejects, started, clock, hasher, sha)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def publish_load(
    prepared: PreparedLoad,
    *,
    warehouse: duckdb.DuckDBPyConnection,
    store: Store,
    fault: Fault | None = None,
) -> LoadOutcome:
    """Swap the staging table in as the live table (one transaction) and record the load."""
    ds, staging = prepared.ds, prepared.staging
    if not table_exists(warehouse, staging):
        raise RuntimeError(f"staging table {staging} of dataset {ds.code} is gone: stage the file again")
    if fault:
        fault("swap")
    warehouse.begin()
    try:
        warehouse.execute(f'DROP TABLE IF EXISTS "{ds.code}"')
        warehouse.execute(f'ALTER TABLE "{staging}" RENAME TO "{ds.code}"')
        comment = f"{ds.name} / {ds.name_en}; load {prepared.base['load_id']} of {prepared.path.name}"
        warehouse.execute(f"COMMENT ON TABLE \"{ds.code}\" IS '{comment.replace(chr(39), chr(39) * 2)}'")
        warehouse.commit()
    except BaseException:
        warehouse.rollback()
        raise
    record = prepared.record("loaded")
    record_load(store, record)
    return LoadOutcome(
        record,
        ds.code,
        prepared.rejects_table,
        prepared.staged.absent,
        time.perf_counter() - prepared.clock,
    )


def block_load(
    prepared: PreparedLoad,
    failures: Sequence[str],
    *,
    warehouse: duckdb.DuckDBPyConnection,
    store: Store,
    quarantine: Path,
) -> IngestError:
    """Keep the live table; keep the staged rows and the file for inspection; record ``blocked``.

    Returns the QA005 error (already recorded) for the caller to raise.
    """
    ds, staging = prepared.ds, prepared.staging
    kept = blocked_table(ds.code)
    warehouse.begin()
    try:
        warehouse.execute(f'DROP TABLE IF EXISTS "{kept}"')
        warehouse.execute(f'ALTER TABLE "{staging}" RENAME TO "{kept}"')
        note = f"blocked load {prepared.base['load_id']} of {prepared.path.name}: {'; '.join(failures)}"
        warehouse.execute(f"COMMENT ON TABLE \"{kept}\" IS '{note[:2000].replace(chr(39), chr(39) * 2)}'")
        warehouse.commit()
    except BaseException:
        warehouse.rollback()
        raise
    error = IngestError(
        "QA005",
        f"{len(failures)} blocking expectation(s) failed on the staged data: {'; '.join(failures)}; "
        f"the live table is unchanged, the staged rows are in {kept}",
        dataset=ds.code,
        file=prepared.base["file"],
        columns=(),
    )
    sha = prepared.sha256()
    error.quarantined_to = str(
        quarantine_file(prepared.path, quarantine, ds.provider, ds.code, error, sha, failures=failures)
    )
    record_load(
        store,
        prepared.record(
            "blocked",
            rule_code="QA005",
            reason=str(error),
            quarantined_to=error.quarantined_to,
        ),
    )
    return error


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
    gate: Gate | None = None,
) -> LoadOutcome:
    """Load ``path`` as the new content of dataset ``dataset_code``; see the module docstring.

    ``gate`` validates the staging table (by name) on this connection and returns what failed;
    any failure blocks the load (:func:`block_load`) and raises its QA005 error.
    """
    prepared = prepare_load(
        registry,
        dataset_code,
        path,
        warehouse=warehouse,
        store=store,
        quarantine=quarantine,
        run_id=run_id,
        fault=fault,
    )
    if isinstance(prepared, LoadOutcome):
        return prepared
    failures = list(gate(prepared.staging)) if gate else []
    if failures:
        raise block_load(prepared, failures, warehouse=warehouse, store=store, quarantine=quarantine)
    return publish_load(prepared, warehouse=warehouse, store=store, fault=fault)
