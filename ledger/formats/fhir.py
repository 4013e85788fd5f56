"""HL7 FHIR R4 ``Invoice`` resources in a ``Bundle``, both directions.

Validated with the ``fhir.resources.R4B`` models (R4B's Invoice is R4's). The mapping
(upload field -> FHIR element) is:

====================  =========================================================================
issuer                ``issuer`` Reference(Organization) ``identifier`` system
                      ``urn:ebill:institution-code``
invoiceCode           ``identifier`` with system ``urn:ebill:invoice-code``
invoiceNumber         ``identifier`` with system ``urn:ebill:invoice-number``
checkCode             ``identifier`` with system ``urn:ebill:check-code``
issuedAt              ``date`` (dateTime with its UTC offset, verbatim)
visitType             ``type.coding`` with system ``<base>/CodeSystem/visit-type``
patientId             ``subject`` Reference(Patient) ``identifier`` system
                      ``urn:oid:2.16.156.10011.1.3`` (resident ID card number, as in the
                      WS/T 500 shared-document headers)
totalFen              ``totalGross`` Money (CNY, decimal yuan)
fundPaidFen, ...      extensions ``fund-paid``, ``account-paid``, ``cash-paid`` (valueMoney)
schemaVersion         implied: this mapping is schema version 1
feeLines[i]           ``lineItem[i]``:
  seq                 ``sequence``
  itemCode, itemName  ``chargeItemCodeableConcept.coding`` system ``urn:ebill:nhsa-item-code``:
                      ``code`` and ``display``
  category            extension ``fee-category`` (valueCode A | B | C)
  quantity            extension ``quantity`` (valueDecimal)
  unit                extension ``unit`` (valueString)
  unitPriceFen        extension ``unit-price`` (valueMoney)
  serviceDate         extension ``service-date`` (valueDate)
  amountFen           ``priceComponent`` of type ``base``: ``amount`` (Money)
====================  =========================================================================

Extension URLs are ``https://ebill-ledger.example/fhir/StructureDefinition/<name>``.
The payment split is carried by extensions, not ``totalPriceComponent``: price
components describe how a price is built (base, surcharge, discount, tax), not who paid.

Money: ``currency`` must be ``CNY``; ``value`` is decimal yuan with at most two decimals,
read as :class:`~decimal.Decimal` (never float) and converted to exact fen.

Reading accepts a Bundle of type ``collection``, ``batch`` or ``transaction``; every entry
must be an Invoice with status ``issued`` or ``balanced`` (written: ``balanced``, the
patient has paid). An entry that is not an Invoice, fails the FHIR model, carries a
``modifierExtension`` (which we would have to understand) or breaks the mapping is an
item problem whose field is the FHIR path (``bundle.json entry[3].resource.lineItem[0].
sequence``). Validation with the models costs ~0.2 ms per fee line: FHIR is for
moderate uploads; bulk loads use NDJSON or CSV.
"""

from __future__ import annotations

import functools
import uuid
from collections.abc import Iterable, Iterator, Mapping, Sequence
from decimal import Decimal
from typing import IO, Any, overload

import orjson
from pydantic import ValidationError

from ledger.errors import FieldProblem, InvalidInput
from ledger.formats.items import DEFAULT_LIMITS, Limits, SourceItem, count_items, problem
from ledger.formats.jsonfmt import duplicate_problems, read_bounded
from ledger.formats.money import decimal_to_fen, fen_to_decimal_number
from ledger.formats.strict_json import DuplicateKey, MalformedJson, depth_exceeds, parse_decimal
from ledger.invoice import SCHEMA_VERSION

__all__ = [
    "BASE",
    "BundleWriter",
    "iter_fhir_bundle",
    "to_fhir_bundle",
    "to_fhir_invoice",
]

BASE = "https://ebill-ledger.example/fhir"
SD = f"{BASE}/StructureDefinition/"
EXT_FUND_PAID, EXT_ACCOUNT_PAID, EXT_CASH_PAID = SD + "fund-paid", SD + "account-paid", SD + "cash-paid"
EXT_CATEGORY, EXT_QUANTITY, EXT_UNIT = SD + "fee-category", SD + "quantity", SD + "unit"
EXT_UNIT_PRICE, EXT_SERVICE_DATE = SD + "unit-price", SD + "service-date"
SYS_INVOICE_CODE = "urn:ebill:invoice-code"
SYS_INVOICE_NUMBER = "urn:ebill:invoice-number"
SYS_CHECK_CODE = "urn:ebill:check-code"
SYS_INSTITUTION = "urn:ebill:institution-code"
SYS_RESIDENT_ID = "urn:oid:2.16.156.10011.1.3"
SYS_VISIT_TYPE = f"{BASE}/CodeSystem/visit-type"
SYS_ITEM_CODE = "urn:ebill:nhsa-item-code"
CURRENCY = "CNY"
BUNDLE_TYPES = ("collection", "batch", "transaction")
STATUSES = ("issued", "balanced")
_IDENTIFIERS = (("invoiceCode", SYS_INVOICE_CODE), ("invoiceNumber", SYS_INVOICE_NUMBER),
                ("checkCode", SYS_CHECK_CODE))
_PAYMENTS = (("fundPaidFen", EXT_FUND_PAID), ("accountPaidFen", EXT_ACCOUNT_PAID), ("cashPaidFen", EXT_CASH_PAID))
#: nesting levels a bundle may have (arrays and objects; nested extensions included)
MAX_DEPTH = 64
_NAMESPACE = uuid.UUID("5b0f3c1e-6d0a-5d8e-9c59-0e1b11ed9e00")

#: where each upload field sits, for SourceItem.locate
NAMES: dict[str, str] = {
    "issuer": ".resource.issuer.identifier", "issuedAt": ".resource.date", "visitType": ".resource.type",
    "patientId": ".resource.subject.identifier", "totalFen": ".resource.totalGross",
    "invoiceCode": f".resource.identifier[system={SYS_INVOICE_CODE}]",
    "invoiceNumber": f".resource.identifier[system={SYS_INVOICE_NUMBER}]",
    "checkCode": f".resource.identifier[system={SYS_CHECK_CODE}]",
    **{up: f".resource.extension[url={url}]" for up, url in _PAYMENTS},
    "seq": ".sequence", "itemCode": ".chargeItemCodeableConcept.coding.code",
    "itemName": ".chargeItemCodeableConcept.coding.display", "category": f".extension[url={EXT_CATEGORY}]",
    "quantity": f".extension[url={EXT_QUANTITY}]", "unit": f".extension[url={EXT_UNIT}]",
    "unitPriceFen": f".extension[url={EXT_UNIT_PRICE}]", "serviceDate": f".extension[url={EXT_SERVICE_DATE}]",
    "amountFen": ".priceComponent[type=base].amount",
}


# =========================================================================== writing


def _money(fen: int) -> dict[str, Any]:
    return {"value": fen_to_decimal_number(fen), "currency": CURRENCY}


def _quantity_number(q: Any) -> int | float | Decimal:
    if type(q) is int:
        return q
    text = str(q)
    return int(text) if text.isdigit() else float(text)


def to_fhir_invoice(doc: Mapping[str, Any]) -> dict[str, Any]:
    """The FHIR Invoice of a valid upload document (see the module doc for the mapping)."""
    lines = []
    for line in doc["feeLines"]:
        lines.append({
            "extension": [
                {"url": EXT_CATEGORY, "valueCode": line["category"]},
                {"url": EXT_QUANTITY, "valueDecimal": _quantity_number(line["quantity"])},
                {"url": EXT_UNIT, "valueString": line["unit"]},
                {"url": EXT_UNIT_PRICE, "valueMoney": _money(line["unitPriceFen"])},
                {"url": EXT_SERVICE_DATE, "valueDate": line["serviceDate"]},
            ],
            "sequence": line["seq"],
            "chargeItemCodeableConcept": {"coding": [
                {"system": SYS_ITEM_CODE, "code": line["itemCode"], "display": line["itemName"]}]},
            "priceComponent": [{"type": "base", "amount": _money(line["amountFen"])}],
        })
    return {
        "resourceType": "Invoice",
        "extension": [{"url": url, "valueMoney": _money(doc[up])} for up, url in _PAYMENTS],
        "identifier": [{"system": system, "value": doc[up]} for up, system in _IDENTIFIERS],
        "status": "balanced",
        "type": {"coding": [{"system": SYS_VISIT_TYPE, "code": doc["visitType"]}]},
        "subject": {"type": "Patient", "identifier": {"system": SYS_RESIDENT_ID, "value": doc["patientId"]}},
        "date": doc["issuedAt"],
        "issuer": {"type": "Organization", "identifier": {"system": SYS_INSTITUTION, "value": doc["issuer"]}},
        "lineItem": lines,
        "totalGross": _money(doc["totalFen"]),
    }


def _entry(doc: Mapping[str, Any]) -> dict[str, Any]:
    key = f"{doc['issuer']}/{doc['invoiceCode']}/{doc['invoiceNumber']}"
    return {"fullUrl": f"urn:uuid:{uuid.uuid5(_NAMESPACE, key)}", "resource": to_fhir_invoice(doc)}


def to_fhir_bundle(docs: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """A ``collection`` Bundle of the documents' Invoices (fullUrl: a UUID5 of the invoice key)."""
    return {"resourceType": "Bundle", "type": "collection", "entry": [_entry(d) for d in docs]}


class BundleWriter:
    """Writes one Bundle to a byte stream entry by entry (the bytes of ``to_fhir_bundle``, via orjson)."""

    def __init__(self, out: IO[bytes]) -> None:
        self._out = out
        self.count = 0
        self.bytes = out.write(b'{"resourceType":"Bundle","type":"collection","entry":[')

    def write(self, doc: Mapping[str, Any]) -> None:
        self.bytes += self._out.write((b"," if self.count else b"") + orjson.dumps(_entry(doc)))
        self.count += 1

    def close(self) -> None:
        self.bytes += self._out.write(b"]}\n")


# =========================================================================== reading


def iter_fhir_bundle(bundle: bytes | IO[bytes], *, name: str = "bundle.json", limits: Limits = DEFAULT_LIMITS,
                     validate: bool = True) -> Iterator[SourceItem]:
    """One item per entry of a FHIR Bundle of Invoices.

    Raises :class:`InvalidInput` when the document is not JSON, not a Bundle of an
    accepted type, too large, or has more entries than allowed. ``validate=False`` skips
    the FHIR models (for trusted, already validated input): the mapping is still checked.
    """
    raw = read_bounded(bundle, name=name, limit=limits.max_document_bytes, hint="split it into several bundles")
    try:
        parsed = parse_decimal(raw.removeprefix(b"\xef\xbb\xbf"))
    except MalformedJson as exc:
        raise InvalidInput.single(name, exc.rule, exc.message) from None
    if depth_exceeds(parsed.value, MAX_DEPTH):
        # the FHIR models validate nested elements recursively: a deep document would exhaust the stack
        raise InvalidInput.single(name, "json-depth", f"nests deeper than {MAX_DEPTH} levels; an Invoice bundle "
                                  "needs about 12")
    doc, twice = parsed.value, _twice_by_entry(parsed.duplicates, name)
    if not isinstance(doc, dict) or doc.get("resourceType") != "Bundle":
        got = doc.get("resourceType") if isinstance(doc, dict) else type(doc).__name__
        raise InvalidInput.single(f"{name} resourceType", "fhir-bundle", f"must be a FHIR Bundle, got {got!r}")
    if doc.get("type") not in BUNDLE_TYPES:
        raise InvalidInput.single(f"{name} type", "fhir-bundle-type",
                                  f"must be one of {', '.join(BUNDLE_TYPES)}, got {doc.get('type')!r}")
    entries = doc.get("entry") or []
    if not isinstance(entries, list):
        raise InvalidInput.single(f"{name} entry", "fhir-bundle", "must be an array of entries")
    if len(entries) > limits.max_items:
        raise InvalidInput.single(name, "max-items",
                                  f"has {len(entries):,} entries; at most {limits.max_items:,} per upload")
    if validate:
        shell = {**doc, "entry": [{k: v for k, v in e.items() if k != "resource"} if isinstance(e, dict) else e
                                  for e in entries]}
        try:
            _models()[0].model_validate(shell)
        except ValidationError as exc:
            raise InvalidInput(_validation_problems(exc, name)) from None
    return count_items((_entry_item(i, e, name, validate, twice.get(i, ())) for i, e in enumerate(entries)),
                       limits=limits, name=name)


def _twice_by_entry(duplicates: Sequence[DuplicateKey], name: str) -> dict[int, list[DuplicateKey]]:
    """Duplicate keys by the entry they are in; one outside every entry's resource refuses the bundle."""
    by_entry: dict[int, list[DuplicateKey]] = {}
    outside = []
    for dup in duplicates:
        if len(dup.path) > 3 and dup.path[0] == "entry" and dup.path[2] == "resource":
            by_entry.setdefault(int(dup.path[1]), []).append(dup)
        else:
            outside.append(problem(f"{name} {dup.at()}", "duplicate-key", f"the key {dup.key!r} appears more than "
                                   "once in this object; which value is meant is ambiguous"))
    if outside:
        raise InvalidInput(outside)
    return by_entry


@functools.cache
def _models() -> tuple[Any, Any]:
    """The R4B Bundle and Invoice models (imported on first use: the FHIR models take ~0.2 s)."""
    from fhir.resources.R4B.bundle import Bundle
    from fhir.resources.R4B.invoice import Invoice

    return Bundle, Invoice


def _entry_item(i: int, entry: Any, name: str, validate: bool, twice: Sequence[DuplicateKey]) -> SourceItem:
    ref = f"{name} entry[{i}]"
    if twice:  # the path below the entry: resource.lineItem[0].sequence
        return SourceItem(i, ref, None, duplicate_problems(ref, twice, start=2, sep="."))
    res = entry.get("resource") if isinstance(entry, dict) else None
    if not isinstance(res, dict):
        return SourceItem(i, ref, None, (problem(f"{ref}.resource", "fhir-entry", "the entry has no resource"),))
    if res.get("resourceType") != "Invoice":
        return SourceItem(i, ref, None, (problem(f"{ref}.resource.resourceType", "fhir-resource-type",
                                                 f"must be Invoice, got {res.get('resourceType')!r}"),))
    if validate:
        try:
            _models()[1].model_validate(res)
        except ValidationError as exc:
            return SourceItem(i, ref, None, tuple(_validation_problems(exc, f"{ref}.resource")))
    problems: list[FieldProblem] = []
    try:
        doc = _Mapper(f"{ref}.resource", problems).invoice(res)
    except (AttributeError, TypeError):  # only without validation: an element of the wrong JSON type
        return SourceItem(i, ref, None, (problem(f"{ref}.resource", "fhir-structure",
                                                 "is not a valid FHIR Invoice (validate it to see where)"),))
    if problems:
        return SourceItem(i, ref, None, tuple(problems))
    return SourceItem(i, ref, doc, line_refs=_LineItemRefs(f"{ref}.resource.lineItem", len(doc["feeLines"])),
                      names=NAMES)


def _validation_problems(exc: ValidationError, at: str) -> list[FieldProblem]:
    out = []
    for err in exc.errors():
        path = at
        for part in err["loc"]:
            if isinstance(part, int):
                path += f"[{part}]"
            elif "[" not in str(part):  # skip pydantic's validator labels such as "function-after[...]"
                path += f".{part}"
        out.append(problem(path, f"fhir-{err['type']}", err["msg"]))
    return out


class _LineItemRefs(Sequence[str]):
    """``<...>.lineItem[j]`` for each fee line, made on demand."""

    def __init__(self, prefix: str, n: int) -> None:
        self._prefix, self._n = prefix, n

    def __len__(self) -> int:
        return self._n

    @overload
    def __getitem__(self, j: int) -> str: ...
    @overload
    def __getitem__(self, j: slice) -> Sequence[str]: ...
    def __getitem__(self, j: int | slice) -> str | Sequence[str]:
        if isinstance(j, slice):
            return [self[k] for k in range(self._n)[j]]
        if not -self._n <= j < self._n:
            raise IndexError(j)
        return f"{self._prefix}[{j % self._n}]"


class _Mapper:
    """FHIR Invoice -> upload document; mapping problems are collected with their FHIR paths.

    A missing element is left out of the document (``parse_invoice`` then reports the
    field as required); an element of the wrong shape is a problem here.
    """

    def __init__(self, at: str, problems: list[FieldProblem]) -> None:
        self.at, self.problems = at, problems

    def bad(self, path: str, rule: str, message: str) -> None:
        self.problems.append(problem(f"{self.at}{path}", rule, message))

    def invoice(self, res: Mapping[str, Any]) -> dict[str, Any]:
        doc: dict[str, Any] = {"schemaVersion": SCHEMA_VERSION}
        if res.get("modifierExtension"):
            self.bad(".modifierExtension", "fhir-modifier-extension", "modifier extensions are not understood here")
        if res.get("status") not in STATUSES:
            self.bad(".status", "fhir-status", f"must be {' or '.join(STATUSES)}, got {res.get('status')!r}")
        self.put(doc, "issuer", self.reference(res, "issuer", SYS_INSTITUTION))
        ids = _by_key(res.get("identifier") or [], "system")
        for up, system in _IDENTIFIERS:
            found = ids.get(system, [])
            if len(found) > 1:
                self.bad(f".identifier[{found[1][0]}]", "fhir-identifier", f"a second identifier of system {system}")
            elif found:
                self.put(doc, up, found[0][1].get("value"))
        self.put(doc, "issuedAt", res.get("date"))
        self.put(doc, "visitType", self.coding(res.get("type"), ".type", SYS_VISIT_TYPE, "code"))
        self.put(doc, "patientId", self.reference(res, "subject", SYS_RESIDENT_ID))
        self.put(doc, "totalFen", self.money(res.get("totalGross"), ".totalGross"))
        ext = self.extensions(res.get("extension") or [], "")
        for up, url in _PAYMENTS:
            if url in ext:
                path, value = ext[url]
                self.put(doc, up, self.money(value.get("valueMoney"), f"{path}.valueMoney"))
        doc["feeLines"] = [self.line(item, f".lineItem[{j}]") for j, item in enumerate(res.get("lineItem") or [])]
        return doc

    def line(self, item: Mapping[str, Any], at: str) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if item.get("modifierExtension"):
            self.bad(f"{at}.modifierExtension", "fhir-modifier-extension", "modifier extensions are not understood")
        self.put(out, "seq", item.get("sequence"))
        concept = item.get("chargeItemCodeableConcept")
        self.put(out, "itemCode", self.coding(concept, f"{at}.chargeItemCodeableConcept", SYS_ITEM_CODE, "code"))
        self.put(out, "itemName", self.coding(concept, f"{at}.chargeItemCodeableConcept", SYS_ITEM_CODE, "display",
                                              report=False))
        ext = self.extensions(item.get("extension") or [], at)
        for up, url, key in (("category", EXT_CATEGORY, "valueCode"), ("quantity", EXT_QUANTITY, "valueDecimal"),
                             ("unit", EXT_UNIT, "valueString"), ("unitPriceFen", EXT_UNIT_PRICE, "valueMoney"),
                             ("serviceDate", EXT_SERVICE_DATE, "valueDate")):
            if url not in ext:
                continue
            path, e = ext[url]
            value = e.get(key)
            if value is None:
                self.bad(f"{path}.{key}", "fhir-extension-value", f"extension {url} needs {key}")
            elif key == "valueMoney":
                self.put(out, up, self.money(value, f"{path}.valueMoney"))
            elif key == "valueDecimal":
                out[up] = format(value, "f") if isinstance(value, Decimal) else str(value)
            else:
                out[up] = value
        bases = [(k, c) for k, c in enumerate(item.get("priceComponent") or []) if c.get("type") == "base"]
        if len(bases) > 1:
            self.bad(f"{at}.priceComponent[{bases[1][0]}]", "fhir-base-price", "a line has one base price component")
        elif bases:
            k, c = bases[0]
            self.put(out, "amountFen", self.money(c.get("amount"), f"{at}.priceComponent[{k}].amount"))
        return out

    # ------------------------------------------------------------------ elements

    @staticmethod
    def put(doc: dict[str, Any], key: str, value: Any) -> None:
        if value is not None:
            doc[key] = value

    def reference(self, res: Mapping[str, Any], element: str, system: str) -> Any:
        ref = res.get(element)
        if not ref:
            return None
        ident = ref.get("identifier") or {}
        if ident.get("system") != system:
            self.bad(f".{element}.identifier.system", "fhir-identifier-system",
                     f"must be {system}, got {ident.get('system')!r}")
            return None
        return ident.get("value")

    def coding(self, concept: Any, at: str, system: str, key: str, *, report: bool = True) -> Any:
        if not concept:
            return None
        codings = [c for c in concept.get("coding") or [] if c.get("system") == system]
        if len(codings) != 1:
            if report:
                self.bad(f"{at}.coding", "fhir-coding", f"needs exactly one coding of system {system}, "
                                                        f"found {len(codings)}")
            return None
        return codings[0].get(key)

    def extensions(self, items: list[Mapping[str, Any]], at: str) -> dict[str, tuple[str, Mapping[str, Any]]]:
        out: dict[str, tuple[str, Mapping[str, Any]]] = {}
        for k, e in enumerate(items):
            url = str(e.get("url"))
            if url in out:
                self.bad(f"{at}.extension[{k}]", "fhir-extension", f"extension {url} appears twice")
            out[url] = (f"{at}.extension[{k}]", e)
        return out

    def money(self, value: Any, at: str) -> int | None:
        if value is None:
            return None
        if value.get("currency") != CURRENCY:
            self.bad(f"{at}.currency", "fhir-currency", f"must be {CURRENCY}, got {value.get('currency')!r}")
            return None
        try:
            return decimal_to_fen(value.get("value"))
        except ValueError as exc:
            self.bad(f"{at}.value", "yuan", str(exc))
            return None


def _by_key(items: list[Mapping[str, Any]], key: str) -> dict[Any, list[tuple[int, Mapping[str, Any]]]]:
    out: dict[Any, list[tuple[int, Mapping[str, Any]]]] = {}
    for k, item in enumerate(items):
        out.setdefault(item.get(key), []).append((k, item))
    return out
