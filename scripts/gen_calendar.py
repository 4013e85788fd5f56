"""Generate the shipped working-day calendar (``ledger/calendar/data/cn-YYYY.json``) from the
chinese-calendar package (PyPI ``chinese-calendar``, module ``chinese_calendar``), a maintained
compilation of the State Council's yearly holiday notices.

    .venv/bin/pip install chinese-calendar==1.11.0     # (the `dev` extra pins it)
    python scripts/gen_calendar.py                     # write the files
    python scripts/gen_calendar.py --check             # exit 1 if a file differs (tests run this too)

Only the years the package knows are written: a year it does not have is not guessed (the
service then warns until an operator loads that year: ``ebill calendar load``).

What comes from where:

- dates and holiday names: the package (``constants.holidays`` and ``constants.workdays``,
  each date with the English name of its holiday); the Chinese names are the ones the
  notices print (元旦, 春节, 清明节, …), adjacent holidays make one period named by both
  (国庆节、中秋节, as the notices write it);
- which notice a date belongs to: its year, except that a New Year's Day holiday or make-up
  day in December belongs to the next year's notice (the 2019 notice gave 30 and 31 December
  2018 off and made 29 December 2018 a working day);
- the notices' addresses: the package's sources (``chinese_calendar/scripts/data.py`` of its
  repository), copied in :data:`NOTICES`; the publication date is the one in the address,
  and for 2024–2026, whose addresses carry only the month, the date the notice is signed.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from datetime import date, timedelta
from importlib import metadata
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "ledger" / "calendar" / "data"
PACKAGE = "chinese-calendar"

#: the Chinese name each notice prints for the package's (English) holiday names
CHINESE = {
    "New Year's Day": "元旦", "Spring Festival": "春节", "Tomb-sweeping Day": "清明节", "Labour Day": "劳动节",
    "Dragon Boat Festival": "端午节", "Mid-autumn Festival": "中秋节", "National Day": "国庆节",
    "Anti-Fascist 70th Day": "中国人民抗日战争暨世界反法西斯战争胜利70周年纪念日",
}

#: year -> the notices (and later changes) the package's sources cite for it
NOTICES: dict[int, list[str]] = {
    2026: ["https://www.gov.cn/zhengce/content/202511/content_7047090.htm"],
    2025: ["https://www.gov.cn/zhengce/content/202411/content_6986382.htm"],
    2024: ["https://www.gov.cn/zhengce/content/202310/content_6911527.htm"],
    2023: ["http://www.gov.cn/zhengce/content/2022-12/08/content_5730844.htm"],
    2022: ["http://www.gov.cn/zhengce/content/2021-10/25/content_5644835.htm"],
    2021: ["http://www.gov.cn/zhengce/content/2020-11/25/content_5564127.htm"],
    2020: ["http://www.gov.cn/zhengce/content/2019-11/21/content_5454164.htm",
           "http://www.gov.cn/zhengce/content/2020-01/27/content_5472352.htm"],
    2019: ["http://www.gov.cn/xinwen/2018-12/06/content_5346287.htm",
           "http://www.gov.cn/zhengce/content/2019-03/22/content_5375877.htm"],
    2018: ["http://www.gov.cn/zhengce/content/2017-11/30/content_5243579.htm"],
    2017: ["http://www.gov.cn/zhengce/content/2016-12/01/content_5141603.htm"],
    2016: ["http://www.gov.cn/zhengce/content/2015-12/10/content_10394.htm"],
    2015: ["http://www.gov.cn/zhengce/content/2014-12/16/content_9302.htm",
           "http://www.gov.cn/zhengce/content/2015-05/13/content_9742.htm"],
    2014: ["http://www.gov.cn/zwgk/2013-12/11/content_2546204.htm"],
    2013: ["http://www.gov.cn/zwgk/2012-12/10/content_2286598.htm"],
    2012: ["http://www.gov.cn/zwgk/2011-12/06/content_2012097.htm"],
    2011: ["http://www.gov.cn/zwgk/2010-12/10/content_1762643.htm"],
    2010: ["http://www.gov.cn/zwgk/2009-12/08/content_1482691.htm"],
    2009: ["http://www.gov.cn/zwgk/2008-12/10/content_1174014.htm"],
    2008: ["http://www.gov.cn/zwgk/2007-12/18/content_837184.htm"],
    2007: ["http://www.gov.cn/fwxx/sh/2006-12/18/content_471877.htm"],
    2006: ["http://www.gov.cn/jrzg/2005-12/22/content_133837.htm"],
    2005: [],
    2004: ["https://zh.wikisource.org/zh-hans/国务院办公厅关于2004年部分节假日安排的通知"],
}
#: the notices whose address has no day: the date each is signed (国务院办公厅, at the foot of the notice)
SIGNED = {2026: date(2025, 11, 4), 2025: date(2024, 11, 12), 2024: date(2023, 10, 25)}
_DATED = re.compile(r"/(\d{4})-(\d{2})/(\d{2})/")


def _notice_year(d: date, holiday: str) -> int:
    return d.year + 1 if d.month == 12 and holiday == "New Year's Day" else d.year


def _published(year: int) -> str | None:
    if year in SIGNED:
        return SIGNED[year].isoformat()
    urls = NOTICES.get(year) or []
    m = _DATED.search(urls[0]) if urls else None
    return date(int(m[1]), int(m[2]), int(m[3])).isoformat() if m else None


def _periods(days: dict[date, str]) -> list[dict[str, Any]]:
    """Runs of consecutive holiday dates, each named by its holidays in order (国庆节、中秋节)."""
    out: list[dict[str, Any]] = []
    run: list[date] = []
    for d in sorted(days):
        if run and d - run[-1] != timedelta(days=1):
            out.append(_period(run, days))
            run = []
        run.append(d)
    if run:
        out.append(_period(run, days))
    return out


def _period(run: list[date], days: dict[date, str]) -> dict[str, Any]:
    names = list(dict.fromkeys(days[d] for d in run))
    return {"name": "、".join(CHINESE[n] for n in names), "nameEn": ", ".join(names),
            "from": run[0].isoformat(), "to": run[-1].isoformat()}


def documents() -> dict[str, dict[str, Any]]:
    """File name -> document, for every year the installed package knows."""
    from chinese_calendar import constants

    version = metadata.version(PACKAGE)
    holidays: dict[int, dict[date, str]] = {}
    workdays: dict[int, dict[date, str]] = {}
    for d, name in constants.holidays.items():
        holidays.setdefault(_notice_year(d, name), {})[d] = name
    for d, name in constants.workdays.items():
        workdays.setdefault(_notice_year(d, name), {})[d] = name
    out = {}
    for year in sorted(holidays):
        if year not in NOTICES:
            raise SystemExit(f"{PACKAGE} {version} knows {year}: add its notices to NOTICES in {__file__}")
        out[f"cn-{year}.json"] = {
            "$comment": f"generated by scripts/gen_calendar.py from {PACKAGE} {version} (PyPI): do not edit; "
                        "regenerate, or load a corrected year with `ebill calendar load --replace`",
            "country": "CN", "year": year,
            "source": f"State Council General Office notice on the {year} public holidays "
                      f"(国务院办公厅关于{year}年部分节假日安排的通知), as compiled by {PACKAGE} {version}",
            "published": _published(year), "notices": NOTICES[year],
            "holidays": _periods(holidays[year]),
            "makeUpWorkdays": [{"date": d.isoformat(), "for": CHINESE[n]}
                               for d, n in sorted(workdays.get(year, {}).items())],
        }
    return out


def render(doc: dict[str, Any]) -> str:
    """The document as a person edits it: one key per line, one holiday or make-up day per line."""
    def one(v: Any) -> str:
        return json.dumps(v, ensure_ascii=False)

    lines = ["{"]
    keys = list(doc)
    for i, key in enumerate(keys):
        end = "," if i < len(keys) - 1 else ""
        value = doc[key]
        if isinstance(value, list) and value:
            lines.append(f"  {one(key)}: [")
            lines += [f"    {one(item)}{',' if j < len(value) - 1 else ''}" for j, item in enumerate(value)]
            lines.append(f"  ]{end}")
        else:
            lines.append(f"  {one(key)}: {one(value)}{end}")
    return "\n".join([*lines, "}"]) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if a shipped file differs from the package")
    args = parser.parse_args()
    docs = documents()
    stale = sorted(p.name for p in DATA.glob("*.json") if p.name not in docs) if args.check else []
    for name, doc in docs.items():
        text = render(doc)
        path = DATA / name
        if args.check:
            if not path.exists() or path.read_text(encoding="utf-8") != text:
                stale.append(name)
        else:
            path.write_text(text, encoding="utf-8")
    if stale:
        print(f"stale (run scripts/gen_calendar.py): {', '.join(stale)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
