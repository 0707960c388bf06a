"""Vectorised value generators, and the choice of one for an element.

The choice follows the element's value domain first (check digit, code list or codes, date type
or format, numeric range, pattern), then keywords in its code and names (person name, company
name, address, phone, e-mail, postcode, free text), then a string that fits its length limits.
Every generator draws ``n`` values at once with numpy and pyarrow compute kernels.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from numpy.typing import NDArray

from examples.generator import identifiers as ids
from registry.home import Registry
from registry.model import Element, ValueDomain
from registry.vocab import DataType

Draw = Callable[[np.random.Generator, int], pa.Array]

SURNAMES = (
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任"
    "沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向"
)
GIVEN = (
    "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉兰萍红鹏辉建国文斌宇浩凯晨欣怡梓涵子轩雨嘉琪佳"
    "俊思颖博雪梅琳婷鑫成志林波飞东亮海燕春晓云丹龙坤瑞旭阳诗语若昊然天一心悦可馨宏兴德明亚蓉瑶"
)
WORDS = (
    "鑫达",
    "恒信",
    "华宇",
    "金桥",
    "渝兴",
    "巴蜀",
    "山城",
    "嘉陵",
    "长江",
    "两江",
    "瑞丰",
    "宏远",
    "博雅",
    "天成",
    "中源",
    "汇通",
    "启航",
    "聚力",
    "同创",
    "德润",
    "新锐",
    "永盛",
    "和美",
    "锦程",
    "佳禾",
    "盛世",
)
TRADES = (
    "科技",
    "商贸",
    "建筑工程",
    "餐饮管理",
    "物流",
    "电子商务",
    "农业开发",
    "文化传媒",
    "医药",
    "房地产开发",
    "机械制造",
    "信息技术",
    "环保科技",
    "汽车服务",
    "教育咨询",
    "建材",
)
SUFFIXES = ("有限公司", "有限责任公司", "股份有限公司", "经营部", "合伙企业（有限合伙）")
ROADS = (
    "解放碑",
    "民权路",
    "中山一路",
    "中山三路",
    "人民路",
    "建新北路",
    "观音桥步行街",
    "金开大道",
    "龙湖路",
    "学府大道",
    "南坪正街",
    "杨家坪正街",
    "三峡广场",
    "松石大道",
    "红旗河沟",
    "大坪正街",
    "五一路",
)
PHRASES = (
    "信息技术服务",
    "货物进出口",
    "技术开发",
    "企业管理咨询",
    "日用百货销售",
    "建筑材料销售",
    "餐饮服务",
    "道路货物运输",
    "软件开发",
    "会议及展览服务",
    "农产品收购",
    "广告设计",
)
_LETTERS = "abcdefghijklmnopqrstuvwxyz"
_ALNUM = "0123456789ABCDEFGHJKLMNPQRSTUVWXYZ"


@dataclass(frozen=True)
class ValueGen:
    """How to draw an element's values: ``kind`` names the generator (it goes in no file)."""

    kind: str
    draw: Draw
    check_digit: str | None = None
    allowed: frozenset[str] | None = None  # the closed set of codes, for out-of-domain defects


def pick(rng: np.random.Generator, values: Sequence[str], n: int, skew: float = 0.0) -> pa.Array:
    """``n`` draws from ``values``; ``skew`` > 0 favours the first ones (weight rank^-skew)."""
    weights = np.arange(1, len(values) + 1, dtype=np.float64) ** -skew
    index = rng.choice(len(values), size=n, p=weights / weights.sum())
    return pa.array(list(values), type=pa.string()).take(pa.array(index))


def join(*parts: pa.Array | str) -> pa.Array:
    return pc.binary_join_element_wise(*parts, "")


def numbers(rng: np.random.Generator, n: int, low: int, high: int) -> pa.Array:
    return pc.cast(pa.array(rng.integers(low, high + 1, size=n)), pa.string())


def person_names(rng: np.random.Generator, n: int) -> pa.Array:
    given = list(GIVEN)
    second = pick(rng, given, n)
    single = pa.array(rng.random(n) < 0.3)
    return join(pick(rng, list(SURNAMES), n, skew=0.8), pick(rng, given, n), pc.if_else(single, "", second))


def district_names(registry: Registry, divisions: Sequence[str]) -> list[str]:
    labels = {v.value: v.label for cl in registry.codelists.values() for v in cl.values}
    names = [labels[d] for d in divisions if d in labels]
    return names or ["渝中区", "江北区", "沙坪坝区", "九龙坡区", "南岸区", "渝北区", "巴南区", "北碚区"]


def company_names(rng: np.random.Generator, n: int, districts: Sequence[str]) -> pa.Array:
    prefix = pc.if_else(pa.array(rng.random(n) < 0.5), "重庆", join("重庆市", pick(rng, districts, n)))
    return join(prefix, pick(rng, WORDS, n), pick(rng, TRADES, n, skew=0.5), pick(rng, SUFFIXES, n, skew=2.0))


def addresses(rng: np.random.Generator, n: int, districts: Sequence[str]) -> pa.Array:
    room = join("附", numbers(rng, n, 1, 30), "号")
    unit = join(numbers(rng, n, 1, 6), "单元", numbers(rng, n, 1, 33), "-", numbers(rng, n, 1, 8))
    extra = pc.if_else(
        pa.array(rng.random(n) < 0.5), unit, pc.if_else(pa.array(rng.random(n) < 0.3), room, "")
    )
    return join("重庆市", pick(rng, districts, n), pick(rng, ROADS, n), numbers(rng, n, 1, 399), "号", extra)


def phones(rng: np.random.Generator, n: int, mobile_share: float = 0.75) -> pa.Array:
    second = np.array([ord(c) for c in "35789"], dtype=np.uint32)[rng.integers(0, 5, size=n)]
    mobile = np.concatenate(
        [
            np.full((n, 1), ord("1"), dtype=np.uint32),
            second[:, None],
            ids.digits(rng.integers(0, 10**9, size=n), 9),
        ],
        axis=1,
    )
    landline = join("023-", ids.to_strings(ids.digits(rng.integers(60000000, 90000000, size=n), 8)))
    return pc.if_else(pa.array(rng.random(n) < mobile_share), ids.to_strings(mobile), landline)


def emails(rng: np.random.Generator, n: int) -> pa.Array:
    letters = np.array([ord(c) for c in _LETTERS], dtype=np.uint32)[rng.integers(0, 26, size=(n, 6))]
    return join(
        ids.to_strings(letters),
        numbers(rng, n, 1, 999),
        "@",
        pick(rng, ("163.com", "qq.com", "126.com", "cq.gov.cn", "sina.com"), n, skew=1.0),
    )


def phrases(rng: np.random.Generator, n: int) -> pa.Array:
    return join(pick(rng, PHRASES, n), "；", pick(rng, PHRASES, n), "；", pick(rng, PHRASES, n))


def alnum(rng: np.random.Generator, n: int, low: int, high: int) -> pa.Array:
    """Upper-case letters and digits, length in [low, high]."""
    chars = np.array([ord(c) for c in _ALNUM], dtype=np.uint32)[rng.integers(0, len(_ALNUM), size=(n, high))]
    text = ids.to_strings(chars)
    return text if low >= high else _slice_each(text, rng.integers(low, high + 1, size=n))


def _slice_each(text: pa.Array, lengths: np.ndarray) -> pa.Array:
    out: list[pa.Array] = []
    order = np.argsort(lengths, kind="stable")
    sorted_lengths = lengths[order]
    bounds = np.flatnonzero(np.diff(sorted_lengths)) + 1
    for group in np.split(order, bounds):
        if len(group):
            out.append(pc.utf8_slice_codeunits(text.take(pa.array(group)), 0, int(lengths[group[0]])))
    merged = pa.concat_arrays(out)
    inverse = np.empty_like(order)
    inverse[order] = np.arange(len(order))
    return merged.take(pa.array(inverse))


def dates(rng: np.random.Generator, n: int, first: date, last: date, fmt: str, with_time: bool) -> pa.Array:
    lo = np.datetime64(first, "s").astype(np.int64)
    hi = np.datetime64(last, "s").astype(np.int64) + (86399 if with_time else 0)
    seconds = rng.integers(lo, hi + 1, size=n)
    if with_time:
        return pc.strftime(pa.array(seconds.astype("datetime64[s]")), format=fmt)
    # Days are few: format each day of the range once, then index (strftime per row is slow).
    first_day, days = lo // 86400, seconds // 86400
    calendar = np.arange(first_day, hi // 86400 + 1).astype("datetime64[D]").astype("datetime64[s]")
    return pc.strftime(pa.array(calendar), format=fmt).take(pa.array(days - first_day))


# --- regular expressions ------------------------------------------------------------------
_parser: Any = importlib.import_module("re._parser")
_const: Any = importlib.import_module("re._constants")
_CATEGORY = {"CATEGORY_DIGIT": "0123456789", "CATEGORY_WORD": _LETTERS + "0123456789", "CATEGORY_SPACE": " "}


class Unsupported(ValueError):
    pass


def _charset(items: list[tuple[Any, Any]]) -> str:
    chars: list[str] = []
    for op, arg in items:
        name = str(op)
        if name == "LITERAL":
            chars.append(chr(arg))
        elif name == "RANGE":
            chars.extend(chr(c) for c in range(arg[0], arg[1] + 1))
        elif name == "CATEGORY" and str(arg) in _CATEGORY:
            chars.extend(_CATEGORY[str(arg)])
        else:
            raise Unsupported(name)
    return "".join(dict.fromkeys(chars))


def _single_chars(nodes: Any) -> NDArray[np.uint32] | None:
    """The code points a one-character node (literal, class, any) may take; None otherwise."""
    if len(nodes) != 1:
        return None
    op, arg = nodes[0]
    name = str(op)
    if name == "LITERAL":
        chars = chr(arg)
    elif name == "IN":
        chars = _charset(arg)
    elif name == "ANY":
        chars = _ALNUM
    else:
        return None
    return np.array([ord(c) for c in chars], dtype=np.uint32)


def _regex(nodes: Any, rng: np.random.Generator, n: int) -> pa.Array:
    parts: list[pa.Array | str] = [""]
    for op, arg in nodes:
        name = str(op)
        if name == "LITERAL":
            parts.append(chr(arg))
        elif name in ("IN", "ANY"):
            chars = _charset(arg) if name == "IN" else _ALNUM
            points = np.array([ord(c) for c in chars], dtype=np.uint32)[
                rng.integers(0, len(chars), size=(n, 1))
            ]
            parts.append(ids.to_strings(points))
        elif name == "AT":
            continue
        elif name == "SUBPATTERN":
            parts.append(_regex(arg[-1], rng, n))
        elif name == "BRANCH":
            options = [_regex(branch, rng, n) for branch in arg[1]]
            chosen = pa.array(rng.integers(0, len(options), size=n))
            parts.append(pc.choose(chosen, *options))
        elif name in ("MAX_REPEAT", "MIN_REPEAT", "POSSESSIVE_REPEAT"):
            low, high, item = arg
            high = min(high, low + 6) if high != _const.MAXREPEAT else low + 6
            count = rng.integers(low, high + 1, size=n)
            single = _single_chars(item)
            if single is not None:  # one character class repeated: draw the whole block at once
                points = single[rng.integers(0, len(single), size=(n, high))]
                points[np.arange(high)[None, :] >= count[:, None]] = 0  # NUL ends a numpy string
                parts.append(ids.to_strings(points))
                continue
            for i in range(high):
                piece = _regex(item, rng, n)
                parts.append(piece if i < low else pc.if_else(pa.array(count > i), piece, ""))
        else:
            raise Unsupported(name)
    return join(*parts) if len(parts) > 1 else pa.array([""] * n, pa.string())


def regex_draw(pattern: str) -> Draw | None:
    """A generator for simple patterns (literals, classes, bounded repeats, groups, branches)."""
    try:
        tree = _parser.parse(pattern)
        _regex(tree, np.random.default_rng(0), 4)
    except (Unsupported, re.error, TypeError, ValueError):
        return None
    return lambda rng, n: _regex(tree, rng, n)


# --- the choice ---------------------------------------------------------------------------
def division_codes(registry: Registry) -> tuple[str, ...]:
    """County-level GB/T 2260 codes from a code list elements use, within the city's province."""
    province = (registry.settings.division or "500000")[:2]
    for element in registry.elements.values():
        codelist = registry.codelists.get(element.domain.code_list or "")
        if codelist is None:
            continue
        values = [v.value for v in codelist.values if re.fullmatch(r"\d{6}", v.value)]
        county = [v for v in values if not v.endswith("00")]
        if county and len(values) * 2 >= len(codelist.values):
            local = [v for v in county if v.startswith(province)]
            return tuple(local or county)
    return ids.CHONGQING_DIVISIONS


def allowed_codes(registry: Registry, domain: ValueDomain, today: date) -> tuple[list[str], frozenset[str]]:
    """Codes to draw (valid today) and every code the domain admits."""
    if domain.codes is not None:
        return list(domain.codes), frozenset(domain.codes)
    codelist = registry.codelists[domain.code_list or ""]
    current = [
        v.value
        for v in codelist.values
        if (v.valid_from is None or v.valid_from <= today) and (v.valid_to is None or today <= v.valid_to)
    ]
    return current or [v.value for v in codelist.values], frozenset(v.value for v in codelist.values)


def _words(element: Element) -> str:
    return " ".join((element.code, element.name, element.name_en, *element.synonyms)).lower()


_KEYWORDS: tuple[tuple[str, tuple[str, ...]], ...] = (
    (
        "company",
        (
            "名称",
            "enterprise name",
            "company name",
            "entity name",
            "organisation name",
            "organization name",
            "企业",
            "单位",
        ),
    ),
    ("address", ("地址", "住所", "address", "domicile", "经营场所")),
    ("phone", ("电话", "手机", "联系方式", "phone", "mobile", "tel")),
    ("email", ("邮箱", "email", "e-mail", "mail")),
    ("postcode", ("邮编", "邮政编码", "postcode", "postal", "zip")),
    ("person", ("姓名", "法定代表人", "负责人", "联系人", "person", "representative", "contact", "name")),
    ("text", ("经营范围", "范围", "备注", "说明", "描述", "scope", "remark", "description", "note")),
)


def keyword_kind(element: Element) -> str | None:
    words = _words(element)
    for kind, keys in _KEYWORDS:
        if any(k in words for k in keys):
            if kind == "company" and ("名称" in words) is False and "name" not in words:
                continue
            return kind
    return None


def _numeric(element: Element) -> ValueGen:
    d = element.domain
    words = _words(element)
    big = any(k in words for k in ("资本", "金额", "capital", "amount", "收入", "revenue", "税额", "tax"))
    low = d.min if d.min is not None else 0.0
    high = (
        d.max
        if d.max is not None
        else (1e8 if big else (120.0 if "age" in words or "年龄" in words else 1e4))
    )
    integer = element.type == DataType.INTEGER

    def draw(rng: np.random.Generator, n: int) -> pa.Array:
        if big or high - low > 1e6:
            span = max(high - low, 1.0)
            raw = low + np.minimum(rng.lognormal(np.log(span) - 6, 1.5, size=n), span)
        else:
            raw = rng.uniform(low, high, size=n)
        if integer:
            return pa.array(np.clip(np.round(raw), np.ceil(low), np.floor(high)).astype(np.int64))
        return pa.array(np.clip(np.round(raw, 2), low, high))

    return ValueGen("integer" if integer else "number", draw)


def choose(registry: Registry, element: Element, today: date) -> ValueGen:
    """The value generator of an element: domain first, then keywords, then a fitting string."""
    d = element.domain
    divisions = division_codes(registry)
    if d.check_digit is not None:
        scheme = str(d.check_digit)
        if scheme == "gb32100":
            return ValueGen(scheme, lambda rng, n: ids.uscc(rng, n, divisions), check_digit=scheme)
        if scheme == "gb11714":
            return ValueGen(scheme, ids.org_code, check_digit=scheme)
        oldest, youngest = today.year - 80, today.year - 18
        return ValueGen(
            scheme, lambda rng, n: ids.resident_id(rng, n, divisions, oldest, youngest), check_digit=scheme
        )
    if d.codes is not None or d.code_list is not None:
        draw_from, allowed = allowed_codes(registry, d, today)
        local = [c for c in draw_from if re.fullmatch(r"\d{6}", c) and c.startswith(divisions[0][:2])]
        pool = local if len(local) * 2 >= len(draw_from) or (len(draw_from) > 100 and local) else draw_from
        skew = 0.0 if local else 0.6
        return ValueGen("code", lambda rng, n: pick(rng, pool, n, skew), allowed=allowed)
    if element.type in (DataType.DATE, DataType.DATETIME) or d.date_format is not None:
        with_time = element.type == DataType.DATETIME
        fmt = d.date_format or ("%Y-%m-%d %H:%M:%S" if with_time else "%Y-%m-%d")
        words = _words(element)
        first = date(today.year - 80, 1, 1) if ("出生" in words or "birth" in words) else date(2000, 1, 1)
        return ValueGen("date", lambda rng, n: dates(rng, n, first, today, fmt, with_time))
    if element.type.is_numeric:
        return _numeric(element)
    if element.type == DataType.BOOLEAN:
        return ValueGen("boolean", lambda rng, n: pa.array(rng.random(n) < 0.5))
    if d.pattern is not None:
        draw = regex_draw(d.pattern)
        if draw is not None:
            return ValueGen("pattern", draw)
    if d.length is None:
        districts = district_names(registry, divisions)
        kind = keyword_kind(element)
        makers: dict[str, Draw] = {
            "company": lambda rng, n: company_names(rng, n, districts),
            "address": lambda rng, n: addresses(rng, n, districts),
            "phone": lambda rng, n: phones(rng, n, 1.0 if "手机" in _words(element) else 0.75),
            "email": emails,
            "postcode": lambda rng, n: join(
                "40", ids.to_strings(ids.digits(rng.integers(0, 10**4, size=n), 4))
            ),
            "person": person_names,
            "text": phrases,
        }
        if kind is not None:
            return ValueGen(kind, _fit(makers[kind], d))
    low = d.length or d.min_length or min(8, d.max_length or 8)
    high = d.length or d.max_length or max(low, 12)
    return ValueGen("string", lambda rng, n: alnum(rng, n, max(low, 1), min(max(high, 1), 40)))


def _fit(draw: Draw, d: ValueDomain) -> Draw:
    """Cut values to max_length and pad them to min_length."""
    if d.max_length is None and not d.min_length:
        return draw

    def fitted(rng: np.random.Generator, n: int) -> pa.Array:
        values = draw(rng, n)
        if d.max_length is not None:
            values = pc.utf8_slice_codeunits(values, 0, d.max_length)
        if d.min_length:
            values = pc.utf8_rpad(values, width=d.min_length, padding="0")
        return values

    return fitted
