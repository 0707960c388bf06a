"""Plan the extracts of a registry (sizes, shared pools), generate them, write them, and the manifest."""

from __future__ import annotations

import hashlib
import json
import zlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path, PurePosixPath

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from examples.generator.defects import BLANK_RATE, DEFECT_RATES, Defects, inject
from examples.generator.values import ValueGen, choose
from examples.generator.write import EXTENSIONS, write_table
from registry.home import Registry
from registry.model import Dataset

EXCEL_MAX_ROWS = 20_000  # departments' spreadsheets are small; xlsxwriter writes ~100k cells/s
CLASS_SHARE = {"basic": 1.0, "thematic": 0.6, "departmental": 0.35}
FORMAT_SHARE = {"csv": 1.0, "parquet": 1.0, "json": 0.5, "excel": 0.3}
_MORE = 0.05  # extra draws per round when a pool must hold distinct values


def _stable(text: str) -> int:
    return zlib.crc32(text.encode("utf-8"))


def _enumerated_cap(registry: Registry, ds: Dataset) -> int | None:
    """How many distinct keys a dataset keyed only by enumerated codes can hold (else None)."""
    cap = 1
    for i in _key_indexes(ds):
        element = registry.elements.get(ds.columns[i].element)
        d = element.domain if element else None
        if d is None or (d.codes is None and d.code_list is None):
            return None
        cl = registry.codelists.get(d.code_list or "")
        cap *= len(d.codes) if d.codes is not None else (len(cl.values) if cl else 1)
    return cap if _key_indexes(ds) else None


def dataset_rows(registry: Registry, rows: int) -> dict[str, int]:
    """Row counts: the largest dataset gets ``rows``, others a share by class, format and code.

    Excel extracts hold at most 50,000 rows; a dataset keyed only by codes at most one row per
    code. Neither kind sets the scale unless every dataset is of that kind.
    """
    ratio, caps = {}, {}
    for code, ds in registry.datasets.items():
        jitter = 0.6 + 0.4 * (_stable(code) % 1000) / 999
        ratio[code] = CLASS_SHARE[str(ds.classification)] * FORMAT_SHARE[str(ds.format)] * jitter
        cap = _enumerated_cap(registry, ds)
        caps[code] = (
            min(cap, EXCEL_MAX_ROWS)
            if cap is not None and str(ds.format) == "excel"
            else (EXCEL_MAX_ROWS if str(ds.format) == "excel" else cap)
        )
    free = [r for code, r in ratio.items() if caps[code] is None]
    top = max(free or ratio.values(), default=1.0)
    out = {}
    for code in registry.datasets:
        n = max(1, round(rows * ratio[code] / top))
        out[code] = n if caps[code] is None else min(n, caps[code] or 1)
    return out


def landing_file(ds: Dataset, today: date) -> PurePosixPath:
    """Where the extract lands: named by the dataset's file pattern (``*`` → the day) if it has one."""
    folder = PurePosixPath((ds.landing or f"landing/{ds.provider}/{ds.code}").lstrip("/"))
    if ds.file_pattern and ds.file_pattern.count("*") == 1 and not set(ds.file_pattern) & set("?[]"):
        return folder / ds.file_pattern.replace("*", today.strftime("%Y%m%d"))
    return folder / f"{ds.code}.{EXTENSIONS[str(ds.format)]}"


def _key_indexes(ds: Dataset) -> list[int]:
    return [i for i, c in enumerate(ds.columns) if c.name in ds.key or c.element in ds.key]


def _first_unique(values: pa.Array) -> pa.Array:
    """Distinct values in order of first appearance (nulls dropped)."""
    return pc.unique(pc.drop_null(values))


@dataclass
class Pool:
    """An element's values shared by every dataset that carries it, so joins match."""

    values: pa.Array
    distinct: bool
    shared: bool


def build_pools(
    registry: Registry, sizes: Mapping[str, int], seed: int, today: date, gens: Mapping[str, ValueGen]
) -> dict[str, Pool]:
    keyed: dict[str, int] = {}
    carried: dict[str, list[int]] = {}
    for code, ds in registry.datasets.items():
        key = _key_indexes(ds)
        for i, column in enumerate(ds.columns):
            carried.setdefault(column.element, []).append(sizes[code])
            if i in key:
                keyed[column.element] = max(keyed.get(column.element, 0), sizes[code])
    pools = {}
    for element, counts in carried.items():
        gen = gens[element]
        rng = np.random.default_rng([seed, _stable(element)])
        size = keyed.get(element, max(counts))
        values = gen.draw(rng, size)
        distinct = element in keyed
        if distinct:
            values = _first_unique(values)
            for _ in range(8):
                if len(values) >= size:
                    break
                extra = gen.draw(rng, int((size - len(values)) * (1 + _MORE)) + 16)
                values = _first_unique(pa.concat_arrays([values, extra]))
            values = values.slice(0, size)
        pools[element] = Pool(values, distinct, len(counts) > 1)
    return pools


def _column_values(pool: Pool, n: int, anchor: bool, rng: np.random.Generator) -> pa.Array:
    size = len(pool.values)
    if anchor:
        return pool.values.take(pa.array(rng.permutation(size)[:n]))
    if not pool.shared and size >= n:
        return pool.values.slice(0, n)
    return pool.values.take(pa.array(rng.integers(0, size, size=n)))


def _drop_duplicate_keys(columns: list[pa.Array], key: list[int], names: list[str]) -> list[pa.Array]:
    table = pa.table([columns[i] for i in key], names=[f"k{i}" for i in key])
    table = table.append_column("row", pa.array(np.arange(table.num_rows)))
    first = table.group_by([f"k{i}" for i in key], use_threads=False).aggregate([("row", "min")])
    keep = pa.array(np.sort(first.column("row_min").to_numpy()))
    return [c.take(keep) for c in columns]


@dataclass
class DatasetManifest:
    file: str
    format: str
    encoding: str
    delimiter: str
    rows: int
    sha256: str
    defects: Defects

    def as_json(self) -> dict[str, object]:
        return {
            "file": self.file,
            "format": self.format,
            "encoding": self.encoding,
            "delimiter": self.delimiter,
            "rows": self.rows,
            "sha256": self.sha256,
            "defects": self.defects.as_json(),
        }


@dataclass
class Manifest:
    """What :func:`generate` wrote: per dataset its file, hash, rows and exact defect counts."""

    seed: int
    rows: int
    today: date
    rates: dict[str, float]
    datasets: dict[str, DatasetManifest] = field(default_factory=dict)

    def as_json(self) -> dict[str, object]:
        return {
            "generator": "examples.generator",
            "seed": self.seed,
            "rows": self.rows,
            "today": self.today.isoformat(),
            "rates": self.rates,
            "blank_rate": BLANK_RATE,
            "datasets": {code: d.as_json() for code, d in self.datasets.items()},
        }

    def write(self, path: Path) -> None:
        path.write_text(json.dumps(self.as_json(), ensure_ascii=False, indent=2) + "\n", encoding="utf-8")


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def generate_dataset(
    registry: Registry,
    ds: Dataset,
    n: int,
    pools: Mapping[str, Pool],
    gens: Mapping[str, ValueGen],
    seed: int,
    rates: Mapping[str, float],
) -> tuple[pa.Table, Defects]:
    key = _key_indexes(ds)
    anchor = max(
        key,
        key=lambda i: (pools[ds.columns[i].element].distinct, len(pools[ds.columns[i].element].values)),
        default=None,
    )
    anchored = (
        anchor is not None
        and pools[ds.columns[anchor].element].distinct
        and len(pools[ds.columns[anchor].element].values) >= n
    )
    columns = []
    for i, column in enumerate(ds.columns):
        rng = np.random.default_rng([seed, _stable(ds.code), i])
        columns.append(_column_values(pools[column.element], n, anchored and i == anchor, rng))
    names = [c.name for c in ds.columns]
    if key and not anchored:
        columns = _drop_duplicate_keys(columns, key, names)
    column_gens = [gens[c.element] for c in ds.columns]
    required = [registry.column_required(ds, i) for i in range(len(ds.columns))]
    rng = np.random.default_rng([seed, _stable(ds.code), 1_000_003])
    elements = [registry.elements[c.element] for c in ds.columns]
    columns, defects = inject(columns, names, column_gens, required, key, dict(rates), rng, elements)
    return pa.table(columns, names=names), defects


def generate(
    registry: Registry,
    out_dir: Path,
    rows: int,
    seed: int,
    today: date | None = None,
    rates: Mapping[str, float] | None = None,
) -> Manifest:
    """Write every dataset's extract below ``out_dir`` and ``out_dir/manifest.json``.

    ``rows`` is the row count of the largest dataset; same registry, rows, seed and today give
    byte-identical files. ``today`` (default: the current date) bounds generated dates.
    """
    today = today or date.today()
    used = dict(DEFECT_RATES) | dict(rates or {})
    out_dir = Path(out_dir)
    sizes = dataset_rows(registry, rows)
    elements = {c.element for ds in registry.datasets.values() for c in ds.columns}
    missing = sorted(e for e in elements if e not in registry.elements)
    if missing:
        raise ValueError(f"columns map to unregistered elements: {', '.join(missing)}")
    gens = {e: choose(registry, registry.elements[e], today) for e in sorted(elements)}
    pools = build_pools(registry, sizes, seed, today, gens)
    manifest = Manifest(seed=seed, rows=rows, today=today, rates=used)
    for code in sorted(registry.datasets):
        ds = registry.datasets[code]
        table, defects = generate_dataset(registry, ds, sizes[code], pools, gens, seed, used)
        relative = landing_file(ds, today)
        path = out_dir / relative
        write_table(table, path, str(ds.format), str(ds.encoding), ds.delimiter, ds.sheet)
        manifest.datasets[code] = DatasetManifest(
            file=relative.as_posix(),
            format=str(ds.format),
            encoding=str(ds.encoding),
            delimiter=ds.delimiter,
            rows=table.num_rows,
            sha256=sha256(path),
            defects=defects,
        )
    out_dir.mkdir(parents=True, exist_ok=True)
    manifest.write(out_dir / "manifest.json")
    return manifest
