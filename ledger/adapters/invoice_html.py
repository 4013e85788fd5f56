"""The printable invoice: one self-contained HTML page (header, fee lines, amounts, QR code).

Everything is inline (styles, the QR as SVG), so the page prints the same offline and
loads nothing from anywhere. Every value from the invoice is HTML-escaped: item names
come from hospitals' systems and must not be able to inject markup into a page an
auditor opens. A4 print styles; the QR code is printed at ≥ 30 mm so a phone reads it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from html import escape
from typing import Any

from ledger.adapters.qr_image import qr_svg

CATEGORY = {"A": "甲类 A", "B": "乙类 B", "C": "丙类 C"}
VISIT = {"outpatient": "门诊 outpatient", "inpatient": "住院 inpatient", "emergency": "急诊 emergency",
         "pharmacy": "药店 pharmacy"}

_STATE = {"stored": "stored, not yet anchored", "anchored": "anchored on chain", "voided": "VOIDED (red-letter)"}

_STYLE = """
@page { size: A4; margin: 14mm; }
body { font-family: "Noto Sans CJK SC", "Microsoft YaHei", "PingFang SC", sans-serif; font-size: 10pt;
       color: #111; margin: 0 auto; max-width: 190mm; }
h1 { font-size: 15pt; margin: 0 0 2mm; }
.head { display: flex; justify-content: space-between; gap: 8mm; border-bottom: 0.4mm solid #111;
        padding-bottom: 3mm; }
.head dl { display: grid; grid-template-columns: max-content auto; gap: 0.8mm 4mm; margin: 0; }
.head dt { color: #555; } .head dd { margin: 0; font-family: monospace; }
.qr { text-align: center; font-size: 7pt; color: #555; }
.qr svg { width: 34mm; height: 34mm; display: block; }
table { width: 100%; border-collapse: collapse; margin-top: 4mm; }
th, td { border-bottom: 0.2mm solid #bbb; padding: 1mm 1.5mm; text-align: left; vertical-align: top; }
td.n, th.n { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
tfoot td { border-top: 0.4mm solid #111; font-weight: bold; }
.fp { font-family: monospace; font-size: 7.5pt; word-break: break-all; color: #333; margin-top: 4mm; }
thead { display: table-header-group; } tr { page-break-inside: avoid; }
"""


def yuan(fen: int) -> str:
    """¥1,234.56 from integer fen (exact: no floats)."""
    sign = "-" if fen < 0 else ""
    fen = abs(fen)
    return f"{sign}¥{fen // 100:,}.{fen % 100:02d}"


def header_fields(invoice: Mapping[str, Any], hospital_name: str) -> list[tuple[str, str]]:
    """The labelled header values of the printable invoice (HTML and PDF), in print order."""
    return [
        ("Issuer 开票单位", f"{hospital_name} ({invoice['issuer']})"),
        ("Invoice code 票据代码", str(invoice["invoiceCode"])),
        ("Invoice number 票据号码", str(invoice["invoiceNumber"])),
        ("Check code 校验码", str(invoice["checkCode"])), ("Issued 开票时间", str(invoice["issuedAt"])),
        ("Visit 就诊类型", VISIT.get(invoice["visitType"], str(invoice["visitType"]))),
        ("Fund paid 统筹支付", yuan(int(invoice["fundPaidFen"]))),
        ("Account paid 个人账户", yuan(int(invoice["accountPaidFen"]))),
        ("Cash paid 个人现金", yuan(int(invoice["cashPaidFen"]))),
        ("Status 状态", _STATE.get(invoice["state"], str(invoice["state"]))),
    ]


def render_invoice(invoice: Mapping[str, Any], fee_lines: Sequence[Mapping[str, Any]], *,
                   hospital_name: str) -> str:
    """The printable page of an invoice (API shapes: the GET /v1/invoices/{fp} body and its fee lines)."""
    e = escape
    rows = "\n".join(
        f"<tr><td class=n>{int(li['seq'])}</td><td><code>{e(li['itemCode'])}</code></td><td>{e(li['itemName'])}</td>"
        f"<td>{e(CATEGORY.get(li['category'], li['category']))}</td><td class=n>{e(li['quantity'])}</td>"
        f"<td>{e(li['unit'])}</td><td class=n>{yuan(int(li['unitPriceFen']))}</td>"
        f"<td class=n>{yuan(int(li['amountFen']))}</td><td>{e(li['serviceDate'])}</td></tr>"
        for li in fee_lines
    )
    head = "".join(f"<dt>{e(k)}</dt><dd>{e(str(v))}</dd>" for k, v in header_fields(invoice, hospital_name))
    return f"""<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{e(invoice['invoiceCode'])}-{e(invoice['invoiceNumber'])} · {e(hospital_name)}</title>
<style>{_STYLE}</style></head>
<body>
<div class="head">
  <div><h1>医疗收费电子票据 · Medical e-invoice</h1><dl>{head}</dl></div>
  <div class="qr">{qr_svg(invoice['qr'], scale=4)}<div>scan to verify 扫码验真</div></div>
</div>
<table>
<thead><tr><th class=n>#</th><th>Item code 项目编码</th><th>Item 项目名称</th><th>Class 类别</th>
<th class=n>Qty 数量</th><th>Unit 单位</th><th class=n>Unit price 单价</th><th class=n>Amount 金额</th>
<th>Date 日期</th></tr></thead>
<tbody>
{rows}
</tbody>
<tfoot><tr><td colspan=7>Total 合计 ({len(fee_lines)} fee lines)</td><td class=n>{yuan(int(invoice['totalFen']))}</td>
<td></td></tr></tfoot>
</table>
<p class="fp">fingerprint {e(invoice['fingerprint'])} · fee-lines root {e(invoice['feeLinesRoot'])}</p>
</body></html>
"""
