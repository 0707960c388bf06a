"""The one place that reads the environment, and the resources every asset shares.

| variable | meaning | default |
| --- | --- | --- |
| ``GOVREG_HOME`` | registry home | the bundled sample city |
| ``GOVREG_STORE`` | metadata store URL | ``sqlite:///.govreg/store.db`` |
| ``GOVREG_DATA`` | data root: landing folders and ``quarantine/`` | ``.govreg/data`` |
| ``GOVREG_WAREHOUSE`` | DuckDB warehouse file | ``<data>/warehouse.duckdb`` |
| ``GOVREG_AUTOMATION`` | ``on``: sensors and schedules start running | off |
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import dagster as dg

from ingest.complete import is_marker
from registry.home import Registry
from registry.load import load_valid_home
from registry.model import Dataset
from registry.store import DEFAULT_URL, Store
from registry.vocab import ExtractFormat

CITY = Path(__file__).resolve().parent.parent / "examples" / "city"
PATTERNS = {
    ExtractFormat.CSV: ("*.csv", "*.txt"),
    ExtractFormat.EXCEL: ("*.xlsx",),
    ExtractFormat.PARQUET: ("*.parquet",),
    ExtractFormat.JSON: ("*.json", "*.jsonl", "*.ndjson"),
}


@dataclass(frozen=True)
class Settings:
    """Where things are, read once from the environment."""

    home: Path
    store_url: str
    data: Path
    warehouse: Path
    automation: bool

    @classmethod
    def from_env(cls) -> Settings:
        data = Path(os.environ.get("GOVREG_DATA") or ".govreg/data").resolve()
        return cls(
            home=Path(os.environ.get("GOVREG_HOME") or CITY).resolve(),
            store_url=os.environ.get("GOVREG_STORE") or DEFAULT_URL,
            data=data,
            warehouse=Path(os.environ.get("GOVREG_WAREHOUSE") or data / "warehouse.duckdb").resolve(),
            automation=os.environ.get("GOVREG_AUTOMATION", "").lower() in ("1", "on", "true", "yes"),
        )


def landing_folder(data: Path, ds: Dataset) -> Path:
    return data / (ds.landing or f"landing/{ds.provider}/{ds.code}")


def landing_files(data: Path, ds: Dataset) -> list[Path]:
    """Extract files waiting in a dataset's landing folder, oldest first.

    Symbolic links are listed (as links, never followed) so that ingesting one refuses it loudly
    (ING010) instead of skipping it in silence; completion markers (``<file>.done``) are not extracts.
    """
    folder = landing_folder(data, ds)
    if not folder.is_dir() or folder.is_symlink():
        return []
    patterns = (ds.file_pattern,) if ds.file_pattern else PATTERNS[ds.format]
    found = {
        p
        for pattern in patterns
        for p in folder.glob(pattern)
        if (p.is_symlink() or p.is_file()) and not is_marker(p)
    }
    return sorted(found, key=lambda p: (p.lstat().st_mtime, p.name))


class GovregResource(dg.ConfigurableResource):
    """The registry home, the metadata store and the data root, for assets, sensors and checks."""

    home: str
    store_url: str
    data: str

    @cached_property
    def registry(self) -> Registry:
        return load_valid_home(self.home)[0]

    @cached_property
    def store(self) -> Store:
        return Store(self.store_url)

    @property
    def data_root(self) -> Path:
        return Path(self.data)

    @property
    def quarantine(self) -> Path:
        return Path(self.data) / "quarantine"
