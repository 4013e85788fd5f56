"""The one error tree: every LedgerError is defined in ledger/errors.py and drawn in its docstring."""

from __future__ import annotations

import importlib
import pkgutil

import ledger
import ledger.errors as errors
from ledger.errors import LedgerError


def _import_everything() -> None:
    import api
    import verifier

    for package in (ledger, api, verifier):
        for info in pkgutil.walk_packages(package.__path__, package.__name__ + "."):
            if ".migrations" in info.name:
                continue
            importlib.import_module(info.name)


def _subclasses(cls: type) -> set[type]:
    found = set(cls.__subclasses__())
    for sub in list(found):
        found |= _subclasses(sub)
    return found


def test_every_error_is_in_the_one_tree() -> None:
    _import_everything()
    doc = errors.__doc__ or ""
    for cls in _subclasses(LedgerError):
        if cls.__module__.startswith(("tests", "test_")):
            continue
        assert cls.__module__ == "ledger.errors", f"{cls.__module__}.{cls.__name__} is defined outside ledger/errors.py"
        assert f"── {cls.__name__} " in doc, f"{cls.__name__} is not drawn in ledger/errors.py's tree"
        parent = cls.__bases__[0].__name__
        assert doc.index(f"── {cls.__name__} ") > doc.index(parent), f"{cls.__name__} is drawn above its base {parent}"
