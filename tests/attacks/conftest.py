from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.attacks.cities import Door, make_door


@pytest.fixture
def door(tmp_path: Path) -> Iterator[Door]:
    made = make_door(tmp_path, "  settle_seconds: 0\n")  # these files are written whole before they are read
    yield made
    made.con.close()
    made.store.dispose()
