"""The monthly report's CSV and PDF, read back (csv module; pypdf's text extraction) and
checked against the figures counted by hand in test_claims_reports.py."""

from __future__ import annotations

import csv
import io
from dataclasses import replace

import pytest
from pdf_reading import SUBSET, fonts
from pypdf import PdfReader
from report_claims import C1, C2, C4, CLAIMS, H1, H2, PERSON, line, report, utc

from ledger.adapters.report_csv import BOM, COLUMNS, render_report_csv
from ledger.adapters.report_pdf import TOP_HOSPITAL, render_report_pdf

PERSONAL = (PERSON.hex(), PERSON.hex()[:16], "citizen", "reviewer-wang", "window-1", "clm_", "0000000001",
            "the stay was not medically necessary")


def rows(data: bytes) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(data.decode("utf-8-sig"), newline="")))


def pdf_text(pdf: bytes) -> list[str]:
    return [page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages]


def test_the_csv_opens_in_excel_and_holds_the_hand_counted_figures() -> None:
    data = render_report_csv(report())
    assert data.startswith(BOM.encode("utf-8")) and b"\r\n" in data and b"\n" not in data.replace(b"\r\n", b"")
    assert data.decode("utf-8-sig").splitlines()[0].split(",") == list(COLUMNS)
    got = rows(data)
    # H1: its row, 5 rules, 4 items; H2: 1 + 1 + 1; the total: 1 + 6 rules + 4 items
    assert [r["section"] for r in got] == (["hospital"] + ["hospital-rule"] * 5 + ["hospital-item"] * 4 +
                                           ["hospital", "hospital-rule", "hospital-item"] +
                                           ["total"] + ["total-rule"] * 6 + ["total-item"] * 4)
    assert {(r["month"], r["complete"], r["as_of"]) for r in got} == {("2026-11", "true", "2026-12-01T09:00:00+08:00")}
    one = got[0]
    assert (one["hospital_id"], one["hospital_name"], one["claims"], one["claimed_yuan"], one["paid_yuan"],
            one["instant_claims"], one["manual_claims"], one["manual_claimed_yuan"], one["manual_paid_yuan"],
            one["window_claims"], one["refused_lines"], one["refused_yuan"], one["flagged_claims"], one["flags"]) == (
        H1, "市第一人民医院", "3", "1100.00", "150.00", "1", "2", "1000.00", "90.00", "0", "4", "90.00", "1", "1")
    assert one["rule"] == one["item_code"] == one["lines"] == ""     # cells of other sections stay empty
    two = got[10]
    assert (two["hospital_id"], two["clawback_claims"], two["rejected_claims"], two["window_claims"]) == (H2, "1", "1",
                                                                                                          "1")
    total = got[13]
    assert (total["hospital_id"], total["hospital_name"], total["claims"], total["claimed_yuan"], total["paid_yuan"],
            total["manual_claims"], total["refused_yuan"]) == ("", "Total 合计", "6", "1340.00", "180.00", "3",
                                                               "110.00")
    review = got[14]
    assert (review["rule_set"], review["rule"], review["rule_name"], review["rule_name_zh"], review["kind"],
            review["claims"], review["lines"], review["refused_yuan"]) == (
        "", "review:not-medically-necessary", "Reviewer: not medically necessary for this visit",
        "审核人员：非医疗必需", "refusal", "1", "1", "36.00")
    flag = got[19]
    assert (flag["rule_set"], flag["rule"], flag["kind"], flag["lines"], flag["refused_yuan"]) == (
        "sx-pharmacy-pooling@v2", "duplicate-item", "flag", "2", "0.00")
    item = got[20]
    assert (item["item_code"], item["item_name"], item["claims"], item["refused_lines"], item["refused_yuan"],
            item["flagged_lines"]) == ("C001", "自费检查", "2", "2", "50.00", "0")
    assert not any(secret in data.decode("utf-8-sig") for secret in PERSONAL)


@pytest.mark.parametrize("name", ["=HYPERLINK(\"http://x\",\"y\")", "+1+1", "-2+3", "@SUM(A1)", "\t=1", "\r=1"])
def test_csv_cells_from_hospitals_are_never_formulas(name: str) -> None:
    bad = [replace(C1, hospital_name=name, decision={**C1.decision, "lines": [line(1, name, 100, ("class-c-self-pay",
                                                                                                   100))]})]
    got = rows(render_report_csv(report(bad, names={(C1.fingerprint, 1): name})))
    assert got[0]["hospital_name"] == "'" + name
    item = next(r for r in got if r["section"] == "hospital-item")
    assert item["item_code"] == item["item_name"] == "'" + name


def test_a_month_not_over_says_so_in_the_csv() -> None:
    got = rows(render_report_csv(report(generated_at=utc("2026-11-20T04:00:00"))))
    assert {r["complete"] for r in got} == {"false"} and got[0]["as_of"] == "2026-11-20T12:00:00+08:00"


def test_the_pdf_shows_the_figures_and_names() -> None:
    pdf = render_report_pdf(report())
    assert pdf.startswith(b"%PDF-")
    pages = pdf_text(pdf)
    text = "\n".join(pages)
    for value in ("月度报销报告", "2026-11", "绍兴市医保局", "330600-ybj", "2026-11-01 00:00 – 2026-12-01 00:00",
                  "all hospitals 全部医院", "2026-12-01 09:00", H1, "市第一人民医院", H2, "县人民医院", "Total 合计",
                  # H1: claimed, paid, manual claimed, refused; the total: claimed, paid, refused
                  "¥1,100.00", "¥150.00", "¥1,000.00", "¥90.00", "¥1,340.00", "¥180.00", "¥110.00",
                  "review:not-medically-necessary", "审核人员：非医疗必需", "¥36.00", "negative-list:N0",
                  "负面清单项目（N0）", "自费检查", "营养液", "保健品", "头孢克肟", "陪护费", "¥50.00",
                  "sx-local-inpatient@v1", "flag 疑点", "人工审核件数计入医院年度清算考核"):
        assert value in text, value
    assert "incomplete" not in text
    assert all(f"page {i} of {len(pages)}" in t for i, t in enumerate(pages, 1))
    assert not any(secret in text for secret in PERSONAL)


def test_the_pdf_embeds_its_font_and_reads_back_without_replacement_characters() -> None:
    pdf = render_report_pdf(report())
    found = fonts(pdf)
    assert found and all(f.embedded == "/FontFile2" and SUBSET.match(f.name) for f in found), found
    assert any("WenQuanYiMicroHei" in f.name and f.used for f in found)
    text = "\n".join(pdf_text(pdf))
    assert "\ufffd" not in text and "月度报销报告 2026-11 · 绍兴市医保局" in text    # the footer's "·"


def test_the_pdf_warns_when_the_month_is_not_over_and_renders_the_same_bytes_twice() -> None:
    early = report(generated_at=utc("2026-11-20T04:00:00"))
    text = "\n".join(pdf_text(render_report_pdf(early)))
    assert "figures are incomplete" in text and "本月尚未结束" in text
    assert render_report_pdf(early) == render_report_pdf(early)


def test_a_hospitals_own_pdf_and_a_long_item_list() -> None:
    many = [line(i, f"M{i:03d}", 100 + i, ("class-c-self-pay", 100 + i)) for i in range(1, TOP_HOSPITAL + 8)]
    c = replace(C2, decision={**C2.decision, "lines": many, "flags": []})
    own = report([C1, c], hospital=H1)
    text = "\n".join(pdf_text(render_report_pdf(own)))
    assert f"hospital 医院 {H1}" in text and "All hospitals" not in text and H2 not in text
    assert "… 9 more items 个项目 in the CSV export" in text           # 32 + 2 items, 25 shown
    assert "M001" not in text and f"M{TOP_HOSPITAL + 7:03d}" in text   # the most refused first
    assert len([r for r in rows(render_report_csv(own)) if r["section"] == "hospital-item"]) == TOP_HOSPITAL + 9


@pytest.mark.parametrize("name", ["</para><font size=40>x</font>", "a & b < c > d", "<unknown-tag/>", "&amp;"])
def test_names_cannot_inject_markup_into_the_pdf(name: str) -> None:
    bad = [replace(C4, hospital_name=name)]
    text = "\n".join(pdf_text(render_report_pdf(report(bad, names={(C4.fingerprint, 1): name}))))
    assert f"{H2} {name}" in text and name in text


def test_an_empty_month() -> None:
    empty = report([])
    assert [r["section"] for r in rows(render_report_csv(empty))] == ["total"]
    text = "\n".join(pdf_text(render_report_pdf(empty)))
    assert "No refusal or flag" in text and "Total 合计" in text


def test_every_claim_of_the_fixture_counts_once() -> None:
    assert sum(int(r["claims"]) for r in rows(render_report_csv(report())) if r["section"] == "hospital") == len(
        CLAIMS)
