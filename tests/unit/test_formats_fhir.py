"""ledger.formats.fhir: HL7 FHIR R4 Invoice bundles, both ways, validated with fhir.resources R4B."""

from __future__ import annotations

import io
import json
from typing import Any

import orjson
import pytest
from fhir.resources.R4B.bundle import Bundle

from ledger.devtools.synth import generate, iter_documents
from ledger.errors import InvalidInput
from ledger.formats import Limits, SourceItem, UploadPart, read_upload
from ledger.formats.fhir import (
    EXT_CATEGORY,
    SYS_RESIDENT_ID,
    BundleWriter,
    iter_fhir_bundle,
    to_fhir_bundle,
)
from ledger.invoice_check import parse_invoice

PEPPER = b"formats-test-pepper-0123456789ab"


@pytest.fixture(scope="module")
def docs() -> list[dict[str, Any]]:
    # small invoices: validation with the FHIR models costs ~0.3 ms per fee line
    return list(iter_documents(generate(11, hospitals=3, invoices=12, fee_lines=120, pepper=PEPPER)))


@pytest.fixture()
def bundle(docs: list[dict[str, Any]]) -> dict[str, Any]:
    return json.loads(orjson.dumps(to_fhir_bundle(docs[:2])))


def read(bundle: dict[str, Any] | bytes, **kw: Any) -> list[SourceItem]:
    data = bundle if isinstance(bundle, bytes) else orjson.dumps(bundle)
    return list(iter_fhir_bundle(data, **kw))


def problems(item: SourceItem) -> list[tuple[str, str]]:
    assert item.document is None, item
    return [(p.field, p.rule) for p in item.problems]


# ------------------------------------------------------------------ round trips


def test_round_trip_is_identity_and_parses(docs: list[dict[str, Any]]) -> None:
    data = orjson.dumps(to_fhir_bundle(docs))
    items = read(data)
    assert [i.document for i in items] == docs
    assert items[3].ref == "bundle.json entry[3]"
    for item in items:
        parse_invoice(item.document, pepper=PEPPER)
    assert [i.document for i in read(data, validate=False)] == docs


def test_written_bundles_are_valid_r4b_and_streamed_equal(docs: list[dict[str, Any]]) -> None:
    whole = to_fhir_bundle(docs)
    model = Bundle.model_validate(json.loads(orjson.dumps(whole)))
    assert model.type == "collection" and len(model.entry) == len(docs)
    assert model.entry[0].resource.get_resource_type() == "Invoice"
    out = io.BytesIO()
    w = BundleWriter(out)
    for d in docs:
        w.write(d)
    w.close()
    assert out.getvalue() == orjson.dumps(whole) + b"\n" and w.bytes == len(out.getvalue())
    first = whole["entry"][0]
    assert first["fullUrl"].startswith("urn:uuid:") and first["resource"]["status"] == "balanced"
    assert first["resource"]["subject"]["identifier"]["system"] == SYS_RESIDENT_ID == "urn:oid:2.16.156.10011.1.3"


def test_money_is_read_exactly(bundle: dict[str, Any]) -> None:
    bundle["entry"][0]["resource"]["totalGross"]["value"] = 0
    # decimals as a hospital writes them, read as Decimal (0.1 + 0.2 style float errors cannot occur)
    for text, fen in ((b"1234.50", 123450), (b"0.30", 30), (b"7", 700), (b"1E+2", 10000)):
        data = orjson.dumps(bundle).replace(b'"totalGross":{"value":0', b'"totalGross":{"value":' + text)
        (item, _) = read(data)
        assert item.document["totalFen"] == fen  # type: ignore[index]


def test_batch_and_transaction_bundles(bundle: dict[str, Any], docs: list[dict[str, Any]]) -> None:
    for kind in ("batch", "transaction"):
        b = {**bundle, "type": kind,
             "entry": [{**e, "request": {"method": "POST", "url": "Invoice"}} for e in bundle["entry"]]}
        assert [i.document for i in read(b)] == docs[:2]


# ------------------------------------------------------------------ item problems


def test_non_invoice_entry(bundle: dict[str, Any], docs: list[dict[str, Any]]) -> None:
    bundle["entry"].insert(1, {"resource": {"resourceType": "Patient", "id": "p1"}})
    items = read(bundle, name="b.json")
    assert [i.ok for i in items] == [True, False, True]
    assert problems(items[1]) == [("b.json entry[1].resource.resourceType", "fhir-resource-type")]
    assert "got 'Patient'" in items[1].problems[0].message


def test_invalid_fhir_is_mapped_to_fhir_paths(bundle: dict[str, Any]) -> None:
    res = bundle["entry"][1]["resource"]
    res["lineItem"][0]["sequence"] = "first"
    res["date"] = "yesterday"
    res["colour"] = "red"
    (ok, bad) = read(bundle)
    assert ok.ok
    found = problems(bad)
    assert ("bundle.json entry[1].resource.lineItem[0].sequence", "fhir-int_parsing") in found
    assert ("bundle.json entry[1].resource.colour", "fhir-extra_forbidden") in found
    assert any(f == "bundle.json entry[1].resource.date" for f, _ in found)


@pytest.mark.parametrize(("change", "expected"), [
    (lambda r: r["lineItem"][1]["priceComponent"][0]["amount"].update(value=1.005),
     ("entry[0].resource.lineItem[1].priceComponent[0].amount.value", "yuan")),
    (lambda r: r["totalGross"].update(currency="USD"), ("entry[0].resource.totalGross.currency", "fhir-currency")),
    (lambda r: r["subject"]["identifier"].update(system="urn:ebill:resident-id"),
     ("entry[0].resource.subject.identifier.system", "fhir-identifier-system")),
    (lambda r: r.update(status="cancelled"), ("entry[0].resource.status", "fhir-status")),
    (lambda r: r.update(modifierExtension=[{"url": "https://example.org/x", "valueBoolean": True}]),
     ("entry[0].resource.modifierExtension", "fhir-modifier-extension")),
    (lambda r: r["identifier"].append({"system": "urn:ebill:invoice-code", "value": "1"}),
     ("entry[0].resource.identifier[3]", "fhir-identifier")),
    (lambda r: r["lineItem"][0]["priceComponent"].append(r["lineItem"][0]["priceComponent"][0]),
     ("entry[0].resource.lineItem[0].priceComponent[1]", "fhir-base-price")),
    (lambda r: r["lineItem"][0]["extension"].append({"url": EXT_CATEGORY, "valueCode": "B"}),
     ("entry[0].resource.lineItem[0].extension[5]", "fhir-extension")),
])
def test_mapping_problems(bundle: dict[str, Any], change: Any, expected: tuple[str, str]) -> None:
    change(bundle["entry"][0]["resource"])
    (bad, ok) = read(bundle)
    assert ok.ok
    assert problems(bad) == [(f"bundle.json {expected[0]}", expected[1])]


def test_missing_elements_are_left_to_validation_and_located(bundle: dict[str, Any]) -> None:
    res = bundle["entry"][0]["resource"]
    del res["lineItem"][2]["extension"][2]  # the unit
    del res["issuer"]
    (item, _) = read(bundle)
    assert item.ok and "issuer" not in item.document  # type: ignore[operator]
    assert item.locate("issuer") == "bundle.json entry[0].resource.issuer.identifier"
    assert item.locate("feeLines[2].unit").startswith("bundle.json entry[0].resource.lineItem[2].extension[url=")
    assert item.locate("feeLines[1]") == "bundle.json entry[0].resource.lineItem[1]"


def test_without_validation_a_broken_shape_is_still_an_item_problem(bundle: dict[str, Any]) -> None:
    bundle["entry"][0]["resource"]["lineItem"][0]["priceComponent"] = "base"
    (bad, ok) = read(bundle, validate=False)
    assert ok.ok and problems(bad) == [("bundle.json entry[0].resource", "fhir-structure")]


# ------------------------------------------------------------------ upload problems


@pytest.mark.parametrize(("doc", "rule"), [
    (b"{", "json"),
    (b'{"resourceType": "Bundle", "type": "collection", "entry": [], "total": NaN}', "json"),
    (b'{"resourceType": "Invoice"}', "fhir-bundle"),
    (b'{"resourceType": "Bundle", "type": "searchset"}', "fhir-bundle-type"),
    (b'{"resourceType": "Bundle", "type": "collection", "timestamp": "noon"}', "fhir-value_error"),
])
def test_bundle_problems_raise(doc: bytes, rule: str) -> None:
    with pytest.raises(InvalidInput) as exc:
        read(doc)
    assert exc.value.problems[0].rule == rule


def test_limits(bundle: dict[str, Any]) -> None:
    with pytest.raises(InvalidInput, match="at most 1 per upload"):
        read(bundle, limits=Limits(max_items=1))
    with pytest.raises(InvalidInput, match="several bundles"):
        read(bundle, limits=Limits(max_document_bytes=100))


def test_read_upload_detects_fhir(bundle: dict[str, Any], docs: list[dict[str, Any]]) -> None:
    for part in (UploadPart(io.BytesIO(orjson.dumps(bundle)), filename="b.json"),
                 UploadPart(io.BytesIO(orjson.dumps(bundle, option=orjson.OPT_INDENT_2)),
                            content_type="application/fhir+json")):
        assert [i.document for i in read_upload([part])] == docs[:2]


def test_a_key_twice_is_an_entry_problem_naming_its_fhir_path(bundle: dict[str, Any]) -> None:
    raw = orjson.dumps(bundle).replace(b'"sequence":1,', b'"sequence":1,"sequence":2,', 1)
    items = read(raw)
    assert problems(items[0]) == [("bundle.json entry[0].resource.lineItem[0].sequence", "duplicate-key")]
    assert items[1].ok
    with pytest.raises(InvalidInput) as caught:  # outside the entries: the bundle as a whole
        read(orjson.dumps(bundle).replace(b'"type":"collection"', b'"type":"collection","type":"batch"', 1))
    assert caught.value.problems[0].field == "bundle.json type"


@pytest.mark.parametrize("levels", [40, 600, 5000, 100_000])
def test_deep_nesting_is_a_bundle_problem_not_a_crash(bundle: dict[str, Any], levels: int) -> None:
    deep = b'{"url":"x","extension":[' * levels + b'{"url":"x","valueString":"v"}' + b"]}" * levels
    raw = orjson.dumps(bundle).replace(b'"extension":[', b'"extension":[' + deep + b",", 1)
    with pytest.raises(InvalidInput) as caught:
        read(raw)
    assert caught.value.problems[0].rule == "json-depth"
