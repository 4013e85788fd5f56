"""A throw-away SoftHSM2 token store for the PKCS#11 signer tests (used by tests/conftest.py).

SoftHSM2 reads its configuration (where its tokens live) from ``SOFTHSM2_CONF`` when the
PKCS#11 module is initialised, once per process. So one directory serves the whole test
session: :func:`start` writes a configuration pointing into a temporary directory, sets
``SOFTHSM2_CONF`` for this process and the commands it starts (``ebill`` in a subprocess),
and initialises the tokens the tests use with ``softhsm2-util``, before any test loads the
module. Every key a test makes has a random ``CKA_ID``, so tests never see each other's keys.

Environment:
- EBILL_SOFTHSM_MODULE: the PKCS#11 module (default Debian's /usr/lib/softhsm/libsofthsm2.so).
- EBILL_REQUIRE_SOFTHSM=1: a missing SoftHSM2 or python-pkcs11 fails the tests instead of
  skipping them (``./dev test`` sets it in CI once it has installed softhsm2).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

MODULE = os.environ.get("EBILL_SOFTHSM_MODULE", "/usr/lib/softhsm/libsofthsm2.so")
REQUIRE_ENV = "EBILL_REQUIRE_SOFTHSM"
TOKEN = "ebill"
OTHER_TOKEN = "ebill-other"
PIN = "246810"
SO_PIN = "13579111"
PIN_ENV = "EBILL_TEST_HSM_PIN"


class SoftHsmUnavailable(RuntimeError):
    """SoftHSM2 or python-pkcs11 is not installed."""


@dataclass(frozen=True)
class SoftHsm:
    """The session's token store: the configuration file and how to name its tokens."""

    directory: Path
    conf: Path
    module: str = MODULE

    def signer_uri(self, token: str = TOKEN, *, pin_env: str = PIN_ENV) -> str:
        """``EBILL_SIGNER`` for one of the tokens."""
        return f"pkcs11:module={self.module};token={token};pin-env={pin_env}"

    def env(self) -> dict[str, str]:
        """What a subprocess needs to use the tokens (the configuration and the PIN)."""
        return {"SOFTHSM2_CONF": str(self.conf), PIN_ENV: PIN}


def required() -> bool:
    return os.environ.get(REQUIRE_ENV) == "1"


def start() -> SoftHsm:
    """Tokens ``ebill`` and ``ebill-other`` (user PIN :data:`PIN`) in a new temporary directory."""
    util = shutil.which("softhsm2-util")
    if util is None or not Path(MODULE).is_file():
        raise SoftHsmUnavailable(f"SoftHSM2 is not installed (no softhsm2-util, or no {MODULE}): "
                                 "apt-get install softhsm2")
    try:
        import pkcs11  # noqa: F401
    except ImportError:
        raise SoftHsmUnavailable("python-pkcs11 is not installed: pip install 'ebill-ledger[hsm]'") from None
    directory = Path(tempfile.mkdtemp(prefix="ebill-softhsm-"))
    (directory / "tokens").mkdir()
    conf = directory / "softhsm2.conf"
    conf.write_text(f"directories.tokendir = {directory / 'tokens'}\nobjectstore.backend = file\n"
                    "log.level = ERROR\nslots.removable = false\n")
    os.environ["SOFTHSM2_CONF"] = str(conf)
    os.environ[PIN_ENV] = PIN
    for label in (TOKEN, OTHER_TOKEN):
        subprocess.run([util, "--init-token", "--free", "--label", label, "--pin", PIN, "--so-pin", SO_PIN],
                       check=True, capture_output=True, timeout=60, env={**os.environ, "SOFTHSM2_CONF": str(conf)})
    return SoftHsm(directory, conf)


def stop(hsm: SoftHsm) -> None:
    shutil.rmtree(hsm.directory, ignore_errors=True)
