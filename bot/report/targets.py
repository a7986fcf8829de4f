"""The province's targets, each with its value and met / not met — or unknown when the service
holds no data for it (never a made-up number). Definitions: docs/report.md."""

from __future__ import annotations

from dataclasses import dataclass

from bot.i18n import N_
from bot.report.figures import Report


@dataclass(frozen=True)
class Target:
    key: str
    name: str  # Vietnamese msgid
    rule: str  # Vietnamese msgid: what "met" means
    done: int | None = None  # None: no data
    of: int | None = None
    #: the share that meets it (1.0: all of ``of``)
    needed: float = 1.0

    @property
    def value(self) -> float | None:
        if self.done is None or not self.of:
            return None
        return self.done / self.of

    @property
    def met(self) -> bool | None:
        """True / False, or None when there is nothing to judge by."""
        value = self.value
        return None if value is None else value >= self.needed


def targets(report: Report) -> list[Target]:
    communes = report.communes
    villages = sum(len(c.villages) for c in communes)
    tickets = [c.tickets for c in communes]
    return [
        Target(
            "propagandists",
            N_("Mỗi thôn, tổ dân phố có ít nhất 1 tuyên truyền viên"),
            N_("thôn có tuyên truyền viên đang hoạt động / tổng số thôn = 100 %"),
            sum(c.villages_covered for c in communes) if villages else None,
            villages or None,
        ),
        Target(
            "zalo_oa",
            N_("100 % xã có Zalo OA"),
            N_("xã đã khai báo OA / tổng số xã = 100 %"),
            sum(1 for c in communes if c.oa_id) if communes else None,
            len(communes) or None,
        ),
        Target(
            "mobile_feedback",
            N_("100 % phản ánh được tiếp nhận qua thiết bị di động"),
            N_("phản ánh qua Zalo hoặc trò chuyện trên web / tổng số phản ánh nhận trong kỳ"),
            sum(t.mobile for t in tickets) if sum(t.received for t in tickets) else None,
            sum(t.received for t in tickets) or None,
        ),
        Target(
            "source_system",
            N_("Thông tin thiết yếu đăng qua hệ thống thông tin nguồn của tỉnh"),
            N_("xã có thông báo nhập từ hệ thống nguồn (CAP) trong kỳ / tổng số xã = 100 %"),
            sum(1 for c in communes if c.source_notices) if communes else None,
            len(communes) or None,
        ),
        Target(
            "tts",
            N_("85 % xã sử dụng chuyển văn bản thành giọng nói (AI)"),
            N_("hệ thống không ghi nhận việc dùng chuyển văn bản thành giọng nói"),
            needed=0.85,
        ),
        Target(
            "led",
            N_("Bảng tin điện tử công cộng ở mọi xã"),
            N_("hệ thống không ghi nhận bảng tin điện tử nào"),
        ),
    ]
