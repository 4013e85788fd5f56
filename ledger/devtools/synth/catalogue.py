"""The synthetic item catalogue (~1,650 items): western drugs, Chinese patent medicines, consumables and
medical services, with codes composed in the national code *formats* only, list prices, and
Class A / Class B / self-pay categories in the proportions of :data:`CATEGORY_MIX`.

The families come from the data files in ``data/`` (read once); the items are drawn from
them, fixed for a seed. Columns, money in yuan:

- ``western.csv``: generic, ATC level 4, forms. A form is ``KIND:spec/spec:price[:pack]``
  (box price for tablets, capsules and granules, else per ampoule, vial, bottle or bag);
  ``KIND`` is a key of the form table below;
- ``chinese.csv``: name, box price, specs (the unit follows the form);
- ``consumables.csv``: name, unit, price, use, specs;
- ``services.csv``: use, 6-digit national prefix, name, price, unit, weight.
"""

from __future__ import annotations

import csv
import random
from dataclasses import dataclass, field
from functools import cache, lru_cache
from importlib import resources
from typing import Any

from ledger.devtools.synth.draws import derive, lognormal, ordinal
from ledger.invoice import FeeCategory

CATEGORY_MIX = {FeeCategory.CLASS_A: 0.60, FeeCategory.CLASS_B: 0.30, FeeCategory.SELF_PAY: 0.10}


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


# a form's KIND in western.csv -> (name template, unit of one dose; None: boxed forms not dispensed by the dose)
_FORMS = {
    "T": ("{g}片", "片"), "S": ("{g}缓释片", "片"), "E": ("{g}肠溶片", "片"),
    "K": ("{g}控释片", "片"), "W": ("{g}咀嚼片", "片"),
    "C": ("{g}胶囊", None), "N": ("{g}肠溶胶囊", None), "R": ("{g}缓释胶囊", None),
    "G": ("{g}颗粒", "袋"),
    "I": ("{g}注射液", "支"), "P": ("注射用{g}", "支"), "V": ("{g}注射液", "瓶"),
    "A": ("{g}吸入溶液", "支"), "L": ("{g}口服溶液", "瓶"), "O": ("{g}散", "袋"),
}
_PACKED = {"T": "片", "S": "片", "E": "片", "K": "片", "W": "片", "C": "粒", "N": "粒",
           "R": "粒", "G": "袋"}  # what a box of a boxed form counts
# model types that tell the makers of one consumable apart
_MODELS = ("I型", "II型", "III型", "IV型", "V型")


@lru_cache(maxsize=4)
def make_catalogue(seed: int = 0) -> Catalogue:
    """The synthetic item catalogue (~1,650 items). Fixed for a seed; cached."""
    rng = random.Random(derive("catalogue", seed))
    jitter = 0.18  # log-normal spread of list prices around the family price
    draft: list[dict[str, Any]] = []
    codes: set[str] = set()

    def price(yuan: float, sigma: float = jitter) -> int:
        return max(1, round(lognormal(rng, yuan * 100, sigma)))

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
    for g_no, (generic, atc, forms) in enumerate(_table("western"), start=1):
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
    for c_no, (name, yuan_s, specs) in enumerate(_table("chinese"), start=1):
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
    for n_no, (name, unit, yuan_s, use, specs) in enumerate(_table("consumables"), start=1):
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
    for use, prefix, name, yuan_s, unit, weight in _table("services"):
        serial[prefix] = serial.get(prefix, 0) + 1
        national = f"{prefix}{serial[prefix]:03d}"
        # most hospitals use the national code; some areas add local sub-items
        for variant in range(1 if use in ("diag_op", "diag_er", "diag_ip", "bed", "nursing")
                             else rng.choice((1, 1, 2, 3))):
            head = f"00{national}{variant:04d}-"
            code = (unique(head + national) if variant == 0
                    else unique(head, (1, 6), local=True))
            label = name if variant == 0 else f"{name}(加收{ordinal(variant)})" if use in (
                "lab", "imaging") else f"{name}-{ordinal(variant)}"
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


@cache
def _table(name: str) -> tuple[tuple[str, ...], ...]:
    """The rows of ``data/<name>.csv`` without its header, read once."""
    text = (resources.files(__package__) / "data" / f"{name}.csv").read_text(encoding="utf-8")
    _header, *rows = csv.reader(text.splitlines())
    return tuple(tuple(row) for row in rows)
