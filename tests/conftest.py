"""Shared fixtures. PostgreSQL: a throw-away cluster per test session (see tests/pg.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pg
import pytest
import softhsm

from ledger.adapters.recursion_limit import hold_recursion_limit

# a test module importing eth-account directly (py_ecc) would raise it for the whole session
hold_recursion_limit()


@pytest.fixture(scope="session")
def postgres_cluster(request: pytest.FixtureRequest) -> pg.Cluster:
    """A running throw-away cluster. Skips without PostgreSQL, fails instead with EBILL_REQUIRE_POSTGRES=1."""
    try:
        cluster = pg.Cluster()
    except pg.PostgresUnavailable as exc:
        reason = str(exc)
    else:
        request.addfinalizer(cluster.stop)
        return cluster.start()
    if pg.required():
        pytest.fail(f"{pg.REQUIRE_ENV}=1 but {reason}", pytrace=False)
    pytest.skip(f"PostgreSQL tests skipped: {reason}")


@pytest.fixture(scope="session")
def postgres_url(postgres_cluster: pg.Cluster) -> str:
    """postgresql+psycopg://ebill@127.0.0.1:PORT/ebill, one database shared by the whole session."""
    return postgres_cluster.url()


@pytest.fixture
def fresh_postgres_url(postgres_cluster: pg.Cluster) -> Iterator[str]:
    """A new empty database for this test only (dropped after it)."""
    with postgres_cluster.database() as url:
        yield url


@pytest.fixture(
    params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)],
    ids=["sqlite", "postgresql"],
)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh empty database URL, once for SQLite and once for PostgreSQL."""
    if request.param == "postgresql":
        return str(request.getfixturevalue("fresh_postgres_url"))
    return f"sqlite:///{tmp_path}/ebill.sqlite"


@pytest.fixture(scope="session")
def softhsm_tokens(request: pytest.FixtureRequest) -> softhsm.SoftHsm:
    """SoftHSM2 tokens for the PKCS#11 signer tests (see tests/softhsm.py). Skips without SoftHSM2 or
    python-pkcs11, fails instead with EBILL_REQUIRE_SOFTHSM=1."""
    try:
        hsm = softhsm.start()
    except softhsm.SoftHsmUnavailable as exc:
        if softhsm.required():
            pytest.fail(f"{softhsm.REQUIRE_ENV}=1 but {exc}", pytrace=False)
        pytest.skip(f"PKCS#11 signer tests skipped: {exc}")
    request.addfinalizer(lambda: softhsm.stop(hsm))
    return hsm
