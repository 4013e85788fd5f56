"""Deterministic synthetic medical e-invoices for tests, demos and benchmarks.

Sizes follow the city in ``DOMAIN.md``: 132 hospitals (about 40 % outside the city,
which get 61 % of the invoices), 15,605 self-paid e-invoices, 1,332,000 fee lines
(about 85 a bill, heavy-tailed: a few lines at a pharmacy, hundreds to thousands for
an inpatient stay) and about ¥21.1 M (¥1,354 a bill).

Nothing here is real: hospital names follow the usual naming patterns (city and
county hospitals, invented township names; a city-level name such as 绍兴市人民医院
may coincide with a real institution, its code does not), item codes are composed in
the national code *formats* only, and resident IDs are valid in form (region, birth
date, ISO 7064 check character) with sequence numbers from the 900-999 block.

Pure standard library. Every random draw comes from a ``random.Random`` seeded from
the ``seed`` argument (via SHA-256, never the clock or the global generator), so the
same arguments give the same invoices on any machine and in any process.

One module each: ``hospitals``, ``patients``, ``catalogue`` (its item families are the
CSV files in ``data/``), ``sampling`` (which items an invoice charges, how many),
``dataset`` (the plan and the invoices), ``draws`` (seeded draws, invented names).

API::

    hospitals = make_hospitals(132, seed=7)
    catalogue = make_catalogue()                     # fixed, shared by all data sets
    ds = generate(7, pepper=b"0123456789abcdef")     # plans 15,605 invoices
    ds = generate(7, pepper=..., issuers=["H33010200001"])   # issued by a registered hospital
    for invoice, patient_id in ds: ...               # builds them, lazily, in issue order
    invoice, patient_id = ds[42]                     # any one of them
    for doc in iter_documents(ds): ...               # upload-format JSON documents

The data set is *lazy*: :func:`generate` draws the plan (visit type, line count,
hospital, patient, issue time and invoice number of every invoice, ~0.4 s) and the fee
lines are drawn when an invoice is built, each invoice from its own seeded generator.
Iterating twice gives identical invoices; ``ds.to_list()`` materialises them.
"""

from ledger.devtools.synth.catalogue import CATEGORY_MIX, Catalogue, CatalogueItem, make_catalogue
from ledger.devtools.synth.dataset import Dataset, generate, iter_documents
from ledger.devtools.synth.hospitals import CITY_PREFIX, Hospital, make_hospitals, registered_hospitals
from ledger.devtools.synth.patients import Patient, make_patients

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
    "registered_hospitals",
]
