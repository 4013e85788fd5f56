"""Fixtures: the upload service stack (see api_stack.py) and the claims stack (claims_stack.py: a payer's office
with its stamper on the embedded EVM), each on SQLite (``stack``, ``cs``), or on SQLite and PostgreSQL
(``any_db_stack``, ``cs_any``). A module wanting other settings names its own: ``cs = claims_fixture(...)``."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from api_stack import Stack, make_stack
from claims_stack import claims_fixture


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


cs = claims_fixture()
cs_any = claims_fixture(every_database=True)
