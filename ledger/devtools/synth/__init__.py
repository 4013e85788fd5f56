"""Deterministic synthetic medical e-invoices for tests, demos and benchmarks (see :mod:`.dataset`)."""

from ledger.devtools.synth.dataset import (
    CATEGORY_MIX,
    CITY_PREFIX,
    Catalogue,
    CatalogueItem,
    Dataset,
    Hospital,
    Patient,
    generate,
    iter_documents,
    make_catalogue,
    make_hospitals,
    make_patients,
)

__all__ = [
    "CATEGORY_MIX",
    "CITY_PREFIX",
    "Catalogue",
    "CatalogueItem",
    "Dataset",
    "Hospital",
    "Patient",
    "generate",
    "iter_documents",
    "make_catalogue",
    "make_hospitals",
    "make_patients",
]
