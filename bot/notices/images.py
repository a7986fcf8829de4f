"""A notice's uploaded image, for the API and the console: what every upload must be
(``bot.images.check_image``: JPEG/PNG by content, dimensions, the PNG's pixels inflated to the
header's exact size) within Zalo's ``/v2.0/oa/upload/image`` limit of 1 MB
(zalo-oa-api.md §4.5)."""

from __future__ import annotations

from bot.i18n import _
from bot.images import CheckedImage, ImageError, check_image

MAX_IMAGE_BYTES = 1024 * 1024  # Zalo's upload/image limit


def check_notice_image(content: bytes) -> CheckedImage:
    """The image's type and size in pixels, or :class:`bot.images.ImageError` saying why, in
    the current language. Call it in a thread (a PNG's pixels are inflated)."""
    if len(content) > MAX_IMAGE_BYTES:
        raise ImageError(_("Ảnh quá 1 MB (giới hạn của Zalo). Vui lòng chọn ảnh nhỏ hơn."))
    return check_image(content)
