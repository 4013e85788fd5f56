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

API::

    hospitals = make_hospitals(132, seed=7)
    catalogue = make_catalogue()                     # fixed, shared by all data sets
    ds = generate(7, pepper=b"0123456789abcdef")     # plans 15,605 invoices
    for invoice, patient_id in ds: ...               # builds them, lazily, in issue order
    invoice, patient_id = ds[42]                     # any one of them
    for doc in iter_documents(ds): ...               # upload-format JSON documents

The data set is *lazy*: :func:`generate` draws the plan (visit type, line count,
hospital, patient, issue time and invoice number of every invoice, ~0.4 s) and the fee
lines are drawn when an invoice is built, each invoice from its own seeded generator.
Iterating twice gives identical invoices; ``ds.to_list()`` materialises them.
"""

from __future__ import annotations

import hashlib
import itertools
import math
import random
from bisect import bisect
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date
from functools import lru_cache
from operator import attrgetter
from typing import Any

from ledger.hashing import Hash32
from ledger.identity import check_character, pseudonymise
from ledger.invoice import (
    MAX_FEE_LINES,
    FeeCategory,
    FeeLine,
    Invoice,
    VisitType,
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

CITY_PREFIX = "3306"            # the prefecture-level city (Shaoxing, Zhejiang)
OUT_OF_CITY_HOSPITALS = 0.40    # share of hospitals outside the city
OUT_OF_CITY_INVOICES = 0.61     # share of invoices (claims) from those hospitals
CATEGORY_MIX = {FeeCategory.CLASS_A: 0.60, FeeCategory.CLASS_B: 0.30, FeeCategory.SELF_PAY: 0.10}
LEVELS = ("三级", "二级", "一级")
#: service-item prices by hospital level (provincial price tiers); drugs and
#: consumables sell at the same (zero-markup, centrally procured) price everywhere
SERVICE_PRICE_FACTOR = {"三级": 1.0, "二级": 0.9, "一级": 0.8}

_VISIT_MIX = (  # visit type, share of invoices, (median lines, log sigma, min, max)
    (VisitType.OUTPATIENT, 0.50, (8.0, 0.60, 3, 40)),
    (VisitType.PHARMACY, 0.12, (5.0, 0.50, 3, 40)),
    (VisitType.EMERGENCY, 0.18, (22.0, 0.50, 10, 80)),
    (VisitType.INPATIENT, 0.20, (250.0, 0.90, 60, 5000)),
)
_LINE_BOUNDS = {vt: (lo, hi) for vt, _, (_, _, lo, hi) in _VISIT_MIX}
_ALNUM = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_TZ = "+08:00"


def _derive(*parts: object) -> int:
    """A 128-bit seed derived from the parts (stable across processes and platforms)."""
    text = ":".join(str(p) for p in ("ebill-ledger/synth", *parts))
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:16], "big")


def _lognormal(rng: random.Random, median: float, sigma: float) -> float:
    return median * math.exp(rng.gauss(0.0, sigma))


# =========================================================================== hospitals


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
_IN_CITY_REGIONS = (  # code, name, relative weight
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
_NUM = "一二三四五六七八九十"
# invented two-character place names for towns and streets
_PLACE_A = "清安平东西南北枫梅竹兰桂云溪石金玉青白新长永宁福华"
_PLACE_B = "溪桥山湖泉塘浦港岭湾川阳林埠堰墩渡口"


def _ordinal(k: int) -> str:
    if k <= 10:
        return _NUM[k - 1]
    if k >= 100:
        return str(k)
    return ("" if k < 20 else _NUM[k // 10 - 1]) + "十" + ("" if k % 10 == 0 else _NUM[k % 10 - 1])


def _place(rng: random.Random) -> str:
    return rng.choice(_PLACE_A) + rng.choice(_PLACE_B)


def _weighted(rng: random.Random, items: Sequence[Any], weight_index: int) -> Any:
    return rng.choices(items, weights=[it[weight_index] for it in items])[0]


def make_hospitals(n: int, seed: int) -> list[Hospital]:
    """``n`` synthetic hospitals: ~60 % in the city (3306xx), ~40 % elsewhere.

    In the city: a few 三级 city hospitals, 二级 district/county hospitals and 一级
    township health centres; outside: mostly 三级 referral hospitals. Codes and names
    are unique.
    """
    if n < 1:
        raise ValueError(f"need at least one hospital, got {n}")
    rng = random.Random(_derive("hospitals", seed))
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
        region, county, _ = _weighted(rng, _IN_CITY_REGIONS, 2)

        def in_city_names(level: str = level, county: str = county,
                          region: str = region) -> Iterator[str]:
            if level == "三级":
                yield from (f"{_CITY}人民医院", f"{_CITY}中心医院", f"{_CITY}中医院",
                            f"{_CITY}妇幼保健院")
                for k in itertools.count(2):
                    yield f"{_CITY}第{_ordinal(k)}人民医院"
            elif level == "二级":
                yield from (f"{county}人民医院", f"{county}中医院", f"{county}妇幼保健院")
                while True:
                    yield rng.choice((f"{county}第{_ordinal(rng.randint(2, 9))}人民医院",
                                      f"{county}{_place(rng)}中心医院",
                                      f"{county}{_place(rng)}骨伤科医院"))
            else:
                while True:
                    yield rng.choice((f"{county}{_place(rng)}镇卫生院",
                                      f"{county}{_place(rng)}街道社区卫生服务中心"))

        add(region if level != "三级" else "330602", level, in_city_names())

    for _ in range(n_out):
        region, city, district, _ = _weighted(rng, _OUT_REGIONS, 3)
        level = "三级" if rng.random() < 0.8 else "二级"
        short = city[:-1]

        def out_names(city: str = city, district: str = district, short: str = short,
                      level: str = level) -> Iterator[str]:
            if level == "三级":
                yield from (f"{city}第一人民医院", f"{city}中医院", f"{city}儿童医院")
                for k in range(1, 10):
                    yield f"{short}医科大学附属第{_ordinal(k)}医院"
                for k in itertools.count(2):
                    yield f"{city}第{_ordinal(k)}人民医院"
            while True:
                yield rng.choice((f"{city}{district}人民医院", f"{city}{district}中心医院",
                                  f"{city}{district}中医医院",
                                  f"{city}{district}{_place(rng)}医院"))

        add(region, level, out_names())
    return out


# =========================================================================== catalogue


@dataclass(frozen=True, slots=True)
class CatalogueItem:
    """One catalogue entry. ``unit_price_fen`` is the 三级 price for service items."""

    code: str
    name: str
    kind: str            # western / chinese / consumable / service
    use: str             # where it is charged: box, dose, inj, basic, ward, lab, ...
    unit: str
    unit_price_fen: int
    category: FeeCategory
    canonical_code: str  # == code, except for the duplicate codes of one drug

    @property
    def is_alias(self) -> bool:
        return self.code != self.canonical_code


@dataclass(frozen=True, eq=False)
class Catalogue:
    items: tuple[CatalogueItem, ...]
    by_code: dict[str, CatalogueItem] = field(repr=False)
    #: canonical code -> every code of that drug (canonical first)
    aliases: dict[str, tuple[str, ...]] = field(repr=False)
    #: relative popularity of each code (before the price discount of the sampler)
    weights: dict[str, float] = field(repr=False)

    def normalise(self, code: str) -> str:
        """The canonical code of a catalogue code (itself when it has no duplicates)."""
        item = self.by_code.get(code)
        return item.canonical_code if item else code

    def __len__(self) -> int:
        return len(self.items)


# Western drugs: generic | ATC level 4 | forms. A form is KIND:spec/spec:price yuan[:pack]
# (box price for tablets, capsules and granules, else per ampoule/vial/bottle/bag).
_WESTERN = """
阿莫西林|J01CA|C:0.25g/0.5g:12:24;G:0.125g:9:12
头孢克洛|J01DC|C:0.25g:18:12;G:0.125g:15:12
头孢呋辛酯|J01DC|T:0.25g:22:12
头孢克肟|J01DD|C:0.1g:25:8;G:50mg:20:6
头孢曲松钠|J01DD|P:1g/2g:8
头孢他啶|J01DD|P:1g:18
头孢唑林钠|J01DB|P:0.5g/1g:6
头孢哌酮钠舒巴坦钠|J01DD|P:1.5g:35
哌拉西林钠他唑巴坦钠|J01CR|P:4.5g:45
阿莫西林克拉维酸钾|J01CR|T:0.375g:20:12;P:1.2g:22
左氧氟沙星|J01MA|T:0.5g:16:6;V:0.5g 100ml:18
莫西沙星|J01MA|T:0.4g:28:3;V:0.4g 250ml:60
阿奇霉素|J01FA|T:0.25g:15:6;P:0.5g:25
克拉霉素|J01FA|T:0.25g:20:6
美罗培南|J01DH|P:0.5g:65
万古霉素|J01XA|P:0.5g:90
甲硝唑|J01XD|T:0.2g:4:21;V:0.5g 100ml:5
奥司他韦|J05AH|C:75mg:35:10
阿昔洛韦|J05AB|T:0.2g:8:24
恩替卡韦|J05AF|T:0.5mg:15:28
氟康唑|J02AC|C:50mg:12:12
硝苯地平|C08CA|K:30mg:28:7
苯磺酸氨氯地平|C08CA|T:5mg:12:28
缬沙坦|C09CA|C:80mg:15:28
厄贝沙坦|C09CA|T:0.15g:14:28
氯沙坦钾|C09CA|T:50mg/100mg:16:28
培哚普利叔丁胺|C09AA|T:4mg:30:30
美托洛尔|C07AB|S:47.5mg:25:7;T:25mg:8:20
比索洛尔|C07AB|T:5mg/2.5mg:15:28
阿托伐他汀钙|C10AA|T:20mg/10mg:10:28
瑞舒伐他汀钙|C10AA|T:10mg/5mg:12:28
阿司匹林|B01AC|E:100mg:12:30
氯吡格雷|B01AC|T:75mg:20:28
替格瑞洛|B01AC|T:90mg:60:14
单硝酸异山梨酯|C01DA|S:40mg:25:24
硝酸甘油|C01DA|T:0.5mg:12:100;I:5mg:4
呋塞米|C03CA|T:20mg:5:100;I:20mg:1
螺内酯|C03DA|T:20mg:6:100
氢氯噻嗪|C03AA|T:25mg:4:100
低分子量肝素钙|B01AB|I:4100IU:28
依诺肝素钠|B01AB|I:4000AxaIU:35
华法林钠|B01AA|T:2.5mg:18:60
利伐沙班|B01AF|T:10mg:30:10
二甲双胍|A10BA|T:0.5g:6:48;S:0.5g:12:30
格列美脲|A10BB|T:2mg:16:30
阿卡波糖|A10BF|T:50mg:18:30
西格列汀|A10BH|T:100mg:50:14
达格列净|A10BK|T:10mg:55:14
门冬胰岛素|A10AB|I:300U 3ml:45
甘精胰岛素|A10AE|I:300U 3ml:75
奥美拉唑|A02BC|N:20mg:10:14;P:40mg:12
泮托拉唑钠|A02BC|E:40mg:18:7;P:40mg:15
雷贝拉唑钠|A02BC|E:10mg/20mg:20:14
艾司奥美拉唑镁|A02BC|E:20mg:35:7
铝碳酸镁|A02AD|W:0.5g:15:20
蒙脱石|A07BC|O:3g:1.2
多潘立酮|A03FA|T:10mg:12:30
莫沙必利|A03FA|T:5mg:15:24
甲氧氯普胺|A03FA|I:10mg:0.8
乳果糖|A06AD|L:100ml:25
双歧杆菌三联活菌|A07FA|C:0.21g:22:24
消旋山莨菪碱|A03BA|I:10mg:1
昂丹司琼|A04AA|I:8mg:8
盐酸氨溴索|R05CB|T:30mg:8:20;I:15mg:5
乙酰半胱氨酸|R05CB|G:0.2g:18:10
孟鲁司特钠|R03DC|T:10mg:30:5;G:4mg:28:7
布地奈德|R03BA|A:1mg 2ml:6
硫酸沙丁胺醇|R03AC|A:5mg:4
异丙托溴铵|R03BB|A:0.5mg 2ml:3
复方甲氧那明|R03DA|C:复方:28:60
氯雷他定|R06AX|T:10mg:15:6
盐酸西替利嗪|R06AE|T:10mg:12:12
布洛芬|M01AE|R:0.3g:12:20;L:100ml:15
对乙酰氨基酚|N02BE|T:0.5g:5:12
双氯芬酸钠|M01AB|S:75mg:15:10
塞来昔布|M01AH|C:0.2g:25:6
洛索洛芬钠|M01AE|T:60mg:14:20
氟比洛芬酯|M01AE|I:50mg 5ml:25
盐酸曲马多|N02AX|S:0.1g:18:10
盐酸吗啡|N02AA|I:10mg:3
艾司唑仑|N05CD|T:1mg:3:20
阿普唑仑|N05BA|T:0.4mg:4:20
盐酸舍曲林|N06AB|T:50mg:30:14
盐酸帕罗西汀|N06AB|T:20mg:35:10
奥氮平|N05AH|T:5mg:40:14
富马酸喹硫平|N05AH|T:25mg/0.1g:10:30
丙戊酸钠|N03AG|S:0.5g:40:30
左乙拉西坦|N03AX|T:0.5g:45:30
甲钴胺|B03BA|T:0.5mg:15:20;I:0.5mg:4
维生素C|A11GA|T:0.1g:2:100;I:0.5g:0.5
维生素B6|A11HA|I:0.1g:0.5
氯化钾|A12BA|S:0.5g:6:24;I:1.5g 10ml:1
葡萄糖|B05BA|V:5% 250ml/10% 500ml/5% 100ml:3
氯化钠|B05XA|V:0.9% 100ml/0.9% 250ml/0.9% 500ml:2.5
葡萄糖氯化钠|B05BB|V:5% 500ml:3.5
复方氯化钠|B05BB|V:500ml:3.5
乳酸钠林格|B05BB|V:500ml:8
甲泼尼龙琥珀酸钠|H02AB|P:40mg:15
地塞米松磷酸钠|H02AB|I:5mg:0.6
醋酸泼尼松|H02AB|T:5mg:4:100
左甲状腺素钠|H03AA|T:50μg:25:100
人血白蛋白|B05AA|V:10g 50ml:380
氨甲环酸|B02AA|I:0.5g 5ml:4
维生素K1|B02BA|I:10mg:2
盐酸利多卡因|N01BB|I:0.1g 5ml:1
丙泊酚中长链脂肪乳|N01AX|I:0.2g 20ml:25
咪达唑仑|N05CD|I:5mg:5
甲磺酸奥希替尼|L01EB|T:80mg:5100:30
吉非替尼|L01EB|T:0.25g:550:10
甲磺酸伊马替尼|L01EA|T:0.1g:800:60
来那度胺|L04AX|C:25mg:1800:21
阿达木单抗|L04AB|I:40mg 0.8ml:1150
曲妥珠单抗|L01FD|P:440mg:5500
利妥昔单抗|L01FA|V:100mg 10ml:1400
贝伐珠单抗|L01FG|V:100mg 4ml:1200
重组人干扰素α2b|L03AB|I:300万IU:30
聚乙二醇化重组人粒细胞刺激因子|L03AA|I:3mg:3200
头孢丙烯|J01DC|T:0.25g/0.5g:20:6
头孢地尼|J01DD|C:0.1g/50mg:30:6
头孢西丁钠|J01DC|P:1g/2g:25
亚胺培南西司他丁钠|J01DH|P:0.5g/1g:80
利奈唑胺|J01XX|T:0.6g:120:10;V:0.6g 300ml:160
多西环素|J01AA|T:0.1g:12:10
磷霉素氨丁三醇|J01XX|O:3g:20
复方磺胺甲噁唑|J01EE|T:0.48g:6:100
伏立康唑|J02AC|T:0.2g/50mg:180:10
更昔洛韦|J05AB|P:0.25g:45
利巴韦林|J05AP|I:0.1g:1
拉米夫定|J05AF|T:0.1g:25:14
富马酸替诺福韦二吡呋酯|J05AF|T:0.3g:20:30
坎地沙坦酯|C09CA|T:8mg/4mg:25:14
替米沙坦|C09CA|T:40mg/80mg:18:14
贝那普利|C09AA|T:10mg/5mg:28:14
卡维地洛|C07AG|T:10mg/25mg:16:14
非洛地平|C08CA|S:5mg/2.5mg:22:10
盐酸地尔硫卓|C08DB|T:30mg:12:50;P:10mg:10
胺碘酮|C01BD|T:0.2g:25:10;I:0.15g 3ml:12
地高辛|C01AA|T:0.25mg:8:100
曲美他嗪|C01EB|S:35mg:30:30
依折麦布|C10AX|T:10mg:45:10
非诺贝特|C10AB|C:0.2g:30:10
吲达帕胺|C03BA|S:1.5mg:15:30
托拉塞米|C03CA|T:10mg/20mg:20:14;I:10mg/20mg:6
沙库巴曲缬沙坦钠|C09DX|T:100mg/50mg/200mg:60:14
格列齐德|A10BB|S:30mg/60mg:22:30
瑞格列奈|A10BX|T:1mg/0.5mg:18:30
利拉鲁肽|A10BJ|I:18mg 3ml:420
法莫替丁|A02BA|T:20mg:8:24;P:20mg:4
枸橼酸铋钾|A02BX|C:0.3g:25:40
匹维溴铵|A03AX|T:50mg:35:15
复方消化酶|A09AA|C:复方:25:20
马来酸曲美布汀|A03AA|T:0.1g:28:30
聚乙二醇4000|A06AD|O:10g:3
熊去氧胆酸|A05AA|T:0.25g:60:25
多烯磷脂酰胆碱|A05BA|C:228mg:50:24;I:232.5mg 5ml:20
复方甘草酸苷|A05BA|T:25mg:30:40;I:20ml:15
还原型谷胱甘肽|V03AB|P:0.6g/1.2g:25
丁二磺酸腺苷蛋氨酸|A16AA|P:0.5g:45;E:0.5g:60:10
羧甲司坦|R05CB|T:0.25g:10:24
桉柠蒎|R05CA|N:0.3g/0.12g:30:12
氢溴酸右美沙芬|R05DA|T:15mg:10:24
噻托溴铵|R03BB|C:18μg:90:30
多索茶碱|R03DA|T:0.2g:18:24;I:0.1g 10ml:8
马来酸氯苯那敏|R06AB|T:4mg:3:100
依巴斯汀|R06AX|T:10mg:25:10
地氯雷他定|R06AX|T:5mg:22:6
美洛昔康|M01AC|T:7.5mg/15mg:15:10
依托考昔|M01AH|T:60mg/120mg:30:5
硫酸氨基葡萄糖|M01AX|C:0.25g/0.5g:45:60
阿仑膦酸钠|M05BA|T:70mg:25:4
骨化三醇|A11CC|C:0.25μg/0.5μg:35:10
碳酸钙D3|A12AX|T:0.6g/0.3g:25:60
琥珀酸亚铁|B03AA|T:0.1g:15:24
叶酸|B03BB|T:0.4mg/5mg:10:31
加巴喷丁|N03AX|C:0.1g/0.3g:25:50
普瑞巴林|N02BF|C:75mg/150mg:40:14
卡马西平|N03AF|T:0.1g/0.2g:10:100
多奈哌齐|N06DA|T:5mg/10mg:40:7
盐酸美金刚|N06DX|T:10mg:60:28
劳拉西泮|N05BA|T:0.5mg/1mg:8:20
佐匹克隆|N05CF|T:7.5mg/3.75mg:15:12
草酸艾司西酞普兰|N06AB|T:10mg/5mg:40:7
度洛西汀|N06AX|N:30mg/60mg:50:14
氟哌啶醇|N05AD|I:5mg:2
甘露醇|B05BC|V:20% 250ml/20% 100ml:6
碳酸氢钠|B05XA|V:5% 250ml/5% 100ml:6;T:0.5g:3:100
硫酸镁|B05XA|I:2.5g 10ml/1g 10ml:1
葡萄糖酸钙|A12AA|I:1g 10ml:1.5
盐酸肾上腺素|C01CA|I:1mg:1.5
重酒石酸去甲肾上腺素|C01CA|I:2mg/10mg:3
盐酸多巴胺|C01CA|I:20mg:2
硫酸阿托品|A03BA|I:0.5mg/1mg:0.8
甲硫酸新斯的明|N07AA|I:1mg/0.5mg:2
盐酸纳洛酮|V03AB|I:0.4mg/1mg:8
乌司他丁|M09AB|P:10万单位/5万单位:120
醋酸奥曲肽|H01CB|I:0.1mg/0.05mg:45
垂体后叶|H01BB|I:6U:8
缩宫素|H01BB|I:10U/5U:2
地屈孕酮|G03DB|T:10mg:60:20
黄体酮|G03DA|C:0.1g:45:30;I:20mg/10mg:3
非那雄胺|G04CB|T:5mg/1mg:35:10
盐酸坦索罗辛|G04CA|R:0.2mg:40:10
重组人促红素|B03XA|I:3000IU/10000IU:45
蔗糖铁|B03AC|I:100mg 5ml/40mg 2ml:60
胸腺法新|L03AX|P:1.6mg:200
卡培他滨|L01BC|T:0.5g/0.15g:60:12
来曲唑|L02BG|T:2.5mg:50:10
枸橼酸他莫昔芬|L02BA|T:10mg:20:60
顺铂|L01XA|P:10mg/20mg:15
奥沙利铂|L01XA|P:50mg/0.1g:250
紫杉醇|L01CD|I:30mg 5ml/0.1g 16.7ml:180
盐酸吉西他滨|L01BC|P:0.2g/1g:120
"""

# form kind -> (name template, box item?, dose unit or None, per-unit unit, code letter)
_FORMS = {
    "T": ("{g}片", "片"), "S": ("{g}缓释片", "片"), "E": ("{g}肠溶片", "片"),
    "K": ("{g}控释片", "片"), "W": ("{g}咀嚼片", "片"),
    "C": ("{g}胶囊", None), "N": ("{g}肠溶胶囊", None), "R": ("{g}缓释胶囊", None),
    "G": ("{g}颗粒", "袋"),
    "I": ("{g}注射液", "支"), "P": ("注射用{g}", "支"), "V": ("{g}注射液", "瓶"),
    "A": ("{g}吸入溶液", "支"), "L": ("{g}口服溶液", "瓶"), "O": ("{g}散", "袋"),
}
_PACKED = {"T": "片", "S": "片", "E": "片", "K": "片", "W": "片", "C": "粒", "N": "粒",
           "R": "粒", "G": "袋"}

# Chinese patent medicines: name | box price yuan | specs (the unit follows the form)
_CHINESE = """
连花清瘟胶囊|15|0.35g×24粒/0.35g×36粒
蓝芩口服液|28|10ml×12支
板蓝根颗粒|12|10g×20袋
感冒清热颗粒|18|12g×10袋
小柴胡颗粒|16|10g×10袋
藿香正气水|10|10ml×10支
复方丹参滴丸|28|27mg×180丸
银杏叶片|30|9.6mg×24片/19.2mg×24片
血塞通软胶囊|32|0.33g×24粒
血栓通注射液|28|2ml:70mg
参麦注射液|22|20ml/50ml
痰热清注射液|68|10ml
喜炎平注射液|25|2ml:50mg
醒脑静注射液|30|10ml
六味地黄丸|18|120丸/200丸
金匮肾气丸|22|360丸
逍遥丸|15|200丸
乌鸡白凤丸|35|9g×10丸
补中益气丸|18|6g×10袋
香砂养胃丸|16|200丸
保和丸|12|6g×10袋
健胃消食片|12|0.8g×32片
三九胃泰颗粒|20|20g×6袋
气滞胃痛颗粒|24|5g×9袋
肠炎宁片|18|0.42g×36片
麻仁软胶囊|25|0.6g×20粒
云南白药胶囊|32|0.25g×32粒
云南白药气雾剂|45|85g+30g
活血止痛胶囊|26|0.5g×24粒
伤湿止痛膏|12|7cm×10cm×10贴
麝香壮骨膏|15|7cm×10cm×6贴
腰痹通胶囊|38|0.42g×60粒
仙灵骨葆胶囊|36|0.5g×40粒
金水宝胶囊|48|0.33g×72粒
百令胶囊|58|0.5g×42粒
黄芪颗粒|28|15g×10袋
玉屏风颗粒|30|5g×18袋
蒲地蓝消炎口服液|32|10ml×10支
清开灵颗粒|18|3g×20袋
双黄连口服液|20|10ml×10支
抗病毒口服液|22|10ml×10支
急支糖浆|18|200ml
川贝枇杷膏|22|150ml
复方鲜竹沥液|20|20ml×6支
苏黄止咳胶囊|42|0.45g×24粒
桂枝茯苓胶囊|36|0.31g×60粒
妇科千金片|25|0.32g×72片
益母草颗粒|15|15g×10袋
脑心通胶囊|45|0.4g×48粒
通心络胶囊|55|0.26g×90粒
稳心颗粒|38|9g×9袋
参松养心胶囊|48|0.4g×36粒
速效救心丸|28|40mg×150丸
麝香保心丸|42|22.5mg×42丸
松龄血脉康胶囊|40|0.5g×60粒
天麻钩藤颗粒|30|5g×12袋
养血清脑颗粒|45|4g×15袋
正天丸|32|6g×10袋
乌灵胶囊|48|0.33g×36粒
舒肝解郁胶囊|52|0.36g×28粒
归脾丸|20|200丸
知柏地黄丸|18|200丸
杞菊地黄丸|18|200丸
银翘解毒片|10|0.52g×36片
牛黄解毒片|8|0.27g×48片
黄连上清片|12|0.31g×48片
三黄片|9|0.26g×48片
龙胆泻肝丸|16|6g×10袋
癃闭舒胶囊|38|0.3g×36粒
前列舒通胶囊|40|0.4g×36粒
尿毒清颗粒|45|5g×18袋
消渴丸|35|0.25g×120丸
津力达颗粒|52|9g×9袋
复方甘草片|6|100片
黄葵胶囊|56|0.5g×30粒
复方血栓通胶囊|42|0.5g×36粒
丹红注射液|38|10ml/20ml
疏血通注射液|45|2ml
血必净注射液|60|10ml
藿香正气软胶囊|18|0.45g×24粒/0.45g×36粒
防风通圣丸|15|6g×10袋
通宣理肺丸|12|7g×10丸
橘红丸|15|6g×10丸
强力枇杷露|20|150ml/225ml
止咳宝片|30|0.35g×48片
复方板蓝根颗粒|10|15g×20袋
夏桑菊颗粒|10|10g×20袋
清热解毒口服液|22|10ml×10支
金振口服液|42|10ml×6支
小儿豉翘清热颗粒|38|2g×6袋/4g×6袋
小儿肺咳颗粒|32|2g×9袋/3g×9袋
健儿消食口服液|25|10ml×10支
葛根芩连片|15|0.5g×36片
香连丸|10|6g×10袋
胃苏颗粒|25|5g×9袋/15g×9袋
摩罗丹|30|1.84g×12袋
荆花胃康胶丸|48|80mg×20粒
独一味胶囊|35|0.3g×36粒
颈复康颗粒|30|5g×10袋
骨刺宁胶囊|28|0.3g×36粒
复方南星止痛膏|28|10cm×13cm×6贴
血府逐瘀胶囊|28|0.4g×36粒
丹七片|18|0.3g×48片
脑安胶囊|55|0.3g×48粒
心可舒片|32|0.31g×72片
芪苈强心胶囊|70|0.3g×36粒
金天格胶囊|95|0.4g×36粒
雷公藤多苷片|25|10mg×50片
昆仙胶囊|120|0.3g×36粒
复方黄黛片|250|0.27g×100片
康复新液|35|100ml/50ml
生脉饮|15|10ml×10支
舒血宁注射液|12|5ml/10ml
注射用血塞通|45|200mg/400mg
"""

# Consumables: name | unit | price yuan | use | specs
_CONSUMABLES = """
一次性使用无菌注射器|支|0.5|basic|1ml/2ml/5ml/10ml/20ml/50ml
一次性使用输液器|个|3|basic|带针/避光/精密过滤
一次性使用静脉留置针|个|12|basic|18G/20G/22G/24G
医用脱脂棉球|袋|1.5|basic|0.5g×10/0.5g×20
医用纱布块|袋|2|basic|5cm×5cm/8cm×10cm
医用胶带|个|3|basic|1.25cm/2.5cm
一次性使用医用橡胶检查手套|个|1|basic|中号/大号
一次性使用灭菌橡胶外科手套|个|3|basic|6.5/7.0/7.5
医用外科口罩|个|0.8|basic|平面型
一次性使用静脉血样采集针|个|0.5|basic|0.7mm/0.8mm
一次性使用真空采血管|支|0.8|basic|EDTA/促凝/肝素锂/枸橼酸钠
心电电极片|个|0.6|basic|成人/儿童
无菌透明敷贴|个|3|basic|6cm×7cm/10cm×12cm
一次性使用输液接头|个|8|basic|正压
弹性绷带|个|8|basic|7.5cm/10cm
一次性使用雾化器|个|15|basic|面罩式/口含式
一次性使用吸氧管|个|3|basic|单腔/双腔
高分子夹板|个|180|basic|前臂/小腿
石膏绷带|个|10|basic|10cm/15cm
血糖试纸|片|3|basic|通用
胰岛素注射笔用针头|支|1.5|basic|4mm/5mm
一次性使用导尿包|个|25|ward|12Fr/14Fr/16Fr
一次性使用吸痰管|支|2|ward|10Fr/12Fr/14Fr
一次性使用胃管|支|8|ward|14Fr/16Fr
一次性使用引流袋|个|5|ward|1000ml/2000ml
负压引流器|个|80|ward|200ml/400ml
一次性使用中心静脉导管包|个|320|ward|单腔/双腔
一次性使用输血器|个|6|ward|标准
可吸收性外科缝线|支|90|ward|2-0/3-0/4-0
皮肤吻合器|个|450|ward|35钉
一次性使用血液透析器|个|110|ward|1.4m²/1.6m²
血液透析管路|个|45|ward|成人
一次性使用麻醉穿刺包|个|95|ward|腰硬联合/硬膜外
气管插管|支|35|ward|7.0/7.5
一次性使用呼吸回路|个|60|ward|成人
明胶海绵|个|45|ward|6cm×2cm
医用透明质酸钠凝胶|支|280|ward|1ml
一次性使用活检钳|个|150|ward|1.8mm
一次性使用高频电刀笔|支|110|ward|标准
新生儿脐带夹|个|1|ward|标准
腔镜直线切割吻合器钉仓|个|1800|implant|45mm/60mm
骨科接骨板|个|2500|implant|锁定型4孔/锁定型6孔
锁定螺钉|个|350|implant|3.5mm/5.0mm
人工髋关节假体|个|7000|implant|生物型
冠状动脉药物洗脱支架|个|700|implant|2.5×18mm/3.0×24mm
人工晶状体|个|1200|implant|单焦点/非球面
植入式给药装置|个|2800|implant|标准
一次性使用无菌导尿管|支|8|ward|12Fr/14Fr/16Fr/18Fr
医用棉签|袋|1|basic|10支/20支
一次性使用换药包|个|8|basic|标准/加强
一次性使用口腔护理包|个|6|ward|标准
一次性使用清创缝合包|个|25|basic|标准
医用冰袋|个|5|basic|小号/大号
一次性使用压力传感器|个|180|ward|单通道
一次性使用血压袖带|个|20|ward|成人/儿童
一次性使用体温探头|个|25|ward|成人
一次性使用腹腔穿刺包|个|60|ward|标准
一次性使用胸腔引流管|支|45|ward|24Fr/28Fr
一次性使用肠内营养输注器|个|25|ward|泵用/重力
医用护理垫|片|2|ward|60cm×60cm/60cm×90cm
一次性使用避光注射器|支|3|ward|50ml
一次性使用微量泵延长管|个|6|ward|150cm
一次性使用手术衣|个|25|ward|L/XL
一次性使用手术单|个|30|ward|普通/加强
医用退热贴|片|4|basic|儿童/成人
"""

# Medical service items: use | 6-digit national prefix | name | price yuan | unit | weight
_SERVICES = """
diag_op|110200|普通门诊诊查费|20|次|6
diag_op|110200|副主任医师门诊诊查费|35|次|3
diag_op|110200|主任医师门诊诊查费|50|次|2
diag_op|110200|知名专家门诊诊查费|100|次|0.3
diag_er|110200|急诊诊查费|25|次|1
diag_ip|110200|住院诊查费|20|日|1
bed|110900|床位费(三人间)|30|日|14
bed|110900|床位费(双人间)|45|日|4
bed|110900|床位费(单人间)|80|日|1
bed|110900|重症监护病房床位费|60|日|1
nursing|120100|二级护理|20|日|12
nursing|120100|一级护理|30|日|6
nursing|120100|三级护理|12|日|2
treat|120400|静脉输液(第一组)|8|次|10
treat|120400|静脉输液(连续输液第二组起)|3|次|8
treat|120400|静脉注射|5|次|5
treat|120400|肌肉注射|3|次|4
treat|120400|皮下注射|3|次|3
treat|120400|雾化吸入|8|次|4
treat|120800|氧气吸入|3|次|5
treat|310701|心电监测|8|次|5
treat|310701|血氧饱和度监测|5|次|4
treat|250302|指尖血糖测定|5|次|5
treat|120600|换药(小)|15|次|2
treat|120600|换药(中)|25|次|1
treat|120600|换药(大)|40|次|0.5
treat|120600|清创缝合术(小)|45|次|0.6
treat|120600|清创缝合术(中)|90|次|0.3
treat|120900|导尿|15|次|1
treat|120900|留置导尿|20|次|1
treat|120300|灌肠|20|次|0.5
treat|121000|吸痰护理|8|次|2
treat|121100|鼻饲管置管|20|次|0.5
treat|120100|口腔护理|6|次|2
treat|120100|会阴护理|8|次|1
treat|120100|压疮护理|10|次|1
treat|430000|普通针刺|15|次|1
treat|440000|推拿治疗|25|次|0.8
treat|340200|中频脉冲电治疗|15|次|1
treat|340100|红外线治疗|8|次|1
treat|340200|运动疗法|40|次|0.5
treat|311000|血液透析|400|次|0.2
treat|120400|静脉输血|15|次|0.2
treat|450000|拔罐疗法|10|次|0.4
treat|450000|艾灸|20|次|0.4
treat|120400|动脉采血|8|次|1
treat|120400|静脉采血|3|次|4
treat|120100|新生儿沐浴|10|次|0.3
treat|310600|新生儿蓝光治疗|15|次|0.2
lab|250101|血细胞分析(五分类)|20|项|10
lab|250102|尿液分析|10|项|5
lab|250103|粪便常规|8|项|3
lab|250305|丙氨酸氨基转移酶测定|5|项|5
lab|250305|天门冬氨酸氨基转移酶测定|5|项|5
lab|250305|总胆红素测定|4|项|4
lab|250305|直接胆红素测定|4|项|4
lab|250301|总蛋白测定|3|项|4
lab|250301|白蛋白测定|3|项|4
lab|250307|尿素测定|4|项|5
lab|250307|肌酐测定|5|项|5
lab|250307|尿酸测定|4|项|4
lab|250302|葡萄糖测定|4|项|5
lab|250304|钾测定|3|项|5
lab|250304|钠测定|3|项|5
lab|250304|氯测定|3|项|5
lab|250304|钙测定|3|项|3
lab|250304|镁测定|4|项|2
lab|250304|无机磷测定|3|项|2
lab|250303|甘油三酯测定|5|项|3
lab|250303|总胆固醇测定|5|项|3
lab|250303|高密度脂蛋白胆固醇测定|8|项|3
lab|250303|低密度脂蛋白胆固醇测定|8|项|3
lab|250403|C反应蛋白测定|20|项|6
lab|250403|降钙素原测定|120|项|1
lab|250302|糖化血红蛋白测定|45|项|1
lab|250203|凝血酶原时间测定|10|项|3
lab|250203|活化部分凝血活酶时间测定|10|项|3
lab|250203|纤维蛋白原测定|15|项|3
lab|250203|D-二聚体测定|50|项|2
lab|250306|肌钙蛋白I测定|60|项|1
lab|250306|N端脑钠肽前体测定|150|项|0.6
lab|250306|肌酸激酶同工酶测定|25|项|1
lab|250403|乙型肝炎表面抗原测定|15|项|2
lab|250403|丙型肝炎抗体测定|35|项|1
lab|250403|人免疫缺陷病毒抗体测定|30|项|1
lab|250403|梅毒螺旋体抗体测定|20|项|1
lab|260000|ABO血型鉴定|10|项|1
lab|260000|Rh血型鉴定|10|项|1
lab|260000|交叉配血|30|项|0.3
lab|250304|血气分析|60|项|1
lab|250302|乳酸测定|25|项|0.5
lab|250305|血清淀粉酶测定|10|项|1
lab|250305|脂肪酶测定|25|项|0.5
lab|250310|促甲状腺激素测定|30|项|1
lab|250310|游离三碘甲状腺原氨酸测定|25|项|1
lab|250310|游离甲状腺素测定|25|项|1
lab|250404|甲胎蛋白测定|40|项|0.6
lab|250404|癌胚抗原测定|40|项|0.6
lab|250404|糖类抗原125测定|60|项|0.4
lab|250404|糖类抗原199测定|60|项|0.4
lab|250404|前列腺特异性抗原测定|50|项|0.4
lab|250501|细菌培养及鉴定|60|项|0.5
lab|250501|药物敏感试验|50|项|0.4
lab|250403|甲型流感病毒抗原检测|40|项|1
lab|250403|乙型流感病毒抗原检测|40|项|1
lab|250101|红细胞沉降率测定|6|项|1
lab|250309|血清铁蛋白测定|30|项|0.4
lab|250302|同型半胱氨酸测定|30|项|0.6
imaging|210102|X线摄影(胸部正位)|40|次|4
imaging|210102|X线摄影(四肢)|35|次|2
imaging|210102|X线摄影(腰椎正侧位)|60|次|1
imaging|210300|X线计算机体层(CT)平扫(头颅)|180|次|2
imaging|210300|X线计算机体层(CT)平扫(胸部)|220|次|2
imaging|210300|X线计算机体层(CT)平扫(腹部)|240|次|1
imaging|210300|X线计算机体层(CT)增强扫描(腹部)|480|次|0.4
imaging|210200|磁共振平扫(头颅)|400|次|0.5
imaging|210200|磁共振平扫(腰椎)|420|次|0.4
imaging|210200|磁共振平扫(膝关节)|420|次|0.3
imaging|220201|彩色多普勒超声(腹部)|100|次|2
imaging|220201|彩色多普勒超声(心脏)|180|次|1
imaging|220201|彩色多普勒超声(甲状腺)|80|次|1
imaging|220201|彩色多普勒超声(下肢血管)|120|次|0.6
imaging|220201|彩色多普勒超声(妇科)|90|次|0.8
imaging|310701|常规心电图检查(十二导联)|20|次|5
imaging|310701|动态心电图|150|次|0.5
imaging|310701|动态血压监测|120|次|0.3
imaging|310100|脑电图|100|次|0.2
imaging|310600|肺功能检查|120|次|0.3
imaging|310901|电子胃镜检查|200|次|0.3
imaging|310903|电子结肠镜检查|300|次|0.2
imaging|230000|骨密度测定|80|次|0.2
surgery|331003|阑尾切除术|1500|次|2
surgery|331005|腹腔镜下胆囊切除术|2800|次|2
surgery|331303|剖宫产术|1800|次|2
surgery|331303|经阴道分娩|900|次|3
surgery|331501|骨折切开复位内固定术|3000|次|2
surgery|330000|清创术|300|次|3
surgery|330404|白内障超声乳化摘除术|2200|次|1
surgery|330801|冠状动脉造影术|1800|次|1
surgery|330801|经皮冠状动脉内支架置入术|4500|次|0.6
surgery|331008|腹股沟疝修补术|1600|次|1
surgery|330703|甲状腺部分切除术|2000|次|0.6
surgery|331509|膝关节镜检查术|1500|次|0.6
surgery|331509|人工髋关节置换术|4500|次|0.4
surgery|331007|痔切除术|900|次|1
anaesthesia|330100|全身麻醉|1000|次|4
anaesthesia|330100|椎管内麻醉|600|次|3
anaesthesia|330100|神经阻滞麻醉|400|次|1
anaesthesia|330100|局部浸润麻醉|30|次|2
lab|250101|网织红细胞计数|15|项|1
lab|250307|尿微量白蛋白测定|25|项|0.6
lab|250307|β2微球蛋白测定|25|项|0.5
lab|250307|胱抑素C测定|30|项|0.8
lab|250305|总胆汁酸测定|10|项|2
lab|250305|γ-谷氨酰基转移酶测定|5|项|3
lab|250305|碱性磷酸酶测定|5|项|3
lab|250306|乳酸脱氢酶测定|6|项|2
lab|250306|肌酸激酶测定|5|项|2
lab|250301|前白蛋白测定|15|项|1
lab|250305|血氨测定|25|项|0.3
lab|250402|抗链球菌溶血素O测定|15|项|0.5
lab|250402|类风湿因子测定|15|项|0.5
lab|250402|抗核抗体测定|50|项|0.3
lab|250402|白细胞介素6测定|90|项|0.5
lab|250403|血清淀粉样蛋白A测定|30|项|1.5
lab|250403|呼吸道合胞病毒抗原检测|40|项|0.5
lab|250403|肺炎支原体抗体测定|40|项|1
lab|250403|轮状病毒抗原检测|35|项|0.3
lab|250103|粪便隐血试验|10|项|1
lab|250102|尿妊娠试验|8|项|0.3
lab|250310|人绒毛膜促性腺激素测定|45|项|0.3
lab|250309|25羟基维生素D测定|80|项|0.3
lab|250309|血清维生素B12测定|40|项|0.3
lab|250309|血清叶酸测定|40|项|0.3
lab|250403|结核感染T细胞检测|300|项|0.1
lab|250403|乙型肝炎病毒DNA定量|150|项|0.2
lab|250203|凝血酶时间测定|10|项|2
lab|250203|抗凝血酶III测定|40|项|0.3
lab|250501|尿培养及鉴定|60|项|0.3
lab|250501|血培养及鉴定|80|项|0.4
imaging|210102|X线摄影(骨盆)|50|次|0.5
imaging|210102|X线摄影(颈椎)|50|次|0.5
imaging|210300|X线计算机体层(CT)平扫(颈椎)|220|次|0.4
imaging|210300|X线计算机体层(CT)平扫(腰椎)|220|次|0.5
imaging|210300|X线计算机体层(CT)增强扫描(胸部)|480|次|0.2
imaging|210300|X线计算机体层(CT)血管成像(头颅)|800|次|0.1
imaging|210200|磁共振增强扫描(头颅)|750|次|0.1
imaging|220201|彩色多普勒超声(乳腺)|80|次|0.5
imaging|220201|彩色多普勒超声(泌尿系)|90|次|0.8
imaging|220201|彩色多普勒超声(颈部血管)|120|次|0.5
imaging|220800|经颅多普勒超声|80|次|0.3
imaging|210103|食管钡餐造影|90|次|0.1
treat|120400|微量泵注射|5|次|3
treat|310701|持续有创血压监测|20|次|0.5
treat|310603|无创呼吸机辅助通气|10|次|0.8
treat|121200|气管切开护理|20|次|0.3
treat|310603|胸腔穿刺术|80|次|0.2
treat|311202|腹腔穿刺术|80|次|0.2
treat|310100|腰椎穿刺术|60|次|0.2
treat|310300|骨髓穿刺术|80|次|0.1
treat|310701|中心静脉穿刺置管术|150|次|0.2
treat|120400|经外周静脉穿刺中心静脉置管术|200|次|0.1
treat|340100|冷疗|10|次|0.5
treat|340100|超声波治疗|20|次|0.5
treat|340200|颈椎牵引|15|次|0.5
treat|430000|电针治疗|20|次|0.6
treat|450000|穴位贴敷治疗|10|次|0.8
treat|450000|中药熏洗治疗|30|次|0.3
treat|340200|肢体气压治疗|20|次|0.6
surgery|331101|乳腺肿物切除术|800|次|0.8
surgery|331204|包皮环切术|500|次|0.5
surgery|330804|大隐静脉高位结扎剥脱术|1500|次|0.4
surgery|331507|腰椎间盘突出摘除术|3500|次|0.4
surgery|331304|子宫肌瘤剔除术|2500|次|0.5
surgery|330602|鼻内镜下鼻窦手术|2500|次|0.4
surgery|330605|扁桃体切除术|800|次|0.4
surgery|331201|输尿管镜下碎石取石术|2000|次|0.5
surgery|331202|经尿道前列腺电切术|2800|次|0.4
"""


_MODELS = ("I型", "II型", "III型", "IV型", "V型")


def _rows(text: str) -> list[list[str]]:
    return [line.split("|") for line in text.strip().splitlines()]


@lru_cache(maxsize=4)
def make_catalogue(seed: int = 0) -> Catalogue:
    """The synthetic item catalogue (~1,650 items). Fixed for a seed; cached."""
    rng = random.Random(_derive("catalogue", seed))
    jitter = 0.18  # log-normal spread of list prices around the family price
    draft: list[dict[str, Any]] = []
    codes: set[str] = set()

    def price(yuan: float, sigma: float = jitter) -> int:
        return max(1, round(_lognormal(rng, yuan * 100, sigma)))

    def unique(head: str, tail: int | tuple[int, int] = 0, local: bool = False) -> str:
        """A new code: ``head`` + random digits (``tail`` many, or from..to many)."""
        while True:
            n = tail if isinstance(tail, int) else rng.randint(*tail)
            code = head + (f"ZJ{rng.choice('ABCDEFGH')}" if local else "") + digits(n)
            if code not in codes:
                codes.add(code)
                return code

    def digits(n: int) -> str:
        return "".join(rng.choice("0123456789") for _ in range(n))

    def add(code: str, name: str, kind: str, use: str, unit: str, fen: int, weight: float) -> None:
        draft.append({"code": code, "name": name, "kind": kind, "use": use, "unit": unit,
                      "fen": fen, "weight": weight})

    # ---- western drugs: X + ATC4 + A### (generic) + form letter ### + 9 digits = 23 chars
    for g_no, (generic, atc, forms) in enumerate(_rows(_WESTERN), start=1):
        for f_no, form in enumerate(forms.split(";"), start=1):
            fk, specs, yuan_s, *pack_s = form.split(":")
            template, dose_unit = _FORMS[fk]
            base = template.format(g=generic)
            yuan = float(yuan_s)
            special = yuan >= 500
            for s_no, spec in enumerate(specs.split("/")):
                p_yuan = yuan * (1 + 0.45 * s_no)
                head = f"X{atc}A{g_no:03d}{fk}{f_no:03d}"
                if pack_s:  # boxed oral forms: box items, plus a per-dose item for the ward
                    pack = int(pack_s[0])
                    packs = [pack] if special else sorted({pack, pack * rng.choice((2, 3))})
                    for k, n in enumerate(packs):
                        box_fen = price(p_yuan * (1 if k == 0 else n / pack * 0.9))
                        add(unique(head, 9), f"{base}({spec}×{n}{_PACKED[fk]})", "western",
                            "special" if special else "box", "盒", box_fen, 1.0)
                    if dose_unit and not special:
                        add(unique(head, 9), f"{base}({spec})", "western", "dose", dose_unit,
                            max(1, price(p_yuan / pack, 0.1)), 1.0)
                else:
                    unit = dose_unit or "支"
                    use = "special" if special else ("oral" if fk in "LO" else "inj")
                    add(unique(head, 9), f"{base}({spec})", "western", use, unit, price(p_yuan),
                        3.0 if fk == "V" else 1.0)
                    if fk in "LO":   # syrups and sachets also dispensed at the counter
                        add(unique(head, 9), f"{base}({spec}×{6 if fk == 'O' else 1}"
                            f"{'袋' if fk == 'O' else '瓶'})", "western", "box", "盒",
                            price(p_yuan * (6 if fk == "O" else 1.1)), 1.0)

    # ---- Chinese patent medicines: Z + A## + 2 letters + X + 4 digits + 9-12 digits
    letters = "ABCDEFGHJKLMNPQRSTUVWXYZ"
    for c_no, (name, yuan_s, specs) in enumerate(_rows(_CHINESE), start=1):
        yuan = float(yuan_s)
        group = (f"{rng.choice('ABCDEFGHJ')}{rng.randint(1, 20):02d}"
                 f"{rng.choice(letters)}{rng.choice(letters)}")
        injection = "注射" in name
        for s_no, spec in enumerate(specs.split("/")):
            for k in range(1 if injection else 2):
                head = f"Z{group}X{c_no:04d}"
                if injection:
                    add(unique(head, (9, 12)), f"{name}({spec})", "chinese", "inj", "支",
                        price(yuan * (1 + 0.6 * s_no)), 1.0)
                elif k == 0:
                    add(unique(head, (9, 12)), f"{name}({spec})", "chinese", "box", "盒",
                        price(yuan * (1 + 0.5 * s_no)), 1.0)
                else:  # a second pack (two boxes banded) sells as its own catalogue entry
                    add(unique(head, (9, 12)), f"{name}({spec}×2盒)", "chinese", "box", "盒",
                        price(yuan * (1 + 0.5 * s_no) * 1.9), 0.3)

    # ---- consumables: C + 26 digits (class 2, subclass 2, name 3, spec 4, maker 6, serial 9)
    for n_no, (name, unit, yuan_s, use, specs) in enumerate(_rows(_CONSUMABLES), start=1):
        cls = f"{rng.randint(1, 14):02d}{rng.randint(1, 20):02d}"
        for s_no, spec in enumerate(specs.split("/"), start=1):
            makers = 1 if use == "implant" else rng.choice((2, 3, 4, 5))
            for m in range(makers):  # one code per maker; the model type tells them apart
                head = f"C{cls}{n_no:03d}{s_no:04d}"
                model = "" if makers == 1 else f" {_MODELS[m]}"
                add(unique(head, 15), f"{name}({spec}{model})", "consumable", use, unit,
                    price(float(yuan_s) * (1.15 ** (s_no - 1)), 0.3), 1.0)

    # ---- medical services: 15 digits + "-" + local suffix (9 digits or ZJ + letter + digits)
    serial: dict[str, int] = {}
    for use, prefix, name, yuan_s, unit, weight in _rows(_SERVICES):
        serial[prefix] = serial.get(prefix, 0) + 1
        national = f"{prefix}{serial[prefix]:03d}"
        # most hospitals use the national code; some areas add local sub-items
        for variant in range(1 if use in ("diag_op", "diag_er", "diag_ip", "bed", "nursing")
                             else rng.choice((1, 1, 2, 3))):
            head = f"00{national}{variant:04d}-"
            code = (unique(head + national) if variant == 0
                    else unique(head, (1, 6), local=True))
            label = name if variant == 0 else f"{name}(加收{_ordinal(variant)})" if use in (
                "lab", "imaging") else f"{name}-{_ordinal(variant)}"
            add(code, label, "service", use, unit,
                price(float(yuan_s) * (1.0 if variant == 0 else 0.3 + 0.2 * variant), 0.08),
                float(weight) / (1 if variant == 0 else 4 * variant))

    # ---- categories: exactly 60/30/10 % over the distinct drugs and items
    order = list(range(len(draft)))
    rng.shuffle(order)
    cut_a, cut_b = round(len(order) * 0.60), round(len(order) * 0.90)
    for rank, i in enumerate(order):
        draft[i]["cat"] = (FeeCategory.CLASS_A if rank < cut_a else
                           FeeCategory.CLASS_B if rank < cut_b else FeeCategory.SELF_PAY)

    # ---- duplicate codes: a few drugs listed under several catalogue codes
    items: list[CatalogueItem] = []
    for d in draft:
        items.append(CatalogueItem(d["code"], d["name"], d["kind"], d["use"], d["unit"],
                                   d["fen"], d["cat"], d["code"]))
    drugs = [it for it in items if it.use == "box" and it.kind == "western"]
    aliases: dict[str, tuple[str, ...]] = {}
    for it in rng.sample(drugs, 12):
        extra = []
        for _ in range(rng.choice((1, 1, 2, 3))):
            # another approval batch of the same drug: same generic/form prefix, new tail
            alias = unique(it.code[:14], 9)
            extra.append(alias)
            items.append(CatalogueItem(alias, it.name, it.kind, it.use, it.unit,
                                       it.unit_price_fen, it.category, it.code))
        aliases[it.code] = (it.code, *extra)
    weights = {d["code"]: d["weight"] for d in draft}
    for it in items:
        if it.is_alias:
            weights[it.code] = weights[it.canonical_code]
    return Catalogue(tuple(items), {it.code: it for it in items}, aliases, weights)


# =========================================================================== patients


@dataclass(frozen=True, slots=True)
class Patient:
    national_id: str  # 18 characters, valid check character; synthetic
    birth_date: str
    sex: str          # "M" / "F"


_OTHER_ID_REGIONS = ("330102", "330203", "330302", "310104", "320102", "341221", "360102",
                     "362201", "430102", "511302", "522121", "412723")


def make_patients(n: int, seed: int, *, as_of: date = date(2024, 12, 31)) -> list[Patient]:
    """``n`` synthetic patients with valid resident IDs (sequence numbers 900-999).

    Ages are those of sporadic claimants: newborns and infants, children, adults and
    many elderly; born 1930 at the earliest and not after ``as_of``.
    """
    rng = random.Random(_derive("patients", seed))
    earliest = date(1930, 1, 1).toordinal()
    latest = as_of.toordinal()
    seen: set[str] = set()
    out: list[Patient] = []
    while len(out) < n:
        u = rng.random()
        age_days = (rng.randint(0, 364) if u < 0.06 else
                    rng.randint(365, 14 * 365) if u < 0.18 else
                    rng.randint(15 * 365, 59 * 365) if u < 0.67 else
                    rng.randint(60 * 365, 94 * 365))
        born = date.fromordinal(max(earliest, latest - age_days))
        region = (rng.choice(_IN_CITY_REGIONS)[0] if rng.random() < 0.85
                  else rng.choice(_OTHER_ID_REGIONS))
        male = rng.random() < 0.5
        seq = 900 + 2 * rng.randrange(50) + (1 if male else 0)   # odd = male
        first17 = f"{region}{born:%Y%m%d}{seq:03d}"
        if first17 in seen:
            continue
        seen.add(first17)
        out.append(Patient(first17 + check_character(first17), born.isoformat(),
                           "M" if male else "F"))
    return out


# =========================================================================== generation

_Q = {  # quantity tables by (use, unit): picked uniformly, so repeats are weights
    "box": ["1"] * 12 + ["2"] * 6 + ["3"] * 2 + ["4", "6", "0.5"],
    "special": ["1"] * 6 + ["2"],
    "oral": ["1"] * 6 + ["2"] * 2,
    "dose片": ["1"] * 8 + ["2"] * 5 + ["3"] * 2 + ["0.5", "0.5", "1.5", "4", "0.25"],
    "dose袋": ["1"] * 6 + ["2"] * 4 + ["3"] * 2,
    "inj支": ["1"] * 8 + ["2"] * 5 + ["3"] * 2 + ["4", "0.5", "0.5", "2.5"],
    "inj瓶": ["1"] * 10 + ["2"] * 4 + ["3"],
    "basic": ["1"] * 10 + ["2"] * 5 + ["3"] * 2 + ["4", "5", "10"],
    "ward": ["1"] * 10 + ["2"] * 3 + ["3"],
    "implant": ["1"] * 5 + ["2"],
    "treat": ["1"] * 8 + ["2"] * 3 + ["3", "4", "6", "8"],
    "one": ["1"],
}


def _qty_table(item: CatalogueItem) -> tuple[tuple[str, int], ...]:
    key = (item.use + item.unit if item.use in ("dose", "inj") else
           item.use if item.use in _Q else "one")
    values = _Q.get(key) or _Q["inj支" if item.use == "inj" else "one"]
    return tuple((q, round(float(q) * 1000)) for q in values)


# random-line mix per visit type: use -> share, and how strongly cheap items dominate
_MIX = {
    VisitType.OUTPATIENT: {"box": 0.52, "lab": 0.20, "imaging": 0.05, "treat": 0.07,
                           "basic": 0.07, "inj": 0.07, "oral": 0.02},
    VisitType.PHARMACY: {"box": 0.97, "special": 0.01, "oral": 0.02},
    VisitType.EMERGENCY: {"inj": 0.25, "lab": 0.25, "imaging": 0.07, "treat": 0.13,
                          "basic": 0.18, "box": 0.10, "oral": 0.02},
    VisitType.INPATIENT: {"inj": 0.30, "dose": 0.12, "lab": 0.21, "imaging": 0.02,
                          "treat": 0.15, "basic": 0.14, "ward": 0.03, "box": 0.02,
                          "oral": 0.01},
}
_ALPHA = 0.7   # item popularity ~ weight / price^alpha: cheap items are charged more often
_SURGERY_P = 0.30


@dataclass(frozen=True, slots=True)
class _Pool:
    rows: tuple[tuple[Any, ...], ...]   # (code, name, category, unit, price, qtable, nq)
    cum: tuple[float, ...]

    def pick(self, u: float) -> tuple[Any, ...]:
        return self.rows[bisect(self.cum, u * self.cum[-1])]


def _row(item: CatalogueItem, factor: float) -> tuple[Any, ...]:
    price = item.unit_price_fen
    if item.kind == "service":
        price = max(1, round(price * factor))
    q = _qty_table(item)
    return (item.code, item.name, item.category, item.unit, price, q, len(q))


def _pool(items: Sequence[CatalogueItem], shares: dict[str, float], weights: dict[str, float],
          factor: float, alpha: float = _ALPHA) -> _Pool:
    by_use: dict[str, list[CatalogueItem]] = {}
    for it in items:
        by_use.setdefault(it.use, []).append(it)
    rows: list[tuple[Any, ...]] = []
    cum: list[float] = []
    acc = 0.0
    for use, share in shares.items():
        group = by_use.get(use, [])
        if not group:
            continue
        w = [weights[it.code] / (it.unit_price_fen / 100) ** alpha for it in group]
        total = sum(w)
        for it, wi in zip(group, w, strict=True):
            acc += share * wi / total
            rows.append(_row(it, factor))
            cum.append(acc)
    return _Pool(tuple(rows), tuple(cum))


@lru_cache(maxsize=8)
def _pools(catalogue: Catalogue) -> dict[tuple[Any, str], _Pool]:
    weights = catalogue.weights
    items = catalogue.items
    out: dict[tuple[Any, str], _Pool] = {}
    for level in LEVELS:
        f = SERVICE_PRICE_FACTOR[level]
        for vt, shares in _MIX.items():
            out[(vt, level)] = _pool(items, shares, weights, f)
        for use in ("diag_op", "diag_er", "diag_ip", "bed", "nursing", "surgery",
                    "anaesthesia", "implant"):
            out[(use, level)] = _pool(items, {use: 1.0}, weights, f, alpha=0.0)
    return out


@dataclass(frozen=True, eq=False)
class Dataset:
    """A planned synthetic data set; iterate it for ``(Invoice, patient_id)`` pairs."""

    seed: int
    start: date
    end: date
    hospitals: tuple[Hospital, ...]
    patients: tuple[Patient, ...]
    catalogue: Catalogue
    fee_line_count: int
    _plans: tuple[tuple[Any, ...], ...] = field(repr=False)
    _pseudonyms: dict[int, Hash32] = field(repr=False)
    _base_seed: int = field(repr=False)

    def __len__(self) -> int:
        return len(self._plans)

    def __iter__(self) -> Iterator[tuple[Invoice, str]]:
        build = self._build
        for i in range(len(self._plans)):
            yield build(i)

    def __getitem__(self, i: int) -> tuple[Invoice, str]:
        if not -len(self._plans) <= i < len(self._plans):
            raise IndexError(i)
        return self._build(i % len(self._plans))

    def to_list(self) -> list[tuple[Invoice, str]]:
        return list(self)

    @property
    def line_counts(self) -> tuple[int, ...]:
        return tuple(p[1] for p in self._plans)

    def patient_id(self, i: int) -> str:
        return self.patients[int(self._plans[i][3])].national_id

    # ------------------------------------------------------------------ one invoice

    def _build(self, i: int) -> tuple[Invoice, str]:
        vt, n, h_idx, p_idx, issue_ord, hms, days, lag, inv_code, inv_no = self._plans[i]
        hospital = self.hospitals[h_idx]
        level = hospital.level
        pools = _pools(self.catalogue)
        rng = random.Random(self._base_seed + i)
        r = rng.random
        dates = _date_strings(issue_ord - lag - days + 1, days)
        lines: list[FeeLine] = []
        append = lines.append
        FL = FeeLine

        def emit(row: tuple[Any, ...], day: str) -> None:
            code, name, cat, unit, price, qt, nq = row
            qs, qm = qt[int(r() * nq)]
            # round half up of price x quantity, in integers (quantity in thousandths)
            amount = price if qm == 1000 else (price * qm + 500) // 1000
            append(FL(len(lines) + 1, code, name, cat, qs, unit, price, amount, day))

        pool = pools[(vt, level)]
        rows, cum = pool.rows, pool.cum
        top = cum[-1]

        def fill(count: int, day: str) -> None:  # the hot loop: emit() inlined
            seq = len(lines)
            for _ in range(count):
                code, name, cat, unit, price, qt, nq = rows[bisect(cum, r() * top)]
                qs, qm = qt[int(r() * nq)]
                seq += 1
                append(FL(seq, code, name, cat, qs, unit, price,
                          price if qm == 1000 else (price * qm + 500) // 1000, day))

        if vt is VisitType.INPATIENT:
            fixed = [pools[("bed", level)].pick(r()), pools[("nursing", level)].pick(r()),
                     pools[("diag_ip", level)].pick(r())]
            per_day = min(len(fixed), n // days) if days else 0
            fixed = fixed[:per_day]
            extra: dict[int, list[tuple[Any, ...]]] = {}
            n_rand = n - per_day * days
            if n_rand >= 4 and days >= 2 and r() < _SURGERY_P:
                op_day = 1 + int(r() * (days - 1))
                ops = [pools[("anaesthesia", level)].pick(r()), pools[("surgery", level)].pick(r())]
                if r() < 0.3:
                    ops.append(pools[("implant", level)].pick(r()))
                extra[op_day] = ops
                n_rand -= len(ops)
            counts = [0] * days
            for _ in range(n_rand):
                counts[int(r() * days)] += 1
            for d in range(days):
                day = dates[d]
                for row in fixed:
                    emit(row, day)
                for row in extra.get(d, ()):
                    emit(row, day)
                fill(counts[d], day)
        else:
            k = 0
            if vt is VisitType.OUTPATIENT:
                emit(pools[("diag_op", level)].pick(r()), dates[-1])
                k = 1
            elif vt is VisitType.EMERGENCY:
                emit(pools[("diag_er", level)].pick(r()), dates[0])
                k = 1
            if days == 1:
                fill(n - k, dates[0])
            else:  # overnight emergency observation: lines on both days, in date order
                first = sum(1 for _ in range(n - k) if r() < 0.6)
                fill(first, dates[0])
                fill(n - k - first, dates[-1])
        total = sum(map(_AMOUNT, lines))
        account = 0
        counter = vt in (VisitType.OUTPATIENT, VisitType.PHARMACY)
        if total >= 1000 and r() < (0.18 if counter else 0.06):
            account = min(total, round(total * (0.05 + 0.5 * r())))
        check = "".join(rng.choices(_ALNUM, k=6))
        pid = self.patients[p_idx].national_id
        invoice = Invoice(
            issuer=hospital.code, invoice_code=inv_code, invoice_number=inv_no,
            check_code=check, issued_at=f"{_date_str(issue_ord)}T{hms}{_TZ}", visit_type=vt,
            patient=self._pseudonyms[p_idx], total_fen=total, fund_paid_fen=0,
            account_paid_fen=account, cash_paid_fen=total - account, fee_lines=tuple(lines),
        )
        return invoice, pid


_AMOUNT = attrgetter("amount_fen")


@lru_cache(maxsize=8192)
def _date_str(ordinal: int) -> str:
    return date.fromordinal(ordinal).isoformat()


@lru_cache(maxsize=65536)
def _date_strings(first: int, days: int) -> tuple[str, ...]:
    return tuple(_date_str(first + d) for d in range(days))


def _as_date(v: str | date) -> date:
    return v if isinstance(v, date) else date.fromisoformat(v)


def _line_counts(rng: random.Random, visits: list[VisitType], fee_lines: int | None) -> list[int]:
    params = {vt: p for vt, _, p in _VISIT_MIX}
    raw = []
    for vt in visits:
        median, sigma, lo, hi = params[vt]
        raw.append(min(hi, max(lo, round(_lognormal(rng, median, sigma)))))
    if fee_lines is None:
        return raw
    n = len(raw)
    lo_sum = sum(_LINE_BOUNDS[vt][0] for vt in visits)
    hi_sum = sum(_LINE_BOUNDS[vt][1] for vt in visits)
    # keep each visit type's realistic range when the target allows it, else 1..MAX
    feasible = lo_sum <= fee_lines <= hi_sum
    bounds = [_LINE_BOUNDS[vt] for vt in visits] if feasible else [(1, MAX_FEE_LINES)] * n
    f = fee_lines / sum(raw)
    counts = [min(b[1], max(b[0], round(x * f))) for x, b in zip(raw, bounds, strict=True)]
    rest = fee_lines - sum(counts)
    while rest:  # one line more (or less) for the last invoices that have room, pass by pass
        step = 1 if rest > 0 else -1
        moved = False
        for i in range(n - 1, -1, -1):
            if rest == 0:
                break
            lo, hi = bounds[i]
            if lo <= counts[i] + step <= hi:
                counts[i] += step
                rest -= step
                moved = True
        if not moved:  # pragma: no cover - ruled out by the bounds checks above
            raise ValueError("cannot distribute the fee lines")
    return counts


def generate(
    seed: int,
    *,
    hospitals: int = 132,
    invoices: int = 15_605,
    fee_lines: int | None = 1_332_000,
    start: str | date = "2024-01-01",
    end: str | date = "2024-12-31",
    pepper: bytes,
) -> Dataset:
    """Plan a synthetic data set; iterating it builds the invoices (in issue order).

    With ``fee_lines`` the total number of fee lines over all invoices is exactly that
    (the draws are scaled, then the last invoices get a line more or less); with None
    the counts are drawn freely (mean ~85).
    """
    if invoices < 1:
        raise ValueError(f"need at least one invoice, got {invoices}")
    if fee_lines is not None and not invoices <= fee_lines <= invoices * MAX_FEE_LINES:
        raise ValueError(f"fee_lines must be between {invoices} and {invoices * MAX_FEE_LINES}")
    d0, d1 = _as_date(start), _as_date(end)
    if d1 < d0:
        raise ValueError(f"end {d1} is before start {d0}")
    rng = random.Random(_derive("plan", seed))
    r = rng.random
    hosp = tuple(make_hospitals(hospitals, seed))
    catalogue = make_catalogue()
    _pools(catalogue)  # build the sampling tables once, up front

    visit_types = [vt for vt, _, _ in _VISIT_MIX]
    visit_weights = [w for _, w, _ in _VISIT_MIX]
    visits = rng.choices(visit_types, weights=visit_weights, k=invoices)
    counts = _line_counts(rng, visits, fee_lines)

    # hospital choice: 61 % of invoices outside the city; bigger hospitals see more
    size = {"三级": 5.0, "二级": 2.0, "一级": 0.6}
    inpatient_size = {"三级": 5.0, "二级": 2.0, "一级": 0.05}
    groups = ([i for i, h in enumerate(hosp) if h.in_city],
              [i for i, h in enumerate(hosp) if not h.in_city])

    def chooser(sizes: dict[str, float]) -> list[tuple[list[int], list[float]]]:
        out = []
        for g in groups:
            cum, acc = [], 0.0
            for i in g:
                acc += sizes[hosp[i].level]
                cum.append(acc)
            out.append((g, cum))
        return out

    pick_normal, pick_inpatient = chooser(size), chooser(inpatient_size)

    n_pat = max(1, round(invoices * 0.6))
    patients = tuple(make_patients(n_pat, seed, as_of=d1))
    births = [date.fromisoformat(p.birth_date).toordinal() for p in patients]

    first_day, n_days = d0.toordinal(), d1.toordinal() - d0.toordinal() + 1
    plans: list[list[Any]] = []
    for vt, n in zip(visits, counts, strict=True):
        while True:  # fewer visits at weekends, except emergencies
            day = first_day + int(r() * n_days)
            if vt is VisitType.EMERGENCY or date.fromordinal(day).weekday() < 5 or r() < 0.5:
                break
        if vt is VisitType.INPATIENT:
            days = max(1, min(90, round(n / (25 + 35 * r()))))
            lag = 0 if r() < 0.9 else 1 + int(r() * 3)
            secs = 8 * 3600 + 1800 + int(r() * 8 * 3600)
        elif vt is VisitType.EMERGENCY:
            days, lag = (2 if r() < 0.2 else 1), 0
            secs = int(r() * 86400)
        else:
            days, lag = 1, 0
            secs = 8 * 3600 + int(r() * (9.5 if vt is VisitType.OUTPATIENT else 13) * 3600)
        outside = 1 if r() < OUT_OF_CITY_INVOICES else 0
        table = pick_inpatient if vt is VisitType.INPATIENT else pick_normal
        g, cum = table[outside] if table[outside][0] else table[1 - outside]
        h_idx = g[bisect(cum, r() * cum[-1])]
        first_service = day - lag - days + 1
        for _ in range(20):  # a frequent claimant now and then; never before birth
            p_idx = int(n_pat * r() ** 1.4)
            if births[p_idx] <= first_service:
                break
        else:
            p_idx = min(range(n_pat), key=births.__getitem__)
        hms = f"{secs // 3600:02d}:{secs // 60 % 60:02d}:{secs % 60:02d}"
        plans.append([vt, n, h_idx, p_idx, day, hms, days, lag])

    # issue order; invoice numbers run on per hospital (other, insured bills in between)
    plans.sort(key=lambda p: (p[4], p[5]))
    next_no: dict[int, int] = {}
    for p in plans:
        h = hosp[p[2]]
        year = date.fromordinal(p[4]).year % 100
        kind = "02" if p[0] is VisitType.INPATIENT else "01"
        code = f"{h.region[:4]}{year:02d}{kind}"
        number = next_no.get(p[2], 1 + int(r() * 5_000_000)) + 1 + int(r() * 400)
        next_no[p[2]] = number
        p.extend((code, f"{number:010d}"))

    used = {p[3] for p in plans}
    pseudonyms = {i: pseudonymise(patients[i].national_id, pepper=pepper) for i in sorted(used)}
    return Dataset(
        seed=seed, start=d0, end=d1, hospitals=hosp, patients=patients, catalogue=catalogue,
        fee_line_count=sum(p[1] for p in plans), _plans=tuple(tuple(p) for p in plans),
        _pseudonyms=pseudonyms, _base_seed=_derive("invoices", seed),
    )


def iter_documents(dataset: Dataset) -> Iterator[dict[str, Any]]:
    """Upload-format JSON documents (with the patient ID), in issue order."""
    for invoice, patient_id in dataset:
        yield invoice.to_json(patient_id=patient_id)
