"""Whether an extract in a landing folder may be read: the file itself, complete, and bounded.

A department's upload is not atomic: a file copied over SFTP or a share is visible while it is
still being written, and a partial CSV cut at a row boundary parses. govreg reads a file only once
it is complete, in one of two ways a dataset declares (``completion:``, default from
``registry.yaml``):

* ``settle`` (default): the file's size and modification time have not changed for
  ``settle_seconds`` (default 5) before reading, and are still the same after staging; a young file
  is waited for (at most the settle period), one that changes is refused with ING011 and left
  where it is, to be read once complete. The sensors do not request a run for a young file.
* ``marker``: the department writes ``<file>.done`` after the file; without it the file is
  ING011. The marker goes with the file (loaded, blocked or quarantined).

A symbolic link is never followed (ING010): a landing folder holds the department's files, and a
link could point at anything the pipeline can read.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

from ingest.errors import IngestError
from registry.home import Registry
from registry.model import Dataset
from registry.vocab import Completion

MARKER_SUFFIX = ".done"


@dataclass(frozen=True)
class FileState:
    """What identifies one version of a file: a change to any of these is a change of content."""

    size: int
    mtime_ns: int
    inode: int

    @classmethod
    def of(cls, path: Path) -> FileState:
        st = path.lstat()
        return cls(st.st_size, st.st_mtime_ns, st.st_ino)

    def age(self) -> float:
        return time.time() - self.mtime_ns / 1e9


def completion(registry: Registry, ds: Dataset) -> Completion:
    return ds.completion or registry.settings.completion


def marker_for(path: Path) -> Path:
    return path.with_name(path.name + MARKER_SUFFIX)


def is_marker(path: Path) -> bool:
    return path.name.endswith(MARKER_SUFFIX)


def refuse_link(path: Path, *, dataset: str) -> None:
    """ING010 for a symbolic link: it is refused as it is, never opened, hashed or followed."""
    if path.is_symlink():
        raise IngestError(
            "ING010",
            f"{path.name} is a symbolic link (to {os.readlink(path)}); govreg never follows a link in "
            "a landing folder",
            dataset=dataset,
            file=str(path),
        )


def ready(registry: Registry, ds: Dataset, path: Path) -> str | None:
    """Why ``path`` may not be read yet (None: it may). Cheap: for sensors, without waiting."""
    if path.is_symlink():
        return None  # a link is never "not ready": it is refused at once (ING010)
    if completion(registry, ds) == Completion.MARKER:
        if not marker_for(path).exists():
            return f"no completion marker {marker_for(path).name} yet"
        return None
    age = FileState.of(path).age()
    settle = registry.settings.settle_seconds
    if age < settle:
        return f"changed {age:.1f} s ago; read once unchanged for {settle:g} s"
    return None


def await_complete(registry: Registry, ds: Dataset, path: Path) -> FileState:
    """The state of a complete ``path`` to read, waiting out the settle period; else ING011."""
    shown = str(path)
    if completion(registry, ds) == Completion.MARKER:
        if not marker_for(path).exists():
            raise IngestError(
                "ING011",
                f"no completion marker {marker_for(path).name}: the file may still be being written",
                dataset=ds.code,
                file=shown,
            )
        return FileState.of(path)
    settle = registry.settings.settle_seconds
    first = FileState.of(path)
    wait = settle - first.age()
    if wait > 0:
        time.sleep(min(wait, settle))
        again = FileState.of(path)
        if again != first:
            raise not_complete(ds, path, first, again)
        return again
    return first


def assert_unchanged(ds: Dataset, path: Path, before: FileState) -> None:
    """ING011 if the file changed while it was read (it was still being written)."""
    try:
        after = FileState.of(path)
    except FileNotFoundError:
        after = FileState(-1, -1, -1)
    if after != before:
        raise not_complete(ds, path, before, after)


def not_complete(ds: Dataset, path: Path, before: FileState, after: FileState) -> IngestError:
    return IngestError(
        "ING011",
        f"the file changed while it was being read ({before.size} → {after.size} bytes): it is still "
        "being written; it will be read once complete",
        dataset=ds.code,
        file=str(path),
    )
