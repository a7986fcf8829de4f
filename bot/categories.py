"""What residents report about, in one place (the data; the guess from a report's words is
bot/feedback/categories.py): the chat's quick choices, routing rules, the
per-category deadlines and the Open311 service list all read this table.

Emergency categories (disaster, fire, epidemic, accident, security) are where emergencies go;
whether a chat report IS one is decided by the triage from the whole message
(bot/feedback/triage.py), and only then does it take the same-day path (domain-vn.md §4: Đà
Nẵng QĐ 960/2021 gives emergencies ≤ 1 working day; HCMC 1022 forwards within 5 minutes). A
theft last year is a security report, not an emergency. Staff and Open311 filings default to
the category's flag.
``on_site`` matters can be checked on the spot and get the short deadline (Đà Nẵng: ≤ 3
working days for infrastructure, sanitation, order).
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.i18n import N_


@dataclass(frozen=True)
class Category:
    code: str
    name: str  # Vietnamese msgid
    description: str  # Vietnamese msgid (Open311 service description)
    group: str  # Open311 "group"
    emergency: bool = False
    on_site: bool = False  # checkable on site: the short default deadline
    #: the village's propagandist is not told (reports on staff, to the police, between
    #: neighbours: the village head may be a party)
    sensitive: bool = False
    #: words that suggest it, with their accents: matched as written in accented text; in
    #: text typed without accents only the phrases of two words or more are matched, since
    #: a single word loses its meaning without them (chạy/cháy, báo/bão, dịch vụ/dịch)
    keywords: tuple[str, ...] = ()
    plain: tuple[str, ...] = ()  # more accent-free phrases for text typed without accents


CATEGORIES: dict[str, Category] = {
    c.code: c
    for c in (
        Category(
            "road",
            N_("Đường sá, cầu cống"),
            N_("Đường hỏng, ổ gà, cầu cống hư hại, đèn đường"),
            "ha-tang",
            on_site=True,
            keywords=(
                "đường",
                "cầu",
                "cống",
                "ổ gà",
                "đèn đường",
                "mặt đường",
                "bê tông",
                "sụt lún",
            ),
            plain=("duong bi", "duong hu", "duong hong", "cau bi", "cau tre", "cong bi"),
        ),
        Category(
            "environment",
            N_("Rác thải, môi trường"),
            N_("Rác thải, nước thải, ô nhiễm, vệ sinh môi trường"),
            "moi-truong",
            on_site=True,
            keywords=("rác", "ô nhiễm", "bốc mùi", "nước thải", "hôi thối", "đổ rác", "rác thải"),
            plain=("bai rac", "o nhiem nguon nuoc"),
        ),
        Category(
            "utilities",
            N_("Điện, nước sinh hoạt"),
            N_("Mất điện, mất nước, đường dây, đường ống"),
            "ha-tang",
            on_site=True,
            keywords=("mất điện", "mất nước", "dây điện", "cột điện", "ống nước", "nước sạch"),
        ),
        Category(
            "land",
            N_("Đất đai, xây dựng"),
            N_("Tranh chấp, lấn chiếm đất, xây dựng trái phép"),
            "hanh-chinh",
            sensitive=True,
            keywords=("đất", "lấn chiếm", "xây dựng trái phép", "tranh chấp"),
            plain=("lan dat", "tranh chap dat"),
        ),
        Category(
            "social",
            N_("Chính sách, an sinh xã hội"),
            N_("Trợ cấp, hộ nghèo, bảo hiểm, người có công"),
            "hanh-chinh",
            keywords=("trợ cấp", "hộ nghèo", "chính sách", "bảo hiểm", "người có công"),
        ),
        Category(
            "services",
            N_("Thủ tục, thái độ phục vụ"),
            N_("Thủ tục hành chính chậm, thái độ cán bộ"),
            "hanh-chinh",
            sensitive=True,
            keywords=("thủ tục", "hồ sơ", "thái độ", "cán bộ xã", "dịch vụ công"),
        ),
        Category(
            "disaster",
            N_("Thiên tai, sạt lở, ngập lụt"),
            N_("Sạt lở, lũ, ngập, lốc, cây đổ nguy hiểm"),
            "khan-cap",
            emergency=True,
            keywords=(
                "sạt lở",
                "lở đất",
                "lũ",
                "lũ lụt",
                "lũ quét",
                "ngập lụt",
                "lụt",
                "ngập sâu",
                "lốc xoáy",
                "cây đổ",
                "bão",
                "nước dâng",
            ),
            plain=(
                "sat lo",
                "lo dat",
                "lu lut",
                "lu quet",
                "ngap nuoc",
                "bi ngap",
                "loc xoay",
                "cay do",
            ),
        ),
        Category(
            "fire",
            N_("Cháy nổ"),
            N_("Cháy nhà, cháy rừng, nguy cơ cháy nổ"),
            "khan-cap",
            emergency=True,
            keywords=("cháy", "cháy nổ", "phát nổ", "hỏa hoạn", "đám cháy"),
            plain=(
                "chay nha",
                "chay rung",
                "dam chay",
                "bi chay",
                "hoa hoan",
                "chay no",
                "co chay",
            ),
        ),
        Category(
            "epidemic",
            N_("Dịch bệnh"),
            N_("Dịch bệnh ở người, gia súc, gia cầm"),
            "khan-cap",
            emergency=True,
            keywords=(
                "dịch bệnh",
                "ổ dịch",
                "sốt xuất huyết",
                "gà chết",
                "lợn chết",
                "heo chết",
                "tay chân miệng",
                "dịch tả",
            ),
            plain=("o dich", "dich benh", "ga chet", "lon chet", "heo chet", "bo chet"),
        ),
        Category(
            "accident",
            N_("Tai nạn, cấp cứu"),
            N_("Tai nạn, đuối nước, ngộ độc, người bị thương cần cấp cứu"),
            "khan-cap",
            emergency=True,
            keywords=("đuối nước", "ngộ độc", "cấp cứu", "điện giật", "bị thương"),
            plain=("duoi nuoc", "ngo doc", "cap cuu", "dien giat", "bi thuong"),
        ),
        Category(
            "security",
            N_("An ninh, trật tự"),
            N_("Trộm cắp, đánh nhau, gây rối, ma túy"),
            "khan-cap",
            emergency=True,
            sensitive=True,
            keywords=("trộm", "đánh nhau", "gây rối", "ma túy", "cướp", "an ninh"),
            plain=("trom cap", "bi trom", "mat trom", "danh nhau", "gay roi", "ma tuy"),
        ),
        Category("other", N_("Việc khác"), N_("Phản ánh, kiến nghị khác"), "khac"),
    )
}

CHAT_ORDER = (
    "road",
    "environment",
    "utilities",
    "disaster",
    "fire",
    "epidemic",
    "security",
    "accident",
    "land",
    "social",
    "services",
    "other",
)
#: words used figuratively, dropped before guessing: a price storm is not a storm, an empty
#: pocket ("cháy túi"), a sold-out item ("cháy hàng") or a burnt bulb is not a fire
FIGURATIVE = (
    "cháy túi",
    "cháy hàng",
    "cháy vé",
    "bão giá",
    "cháy nắng",
    "cơm cháy",
    "cháy bóng",
    "bóng đèn bị cháy",
    "bóng bị cháy",
    "bóng đèn cháy",
    "bóng cháy",
)
