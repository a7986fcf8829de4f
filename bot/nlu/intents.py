"""The intents the bot knows, by the name a resident sees on a quick-reply button — the NLU's
own list: Rasa's domain (bot/nlu/rasa_project.py) is written from it and the conversation's
answers (bot/conversation/answers.py) name their menus with it."""

from __future__ import annotations

from bot.i18n import N_

#: How each intent is named on a quick-reply button (clarifying questions, menus).
TITLES = {
    "office_hours": N_("Giờ làm việc"),
    "office_contact": N_("Địa chỉ, điện thoại"),
    "procedure_birth": N_("Đăng ký khai sinh"),
    "procedure_death": N_("Đăng ký khai tử"),
    "procedure_residence": N_("Đăng ký cư trú"),
    "procedure_marriage": N_("Đăng ký kết hôn"),
    "procedure_certify": N_("Chứng thực giấy tờ"),
    "procedure_land": N_("Thủ tục đất đai"),
    "health_insurance": N_("Bảo hiểm y tế"),
    "health_station": N_("Trạm y tế xã"),
    "social_allowance": N_("Trợ cấp xã hội"),
    "vaccination": N_("Lịch tiêm chủng"),
    "power_outage": N_("Lịch cắt điện"),
    "disaster_warning": N_("Thiên tai, sơ tán"),
    "latest_notices": N_("Thông báo mới"),
    "propagandist_contact": N_("Trưởng thôn, tuyên truyền viên"),
    "report_issue": N_("Gửi phản ánh"),
    "ticket_status": N_("Tra cứu phản ánh"),
    "subscribe": N_("Đăng ký nhận tin"),
    "unsubscribe": N_("Hủy nhận tin"),
    "change_language": N_("Đổi ngôn ngữ"),
    "talk_to_staff": N_("Gặp cán bộ"),
    "delete_my_data": N_("Xóa thông tin của tôi"),
    "set_village": N_("Cập nhật thôn nơi ở"),
}
