"""Upload file formats: hospital exports in, upload-format documents out (and back).

Readers turn an upload into :class:`SourceItem` values, one per invoice: the upload-
format document of :mod:`ledger.invoice` (camelCase, integer fen, ``patientId``), or the
problems that kept it from being read, each naming the file and the place in it. They
convert syntax only (shape, encoding, joins, number formats); the service runs
:func:`~ledger.invoice_check.parse_invoice` on every document and can point its problems back
at the source with :meth:`SourceItem.locate`. Pure: no HTTP, SQL or chain code.

=================  =============================================  ==================================
format             reader                                         writer
=================  =============================================  ==================================
JSON               :func:`~.jsonfmt.iter_json`                    :func:`~.jsonfmt.dumps_json`
NDJSON             :func:`~.jsonfmt.iter_ndjson` (streaming)      :func:`~.jsonfmt.write_ndjson`
CSV pair / flat    :func:`~.his_csv.read_csv_pair`,               :class:`~.his_csv_write.CsvPairWriter`,
                   :func:`~.his_csv.read_flat_csv` (streaming)    :class:`~.his_csv_write.FlatCsvWriter`
FHIR R4 Bundle     :func:`~.fhir.iter_fhir_bundle`                :func:`~.fhir.to_fhir_bundle`,
                                                                  :class:`~.fhir.BundleWriter`
=================  =============================================  ==================================

:func:`read_upload` detects the format (:func:`detect_format`) and dispatches. Problems
with one invoice are yielded; problems with the upload as a whole raise
:class:`~ledger.errors.InvalidInput`, possibly mid-stream, so nothing may be committed
before the iterator is exhausted. Limits: :class:`Limits`. Documentation with examples:
``docs/upload-formats.md``.
"""

from __future__ import annotations

from ledger.formats.items import DEFAULT_LIMITS, Limits, SourceItem
from ledger.formats.upload import FORMATS, Format, UploadPart, detect_format, read_upload

#: what a reader yields: an upload document, or the problems of one invoice
Item = SourceItem

__all__ = [
    "DEFAULT_LIMITS",
    "FORMATS",
    "Format",
    "Item",
    "Limits",
    "SourceItem",
    "UploadPart",
    "detect_format",
    "read_upload",
]
