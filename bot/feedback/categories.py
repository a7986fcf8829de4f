"""What residents report about, in one place: the chat's quick choices, routing rules, the
per-category deadlines and the Open311 service list all read this table.

Emergencies (disaster, fire, epidemic, security) take the same-day path (domain-vn.md §4:
Đà Nẵng QĐ 960/2021 gives emergencies ≤ 1 working day; HCMC 1022 forwards within 5 minutes).
``on_site`` matters can be checked on the spot and get the short deadline (Đà Nẵng: ≤ 3
working days for infrastructure, sanitation, order).
"""

from __future__ import annotations

from dataclasses import dataclass


def N_(text: str) -> str:  # marks a msgid for extraction; translated where shown
    return text


@dataclass(frozen=True)
class Category:
    code: str
    name: str  # Vietnamese msgid
    description: str  # Vietnamese msgid (Open311 service description)
    group: str  # Open311 "group"
    emergency: bool = False
    on_site: bool = False  # checkable on site: the short default deadline
    keywords: tuple[str, ...] = ()  # accent-free words that suggest it in a report


CATEGORIES: dict[str, Category] = {c.code: c for c in (
    Category("road", N_("Đường sá, cầu cống"), N_("Đường hỏng, ổ gà, cầu cống hư hại, đèn "
             "đường"), "ha-tang", on_site=True,
             keywords=("duong", "cau", "cong", "o ga", "den duong", "mat duong", "be tong")),
    Category("environment", N_("Rác thải, môi trường"), N_("Rác thải, nước thải, ô nhiễm, "
             "vệ sinh môi trường"), "moi-truong", on_site=True,
             keywords=("rac", "o nhiem", "boc mui", "nuoc thai", "hoi thoi", "ve sinh")),
    Category("utilities", N_("Điện, nước sinh hoạt"), N_("Mất điện, mất nước, đường dây, "
             "đường ống"), "ha-tang", on_site=True,
             keywords=("mat dien", "mat nuoc", "day dien", "cot dien", "ong nuoc", "nuoc sach")),
    Category("land", N_("Đất đai, xây dựng"), N_("Tranh chấp, lấn chiếm đất, xây dựng trái "
             "phép"), "hanh-chinh", keywords=("dat", "lan chiem", "xay dung", "tranh chap")),
    Category("social", N_("Chính sách, an sinh xã hội"), N_("Trợ cấp, hộ nghèo, bảo hiểm, "
             "người có công"), "hanh-chinh",
             keywords=("tro cap", "ho ngheo", "chinh sach", "bao hiem", "nguoi co cong")),
    Category("services", N_("Thủ tục, thái độ phục vụ"), N_("Thủ tục hành chính chậm, thái độ "
             "cán bộ"), "hanh-chinh", keywords=("thu tuc", "ho so", "can bo", "thai do")),
    Category("disaster", N_("Thiên tai, sạt lở, ngập lụt"), N_("Sạt lở, lũ, ngập, lốc, cây "
             "đổ nguy hiểm"), "khan-cap", emergency=True,
             keywords=("sat lo", "lo dat", "lu lut", "lu quet", "lu", "ngap", "lut", "loc xoay",
                       "cay do", "bao", "sut lun")),
    Category("fire", N_("Cháy nổ"), N_("Cháy nhà, cháy rừng, nguy cơ cháy nổ"), "khan-cap",
             emergency=True, keywords=("chay", "chay no", "phat no", "khoi")),
    Category("epidemic", N_("Dịch bệnh"), N_("Dịch bệnh ở người, gia súc, gia cầm"),
             "khan-cap", emergency=True,
             keywords=("dich", "dich benh", "sot xuat huyet", "ga chet", "lon chet", "heo chet",
                       "tay chan mieng")),
    Category("security", N_("An ninh, trật tự"), N_("Trộm cắp, đánh nhau, gây rối, ma túy"),
             "khan-cap", emergency=True,
             keywords=("trom", "danh nhau", "gay roi", "ma tuy", "cuop", "an ninh")),
    Category("other", N_("Việc khác"), N_("Phản ánh, kiến nghị khác"), "khac"),
)}

CHAT_ORDER = ("road", "environment", "utilities", "disaster", "fire", "epidemic", "security",
              "land", "social", "services", "other")


def guess(text: str) -> str | None:
    """The category a report's words suggest (emergencies first: a landslide across a road is
    a disaster before it is a road), or None."""
    from bot.nlu.entities import _key
    key = f" {_key(text)} "
    order = [c for c in CHAT_ORDER if CATEGORIES[c].emergency] + \
        [c for c in CHAT_ORDER if not CATEGORIES[c].emergency]
    for code in order:
        if any(f" {k} " in key for k in CATEGORIES[code].keywords):
            return code
    return None
