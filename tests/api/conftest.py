"""Fixtures: the upload service stack (see api_stack.py) on SQLite, or on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from api_stack import Stack, make_stack


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Stack]:
    s = make_stack(f"sqlite:///{tmp_path}/ebill.sqlite", tmp_path)
    yield s
    s.service.store.close()


@pytest.fixture
def any_db_stack(database_url: str, tmp_path: Path) -> Iterator[Stack]:
    s = make_stack(database_url, tmp_path)
    yield s
    s.service.store.close()
