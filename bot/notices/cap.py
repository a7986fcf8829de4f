"""CAP 1.2 (OASIS Common Alerting Protocol) for notices: export one notice as an ``<alert>``,
and read an alert from a provincial source system or a disaster agency into a draft.

Reading uses defusedxml with DTDs forbidden: entity expansion ("billion laughs"), external
entities and DTD tricks are refused before any element is built. Size is bounded by the web
server's body limit (``service.max_body_bytes``).
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from datetime import datetime

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring

from bot.notices.workflow import CATEGORIES, PRIORITIES
from bot.store.models import Notice
from bot.text import number
from bot.timeutil import as_utc, vn_iso

NS = "urn:oasis:names:tc:emergency:cap:1.2"
_Q = f"{{{NS}}}"
#: our category → CAP <category>; and CAP → ours on import
TO_CAP = {"safety": "Safety", "security": "Security", "services": "Infra"}
FROM_CAP = {
    "Geo": "safety",
    "Met": "safety",
    "Safety": "safety",
    "Rescue": "safety",
    "Fire": "safety",
    "Health": "safety",
    "Env": "safety",
    "CBRNE": "safety",
    "Security": "security",
    "Infra": "services",
    "Transport": "services",
}
MSG_TYPES = {"alert": "Alert", "update": "Update", "cancel": "Cancel"}


class CapError(ValueError):
    """Not a CAP 1.2 alert we can use; the message says why."""


def identifier(commune_code: str, notice_id: int) -> str:
    return f"vn-commune-{commune_code}-notice-{notice_id}"


def notice_id_of(identifier_: str, commune_code: str) -> int | None:
    """Our notice id, if ``identifier_`` is one of this commune's (see :func:`identifier`)."""
    prefix = identifier(commune_code, 0)[:-1]
    rest = identifier_.removeprefix(prefix)
    return number(rest) if rest != identifier_ else None


def referenced_ids(alert: ImportedAlert, commune_code: str) -> list[int]:
    """Our notices an Update/Cancel refers to (``references``: sender,identifier,sent …)."""
    ids = []
    for ref in alert.references:
        parts = ref.split(",")
        if len(parts) >= 2 and (found := notice_id_of(parts[1], commune_code)) is not None:
            ids.append(found)
    return ids


def sender(commune_code: str) -> str:
    return f"ubnd-{commune_code}@thongtincoso.vn"


def export(
    notice: Notice,
    commune_code: str,
    commune_name: str,
    villages: dict[int, str],
    referenced: Notice | None = None,
) -> bytes:
    ET.register_namespace("", NS)
    alert = ET.Element(_Q + "alert")

    def sub(parent: ET.Element, tag: str, text: str | None) -> None:
        if text is not None:
            ET.SubElement(parent, _Q + tag).text = text

    sub(alert, "identifier", identifier(commune_code, notice.id))
    sub(alert, "sender", sender(commune_code))
    sub(alert, "sent", vn_iso(notice.sent_at or notice.updated_at or notice.created_at))
    sub(alert, "status", "Actual")
    sub(alert, "msgType", MSG_TYPES.get(notice.msg_type, "Alert"))
    sub(alert, "scope", "Public")
    if referenced is not None:
        sub(
            alert,
            "references",
            ",".join(
                [
                    sender(commune_code),
                    identifier(commune_code, referenced.id),
                    vn_iso(referenced.sent_at or referenced.created_at) or "",
                ]
            ),
        )
    urgency, severity, certainty = PRIORITIES[notice.priority]
    versions = [("vi-VN", notice.headline, notice.body)] + [
        (lang, t.get("headline") or notice.headline, t.get("body") or notice.body)
        for lang, t in sorted(notice.translations.items())
    ]
    for language, headline, body in versions:
        info = ET.SubElement(alert, _Q + "info")
        sub(info, "language", language)
        sub(info, "category", TO_CAP.get(notice.category, "Other"))
        sub(info, "event", CATEGORIES[notice.category])
        sub(info, "urgency", urgency)
        sub(info, "severity", severity)
        sub(info, "certainty", certainty)
        sub(info, "effective", vn_iso(notice.effective_at))
        sub(info, "expires", vn_iso(notice.expires_at))
        sub(info, "senderName", commune_name)
        sub(info, "headline", headline)
        sub(info, "description", body)
        param = ET.SubElement(info, _Q + "parameter")
        sub(param, "valueName", "commune-bot:category")
        sub(param, "value", notice.category)
        if notice.image_url:
            resource = ET.SubElement(info, _Q + "resource")
            sub(resource, "resourceDesc", "Ảnh kèm thông báo")
            sub(resource, "mimeType", "image/jpeg")
            sub(resource, "uri", notice.image_url)
        area = ET.SubElement(info, _Q + "area")
        names = [villages.get(i, str(i)) for i in notice.village_ids]
        sub(area, "areaDesc", "; ".join(names) if names else commune_name)
        geocode = ET.SubElement(area, _Q + "geocode")
        sub(geocode, "valueName", "VN-admin-unit")
        sub(geocode, "value", commune_code)
    return ET.tostring(alert, encoding="utf-8", xml_declaration=True)


@dataclass
class ImportedAlert:
    identifier: str
    msg_type: str
    references: list[str]
    category: str
    priority: str
    headline: str
    body: str
    area: list[str]
    effective_at: datetime | None
    expires_at: datetime | None
    translations: dict[str, dict[str, str]] = field(default_factory=dict)
    image_url: str | None = None


def _parse_time(text: str | None, name: str) -> datetime | None:
    if not text:
        return None
    try:
        value = datetime.fromisoformat(text.strip())
    except ValueError:
        raise CapError(f"<{name}> is not a CAP date-time: {text!r}") from None
    if value.tzinfo is None:
        raise CapError(f"<{name}> needs a time zone offset (CAP 1.2 §3.3.2)")
    return as_utc(value)


def _priority(urgency: str, severity: str) -> str:
    if urgency == "Immediate" or severity in ("Extreme", "Severe"):
        return "emergency"
    if urgency == "Expected" or severity == "Moderate":
        return "priority"
    return "normal"


def parse(document: bytes) -> ImportedAlert:
    try:
        root = fromstring(document, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except DefusedXmlException as exc:
        raise CapError(
            f"refused: {type(exc).__name__} (DTDs and entities are not allowed)"
        ) from None
    except ET.ParseError as exc:
        raise CapError(f"not well-formed XML: {exc}") from None
    if root.tag != _Q + "alert":
        raise CapError(f'the root element must be <alert xmlns="{NS}">, not {root.tag}')

    def text(parent: ET.Element, tag: str, required: bool = False) -> str | None:
        node = parent.find(_Q + tag)
        value = node.text.strip() if node is not None and node.text else None
        if required and not value:
            raise CapError(f"<{tag}> is required")
        return value

    status = text(root, "status", True)
    if status != "Actual":
        raise CapError(f"only <status>Actual</status> alerts become notices (got {status})")
    msg_type = text(root, "msgType", True) or ""
    if msg_type not in ("Alert", "Update", "Cancel"):
        raise CapError(f"<msgType>{msg_type}</msgType> is not one we act on")
    infos = root.findall(_Q + "info")
    if not infos:
        raise CapError("an alert needs at least one <info>")
    vietnamese = next(
        (i for i in infos if (text(i, "language") or "en-US").lower().startswith("vi")), infos[0]
    )
    headline = text(vietnamese, "headline") or text(vietnamese, "event", True) or ""
    body = text(vietnamese, "description") or text(vietnamese, "instruction") or headline
    instruction = text(vietnamese, "instruction")
    if instruction and instruction not in body:
        body = f"{body}\n{instruction}"
    ours = None
    for param in vietnamese.findall(_Q + "parameter"):
        if text(param, "valueName") == "commune-bot:category":
            ours = text(param, "value")
    cap_category = text(vietnamese, "category") or "Other"
    category = ours if ours in CATEGORIES else FROM_CAP.get(cap_category, "policy")
    area: list[str] = []
    for node in vietnamese.findall(_Q + "area"):
        desc = text(node, "areaDesc") or ""
        area += [part.strip() for part in desc.replace(",", ";").split(";") if part.strip()]
    translations = {}
    for info in infos:
        if info is vietnamese:
            continue
        lang = (text(info, "language") or "").split("-")[0]
        if lang and lang != "vi":
            translations[lang] = {
                "headline": (text(info, "headline") or headline)[:150],
                "body": (text(info, "description") or body)[:2000],
            }
    image_url = None
    for resource in vietnamese.findall(_Q + "resource"):
        uri, mime = text(resource, "uri"), text(resource, "mimeType") or ""
        if uri and mime.startswith("image/") and uri.startswith(("https://", "http://")):
            image_url = uri[:500]
            break
    references = (text(root, "references") or "").split()
    return ImportedAlert(
        identifier=text(root, "identifier", True) or "",
        msg_type=msg_type.lower(),
        references=references,
        category=category,
        priority=_priority(text(vietnamese, "urgency") or "", text(vietnamese, "severity") or ""),
        headline=headline[:150],
        body=body[:2000],
        area=area,
        effective_at=_parse_time(text(vietnamese, "effective"), "effective"),
        expires_at=_parse_time(text(vietnamese, "expires"), "expires"),
        translations=translations,
        image_url=image_url,
    )
