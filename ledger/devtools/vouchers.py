"""The development e-voucher issuer: a P-256 key kept in the data directory, so that a development
service verifies the tokens that ``ebill citizen token`` mints without any set-up.

The national e-voucher platform issues the real tokens; a production service is given
its public key (``EBILL_VOUCHER_PUBLIC_KEY``) and never reads this one.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

from ledger.evoucher import VoucherIssuer

DEV_KEY_FILE = "evoucher-key.pem"


def dev_issuer(home: Path, issuer: str = "dev-evoucher") -> VoucherIssuer:
    """The development issuer whose key lives in ``home/secrets/evoucher-key.pem`` (created once, mode 0600).

    Safe when several processes start at once: the key file is published with a hard
    link, which fails if another process got there first; then its key is used.
    """
    path = home / "secrets" / DEV_KEY_FILE
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{DEV_KEY_FILE}.")  # mode 0600
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(VoucherIssuer.generate(issuer).private_pem())
                f.flush()
                os.fsync(f.fileno())
            with contextlib.suppress(FileExistsError):  # another process created it first: use theirs
                os.link(tmp, path)
        finally:
            os.unlink(tmp)
    return VoucherIssuer.from_pem(path.read_bytes(), issuer)
