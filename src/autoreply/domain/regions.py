"""Where in Japan a lead is: the prefecture and its 地方, from what the lead wrote or from the
area code of their phone number, and whether a routing rule's region names it.

A region reads like 「大阪府（関西）」 or 「神奈川県 横浜（関東）」: what a rep understands at
a glance, and what a rule's region text (大阪, 大阪府, 関西, 横浜) is looked for in.
"""

from __future__ import annotations

import re
import unicodedata

import phonenumbers
from phonenumbers import geocoder

__all__ = ["AREAS", "PREFECTURES", "region_matches", "region_of"]

#: The 47 prefectures in the order of their codes (JIS X 0401), each with its 地方 (近畿 is
#: written 関西, as sales teams name it) and the English name phonenumbers' geocoder gives.
PREFECTURES: tuple[tuple[str, str, str], ...] = (
    ("北海道", "北海道", "Hokkaido"),
    ("青森県", "東北", "Aomori"),
    ("岩手県", "東北", "Iwate"),
    ("宮城県", "東北", "Miyagi"),
    ("秋田県", "東北", "Akita"),
    ("山形県", "東北", "Yamagata"),
    ("福島県", "東北", "Fukushima"),
    ("茨城県", "関東", "Ibaraki"),
    ("栃木県", "関東", "Tochigi"),
    ("群馬県", "関東", "Gunma"),
    ("埼玉県", "関東", "Saitama"),
    ("千葉県", "関東", "Chiba"),
    ("東京都", "関東", "Tokyo"),
    ("神奈川県", "関東", "Kanagawa"),
    ("新潟県", "中部", "Niigata"),
    ("富山県", "中部", "Toyama"),
    ("石川県", "中部", "Ishikawa"),
    ("福井県", "中部", "Fukui"),
    ("山梨県", "中部", "Yamanashi"),
    ("長野県", "中部", "Nagano"),
    ("岐阜県", "中部", "Gifu"),
    ("静岡県", "中部", "Shizuoka"),
    ("愛知県", "中部", "Aichi"),
    ("三重県", "関西", "Mie"),
    ("滋賀県", "関西", "Shiga"),
    ("京都府", "関西", "Kyoto"),
    ("大阪府", "関西", "Osaka"),
    ("兵庫県", "関西", "Hyogo"),
    ("奈良県", "関西", "Nara"),
    ("和歌山県", "関西", "Wakayama"),
    ("鳥取県", "中国", "Tottori"),
    ("島根県", "中国", "Shimane"),
    ("岡山県", "中国", "Okayama"),
    ("広島県", "中国", "Hiroshima"),
    ("山口県", "中国", "Yamaguchi"),
    ("徳島県", "四国", "Tokushima"),
    ("香川県", "四国", "Kagawa"),
    ("愛媛県", "四国", "Ehime"),
    ("高知県", "四国", "Kochi"),
    ("福岡県", "九州・沖縄", "Fukuoka"),
    ("佐賀県", "九州・沖縄", "Saga"),
    ("長崎県", "九州・沖縄", "Nagasaki"),
    ("熊本県", "九州・沖縄", "Kumamoto"),
    ("大分県", "九州・沖縄", "Oita"),
    ("宮崎県", "九州・沖縄", "Miyazaki"),
    ("鹿児島県", "九州・沖縄", "Kagoshima"),
    ("沖縄県", "九州・沖縄", "Okinawa"),
)

#: The eight 地方, north to south.
AREAS = ("北海道", "東北", "関東", "中部", "関西", "中国", "四国", "九州・沖縄")

_BY_ENGLISH = {english: (name, area) for name, area, english in PREFECTURES}
_NAMES = tuple(name for name, _area, _english in PREFECTURES)


def _stem(name: str) -> str:
    """大阪府 -> 大阪, 東京都 -> 東京, 神奈川県 -> 神奈川; 北海道 stays itself."""
    return name if name == "北海道" else name[:-1]


#: Prefixes a written region may start with (full names and stems), the longest first.
_PREFIXES = sorted(
    (
        (prefix, name, area)
        for name, area, _english in PREFECTURES
        for prefix in {name, _stem(name)}
    ),
    key=lambda item: -len(item[0]),
)
_TRAILING_AREA = re.compile(r"\([^()]*\)$")


def _labelled(prefecture: str, area: str, rest: str = "") -> str:
    """「大阪府（関西）」; 北海道 is its own 地方 and reads just 「北海道」."""
    text = f"{prefecture}{rest}"
    return text if area == prefecture else f"{text}（{area}）"


def _from_text(text: str) -> str:
    """A written region with its 地方 added when it starts with a prefecture's name."""
    for prefix, name, area in _PREFIXES:
        if text.startswith(prefix):
            if area in text or area == name:
                return text
            return f"{text}（{area}）"
    return text


def _from_phone(phone: str) -> str | None:
    """The prefecture (and city) of a Japanese landline's area code; None for a mobile,
    an 050/0120 number or a number abroad (the geocoder only knows 「日本」 for those)."""
    try:
        number = phonenumbers.parse(phone, "JP")
    except phonenumbers.NumberParseException:
        return None
    if phonenumbers.region_code_for_number(number) != "JP":
        return None
    # The English description is "City, Prefecture"; the Japanese one just the city.
    english = geocoder.description_for_number(number, "en")
    city = geocoder.description_for_number(number, "ja")
    found = _BY_ENGLISH.get(english.rsplit(",", 1)[-1].strip()) if english else None
    if found is None:
        return None
    name, area = found
    rest = "" if not city or city == _stem(name) or city == name else f" {city}"
    return _labelled(name, area, rest)


def region_of(phone: str | None, explicit: str | None) -> str | None:
    """Where the lead is: what they wrote (a form's 都道府県 or 地域 answer) if anything, with
    its 地方 added when it names a prefecture; otherwise the area of their landline number.

    >>> region_of(None, "大阪府")
    '大阪府（関西）'
    >>> region_of("+81 3-3501-1234", None)
    '東京都（関東）'
    >>> region_of("+81 45-211-1234", None)
    '神奈川県 横浜（関東）'
    >>> region_of("090-1234-5678", None) is None
    True
    """
    written = " ".join((explicit or "").split())
    if written:
        return _from_text(written)
    return _from_phone(phone) if phone else None


def _fold(text: str) -> str:
    """Compared as the same: full-width and half-width, letter case, 近畿 and 関西."""
    return unicodedata.normalize("NFKC", text).casefold().replace("近畿", "関西").strip()


def _contains(text: str, part: str) -> bool:
    """``part`` occurs in ``text``, but not as the tail of another prefecture's name (京都 is
    not in 東京都)."""
    for name in _NAMES:
        if part in name and not name.startswith(part):
            text = text.replace(name, "\0")
    return bool(part) and part in text


def region_matches(wanted: str, region: str) -> bool:
    """Whether a rule's region text names the lead's region: one contained in the other,
    ignoring case and width (大阪 matches 大阪府（関西）, 大阪府 matches 大阪, 関西 and 近畿
    match any region whose 地方 is 関西).

    >>> region_matches("関西", "兵庫県 神戸（関西）"), region_matches("京都", "東京都（関東）")
    (True, False)
    """
    rule, lead = _fold(wanted), _fold(region)
    written = _TRAILING_AREA.sub("", lead).strip()  # without the 地方 we added
    return _contains(lead, rule) or _contains(rule, written)
