"""Synthetic hospitals: about 60 % in the city (Shaoxing, 3306xx) and 40 % referral hospitals elsewhere,
with unique institution codes and names that follow the usual naming patterns."""

from __future__ import annotations

import itertools
import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from ledger.devtools.synth.draws import derive, ordinal, place, weighted
from ledger.invoice import ISSUER_RE

CITY_PREFIX = "3306"            # the prefecture-level city (Shaoxing, Zhejiang)
OUT_OF_CITY_HOSPITALS = 0.40    # share of hospitals outside the city
LEVELS = ("三级", "二级", "一级")


@dataclass(frozen=True, slots=True)
class Hospital:
    """A designated medical institution (synthetic)."""

    code: str       # H + 6-digit region + 5 digits
    name: str
    region: str     # 6-digit administrative region code
    level: str      # 三级 / 二级 / 一级

    @property
    def in_city(self) -> bool:
        return self.region.startswith(CITY_PREFIX)


_CITY = "绍兴市"
IN_CITY_REGIONS = (  # code, name, relative weight
    ("330602", "越城区", 3), ("330603", "柯桥区", 3), ("330604", "上虞区", 2),
    ("330624", "新昌县", 1), ("330681", "诸暨市", 2), ("330683", "嵊州市", 1),
)
_OUT_REGIONS = (  # code, city, district, relative weight (referral destinations)
    ("330102", "杭州市", "上城区", 5), ("330106", "杭州市", "西湖区", 5),
    ("330108", "杭州市", "滨江区", 2), ("330203", "宁波市", "海曙区", 2),
    ("330302", "温州市", "鹿城区", 1), ("330402", "嘉兴市", "南湖区", 1),
    ("310101", "上海市", "黄浦区", 4), ("310104", "上海市", "徐汇区", 4),
    ("310115", "上海市", "浦东新区", 3), ("320102", "南京市", "玄武区", 1),
    ("320508", "苏州市", "姑苏区", 1), ("340103", "合肥市", "庐阳区", 1),
    ("360102", "南昌市", "东湖区", 1), ("350102", "福州市", "鼓楼区", 1),
    ("110105", "北京市", "朝阳区", 1), ("440106", "广州市", "天河区", 1),
    ("420106", "武汉市", "武昌区", 1), ("510107", "成都市", "武侯区", 1),
)


def make_hospitals(n: int, seed: int) -> list[Hospital]:
    """``n`` synthetic hospitals: ~60 % in the city (3306xx), ~40 % elsewhere.

    In the city: a few 三级 city hospitals, 二级 district/county hospitals and 一级
    township health centres; outside: mostly 三级 referral hospitals. Codes and names
    are unique.
    """
    if n < 1:
        raise ValueError(f"need at least one hospital, got {n}")
    rng = random.Random(derive("hospitals", seed))
    n_out = round(n * OUT_OF_CITY_HOSPITALS) if n > 1 else 0
    n_in = n - n_out
    names: set[str] = set()
    serials: dict[str, int] = {}
    out: list[Hospital] = []

    def add(region: str, level: str, candidates: Iterator[str]) -> None:
        for name in candidates:
            if name not in names:
                break
        names.add(name)
        first = 10000 + rng.randrange(0, 40000, 100)
        serials[region] = serials.get(region, first) + 1 + rng.randrange(7)
        out.append(Hospital(f"H{region}{serials[region]:05d}", name, region, level))

    for i in range(n_in):
        u = rng.random()
        level = "三级" if (u < 0.12 or i == 0) else "二级" if u < 0.45 else "一级"
        region, county, _ = weighted(rng, IN_CITY_REGIONS, 2)

        def in_city_names(level: str = level, county: str = county,
                          region: str = region) -> Iterator[str]:
            if level == "三级":
                yield from (f"{_CITY}人民医院", f"{_CITY}中心医院", f"{_CITY}中医院",
                            f"{_CITY}妇幼保健院")
                for k in itertools.count(2):
                    yield f"{_CITY}第{ordinal(k)}人民医院"
            elif level == "二级":
                yield from (f"{county}人民医院", f"{county}中医院", f"{county}妇幼保健院")
                while True:
                    yield rng.choice((f"{county}第{ordinal(rng.randint(2, 9))}人民医院",
                                      f"{county}{place(rng)}中心医院",
                                      f"{county}{place(rng)}骨伤科医院"))
            else:
                while True:
                    yield rng.choice((f"{county}{place(rng)}镇卫生院",
                                      f"{county}{place(rng)}街道社区卫生服务中心"))

        add(region if level != "三级" else "330602", level, in_city_names())

    for _ in range(n_out):
        region, city, district, _ = weighted(rng, _OUT_REGIONS, 3)
        level = "三级" if rng.random() < 0.8 else "二级"
        short = city[:-1]

        def out_names(city: str = city, district: str = district, short: str = short,
                      level: str = level) -> Iterator[str]:
            if level == "三级":
                yield from (f"{city}第一人民医院", f"{city}中医院", f"{city}儿童医院")
                for k in range(1, 10):
                    yield f"{short}医科大学附属第{ordinal(k)}医院"
                for k in itertools.count(2):
                    yield f"{city}第{ordinal(k)}人民医院"
            while True:
                yield rng.choice((f"{city}{district}人民医院", f"{city}{district}中心医院",
                                  f"{city}{district}中医医院",
                                  f"{city}{district}{place(rng)}医院"))

        add(region, level, out_names())
    return out


def registered_hospitals(codes: Sequence[str]) -> list[Hospital]:
    """Hospitals for institution codes registered elsewhere (``ebill gen --issuer``), so that
    a data set's invoices are issued by hospitals a service knows.

    Each is taken as a 三级 hospital of the region its code names (``H`` + region + serial):
    the level decides which items its invoices charge, and a registered hospital's level is
    not known here. Raises ValueError for a code that is not ``H`` + 11 digits, or one given twice.
    """
    if not codes:
        raise ValueError("need at least one institution code")
    seen: set[str] = set()
    out = []
    for code in codes:
        if not ISSUER_RE.match(code):
            raise ValueError(f"an institution code is H followed by 11 digits, got {code!r}")
        if code in seen:
            raise ValueError(f"institution code {code} is given twice")
        seen.add(code)
        out.append(Hospital(code, f"登记医院 {code}", code[1:7], "三级"))
    return out
