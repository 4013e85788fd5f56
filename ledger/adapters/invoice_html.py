"""The printable invoice: one self-contained HTML page (header, fee lines, amounts, QR code).

Everything is inline (styles, the QR as SVG), so the page prints the same offline and
loads nothing from anywhere. Every value from the invoice is HTML-escaped: item names
come from hospitals' systems and must not be able to inject markup into a page an
auditor opens.

Printed (A4 portrait, 14 mm margins: 182 mm of line) the fee table has fixed column
widths that add up to the line (:data:`~ledger.adapters.invoice_print.COLUMNS`, as in
the PDF), long item codes and names wrap inside their cells, and the column header
repeats on every page. The QR code is an SVG with a ``viewBox``, printed at 34 mm
(≥ 30 mm, so a phone reads it) with its 4-module white quiet zone. A void invoice
carries "作废 VOID" and the void date across every page.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from html import escape
from typing import Any

from ledger.adapters.invoice_print import (
    CATEGORY,
    COLUMNS,
    NUMERIC,
    TITLE,
    header_fields,
    stamp_lines,
    void_note,
    yuan,
)
from ledger.adapters.qr_image import qr_svg

__all__ = ["CATEGORY", "header_fields", "render_invoice", "yuan"]

_STYLE = """
@page { size: A4; margin: 14mm; }
* { box-sizing: border-box; }
body { font-family: "Noto Sans CJK SC", "Source Han Sans SC", "WenQuanYi Micro Hei", "Microsoft YaHei",
       "PingFang SC", sans-serif; font-size: 9.5pt; line-height: 1.35; color: #111; background: #fff;
       margin: 0 auto; max-width: 182mm; }
@media screen { body { padding: 5mm 4mm; max-width: 190mm; } }
h1 { font-size: 14pt; margin: 0 0 2mm; }
code, .mono { font-family: "DejaVu Sans Mono", "WenQuanYi Micro Hei Mono", monospace; }
.head { display: flex; justify-content: space-between; align-items: flex-start; gap: 6mm;
        border-bottom: 0.4mm solid #111; padding-bottom: 3mm; }
.head > div:first-child { flex: 1 1 auto; min-width: 0; container-type: inline-size; }
.head dl { display: grid; grid-template-columns: max-content minmax(0, 1fr); gap: 0.6mm 4mm; margin: 0; }
.head dt { color: #555; } .head dd { margin: 0; overflow-wrap: anywhere; }
@container (max-width: 75mm) { .head dl { grid-template-columns: minmax(0, 1fr); } .head dd { margin-bottom: 1mm; } }
.qr { flex: none; text-align: center; font-size: 7pt; color: #555; }
.qr svg { width: 34mm; height: 34mm; display: block; }
@media screen and (max-width: 150mm) { .head { flex-wrap: wrap; } .qr svg { width: 44mm; height: 44mm; } }
.lines { overflow-x: auto; }
table { width: 100%; table-layout: fixed; border-collapse: collapse; margin-top: 4mm; font-size: 8pt; }
@media screen { table { min-width: 182mm; } }
th { font-weight: 600; vertical-align: bottom; border-bottom: 0.4mm solid #111; }
th span { display: block; font-weight: normal; color: #444; }
th, td { padding: 0.8mm 1mm; text-align: left; vertical-align: top; overflow-wrap: anywhere; }
td { border-bottom: 0.2mm solid #bbb; }
td code { font-size: 6.4pt; }
.n { text-align: right; font-variant-numeric: tabular-nums; }
tfoot td { border-top: 0.4mm solid #111; border-bottom: 0; font-weight: bold; }
.fp { font-size: 7.5pt; word-break: break-all; color: #333; margin-top: 4mm; }
thead { display: table-header-group; } tr { break-inside: avoid; page-break-inside: avoid; }
tfoot { display: table-row-group; }   /* the total once, after the last line: not at the foot of every page */
.void { position: fixed; top: 50%; left: 50%; transform: translate(-50%, -50%) rotate(-30deg); z-index: 1;
        pointer-events: none; text-align: center; white-space: nowrap; font-weight: bold; padding: 2mm 8mm;
        color: rgba(190, 0, 0, 0.45); border: 1.2mm double rgba(190, 0, 0, 0.45); }
.void b { display: block; font-size: 54pt; letter-spacing: 3mm; line-height: 1.1; }
.void span { display: block; font-size: 12pt; }
"""


def _heading(label: str) -> str:
    """"Unit price 单价" as the English word(s) over the Chinese ones."""
    en, _, zh = label.rpartition(" ")
    return f"{escape(en)}<span>{escape(zh)}</span>" if en else escape(label)


def _row(li: Mapping[str, Any]) -> str:
    e = escape
    return (f"<tr><td class=n>{int(li['seq'])}</td><td><code>{e(li['itemCode'])}</code></td>"
            f"<td>{e(li['itemName'])}</td><td>{e(CATEGORY.get(li['category'], li['category']))}</td>"
            f"<td class=n>{e(li['quantity'])}</td><td>{e(li['unit'])}</td>"
            f"<td class=n>{yuan(int(li['unitPriceFen']))}</td><td class=n>{yuan(int(li['amountFen']))}</td>"
            f"<td>{e(li['serviceDate'])}</td></tr>")


def render_invoice(invoice: Mapping[str, Any], fee_lines: Sequence[Mapping[str, Any]], *,
                   hospital_name: str) -> str:
    """The printable page of an invoice (API shapes: the GET /v1/invoices/{fp} body and its fee lines)."""
    e = escape
    rows = "\n".join(_row(li) for li in fee_lines)
    head = "".join(f"<dt>{e(k)}</dt><dd>{e(str(v))}</dd>" for k, v in header_fields(invoice, hospital_name))
    fixed = sum(w for _, w in COLUMNS if w is not None)
    # the columns' A4 widths as rules of the page's own sheet, not style attributes: a page that
    # shows this one under a strict CSP (the hospital desk in the console) drops inline styles
    widths = "".join(f".lines col:nth-child({i}){{width:{(w if w is not None else 182 - fixed) / 182 * 100:.2f}%}}"
                     for i, (_, w) in enumerate(COLUMNS, start=1))
    cols = "<col>" * len(COLUMNS)
    heads = "".join(f"<th{' class=n' if i in NUMERIC else ''}>{_heading(name)}</th>"
                    for i, (name, _) in enumerate(COLUMNS))
    note = void_note(invoice)
    mark = ""
    if note is not None and note.final:
        big, small = stamp_lines(note)
        mark = f'<div class="void" role="note"><b>{e(big)}</b><span>{e(small)}</span></div>'
    title = (f"{'作废 VOID · ' if mark else ''}{e(invoice['invoiceCode'])}-{e(invoice['invoiceNumber'])} · "
             f"{e(hospital_name)}")
    return f"""<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<style>{_STYLE}{widths}</style></head>
<body>
{mark}<div class="head">
  <div><h1>{e(TITLE)}</h1><dl>{head}</dl></div>
  <div class="qr" role="img" aria-label="QR code: scan to verify">{qr_svg(invoice['qr'], scale=4)}
  <div>scan to verify 扫码验真</div></div>
</div>
<div class="lines" tabindex="0" role="region" aria-label="Fee lines 费用明细"><table>
<colgroup>{cols}</colgroup>
<thead><tr>{heads}</tr></thead>
<tbody>
{rows}
</tbody>
<tfoot><tr><td colspan=7>Total 合计 ({len(fee_lines)} fee lines)</td><td class=n>{yuan(int(invoice['totalFen']))}</td>
<td></td></tr></tfoot>
</table></div>
<p class="fp mono">fingerprint {e(invoice['fingerprint'])} · fee-lines root {e(invoice['feeLinesRoot'])}</p>
</body></html>
"""
