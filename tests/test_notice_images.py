"""A notice's uploaded image (issue 13: "attach an image or PDF"), through the real path: the
console's compose and image forms (multipart, CSRF) or the staff API (PUT …/image) in; the
database, the console's image route, the sender and the Zalo simulator out.

Checked by content: a PDF renamed ``.jpg`` or a picture over Zalo's 1 MB is refused in words,
nothing changed. Tenancy: another commune's user gets 404 for the image's URL. Sent: uploaded to
Zalo once per OA (``/v2.0/oa/upload/image``), the resident receives an image message naming
that ``attachment_id``; an id Zalo has forgotten (-100) is uploaded again once. SQLite and
PostgreSQL."""

from __future__ import annotations

import asyncio
import hashlib
import re
import struct
import zlib
from datetime import timedelta

import aiohttp
import pytest
from PIL import PngImagePlugin
from sqlalchemy import func, select, update

from bot import images
from bot.console.web import CONSOLE
from bot.images import (
    INFLATE_PIECE,
    MAX_JPEG_SEGMENTS,
    MAX_PNG_CHUNKS,
    MAX_SCANS,
    BrokenImage,
    ImageError,
    TooManyPixels,
    check_image,
)
from bot.notices.images import MAX_IMAGE_BYTES
from bot.store.models import Notice, NoticeImage
from bot.timeutil import utcnow
from tests.helpers import (
    JPEG,
    NOTICE,
    PNG,
    Desk,
    commune_code,
    make_settings,
    oa_id,
    quiet_around_now,
    resident,
    start_service,
    wait_status,
)
from tests.images import (
    apng,
    bomb,
    chunk,
    deflated_zeros,
    jpeg_claiming,
    many_scans,
    picture,
    pillow,
    png,
    scans,
    with_chunks,
)
from tests.test_console import CSRF, Browser, Clock, signed_in
from zalosim.state import Upload

CODE, CODE2 = commune_code(1), commune_code(2)
OA = oa_id(1)
PDF = b"%PDF-1.4\n% lich tiem chung\n%%EOF\n"
NOT_IMAGE = "không phải ảnh JPEG hay PNG"


@pytest.fixture
async def running(store_url, sim):
    running = await start_service(
        make_settings(store_url, sim, communes=2, notices=quiet_around_now(False)), sim
    )
    running.clock = Clock()
    running.runner.app[CONSOLE].clock = running.clock
    yield running
    await running.runner.cleanup()


def multipart(fields: dict[str, str], **files: tuple[bytes, str, str]) -> aiohttp.FormData:
    form = aiohttp.FormData()
    for k, v in fields.items():
        form.add_field(k, v)
    for name, (content, filename, content_type) in files.items():
        form.add_field(name, content, filename=filename, content_type=content_type)
    return form


async def post_form(b: Browser, path: str, form: aiohttp.FormData) -> tuple[int, str, str]:
    async with b.http.post(b.base + path, data=form, allow_redirects=False) as r:
        return r.status, await r.text(), r.headers.get("Location", "")


async def stored_images(running) -> list[NoticeImage]:
    async with running.services.sm() as s:
        return list((await s.execute(select(NoticeImage))).scalars().all())


def image_messages(sim, user: str) -> list[dict]:
    """The image elements of what ``user`` received from the OA."""
    out = []
    for m in sim.messages(OA, user):
        payload = ((m.body.get("message") or {}).get("attachment") or {}).get("payload") or {}
        for element in payload.get("elements") or []:
            if element.get("media_type") == "image":
                out.append(element)
    return out


async def wait_images(sim, user: str, n: int = 1) -> list[dict]:
    for _ in range(300):
        found = image_messages(sim, user)
        if len(found) >= n:
            return found
        await asyncio.sleep(0.05)
    raise AssertionError(f"{user} received {sim.messages(OA, user)}")


def image_uploads(sim) -> list[Upload]:
    return [u for u in sim.state.uploads.values() if u.kind == "image"]


async def test_console_compose_with_an_image_reaches_the_resident(running):
    sim = running.sim
    await resident(running, "9201")
    officer = await signed_in(running, "lan.vp")
    leader = await signed_in(running, "hung.ct", role="leader")
    neighbour = await signed_in(running, "hoa.xa2", code=CODE2, role="leader")
    try:
        status, html, _r = await officer.get("/console/notices/new")
        assert status == 200 and 'name="image" type="file"' in html
        assert "data-image-preview" in html  # the script shows the chosen image there
        token = CSRF.search(html).group(1)  # type: ignore[union-attr]
        fields = {
            "csrf": token,
            "category": "services",
            "priority": "normal",
            "headline": "Lịch cắt điện thôn Nậm Mòn",
            "body": "Thứ Bảy 8h–11h cắt điện để sửa đường dây.",
            # an address too: residents messaged one by one get the upload; the address stays
            # for the article's cover and CAP
            "image_url": "https://xa.example.gov.vn/anh.png",
        }
        # a PDF named .jpg in the compose form: said, no notice made
        status, html, _loc = await post_form(
            officer,
            "/console/notices/new",
            multipart(fields, image=(PDF, "anh.jpg", "image/jpeg")),
        )
        assert status == 400 and NOT_IMAGE in html, html
        async with running.services.sm() as s:
            assert (await s.execute(select(func.count()).select_from(Notice))).scalar_one() == 0

        status, html, page = await post_form(
            officer,
            "/console/notices/new",
            multipart(fields, image=(JPEG, "anh cat dien.jpg", "image/jpeg")),
        )
        assert status == 303, html
        nid = int(re.search(r"/console/notices/(\d+)\?done=created", page).group(1))  # type: ignore[union-attr]
        [stored] = await stored_images(running)
        assert stored.content == JPEG and stored.content_type == "image/jpeg"
        assert (stored.width, stored.height) == (64, 48)
        async with running.services.sm() as s:
            kept = (await s.get(Notice, nid)).image_url  # type: ignore[union-attr]
            assert kept == "https://xa.example.gov.vn/anh.png"

        # the notice page: the image under the text residents get, and its facts
        status, html, _r = await officer.get(f"/console/notices/{nid}")
        assert status == 200
        assert f'src="/console/notices/{nid}/image"' in html and "JPEG, 64×48" in html
        async with officer.http.get(running.url + f"/console/notices/{nid}/image") as r:
            assert r.status == 200 and await r.read() == JPEG
            assert r.headers["Content-Type"] == "image/jpeg"
            assert r.headers["X-Content-Type-Options"] == "nosniff"
            assert "sandbox" in r.headers["Content-Security-Policy"]

        # another commune's leader: the image's URL and its form are 404s
        ntoken = await neighbour.csrf("/console/notices")
        async with neighbour.http.get(running.url + f"/console/notices/{nid}/image") as r:
            assert r.status == 404 and await r.read() != JPEG
        status, _html, _loc = await post_form(
            neighbour,
            f"/console/notices/{nid}/image",
            multipart({"csrf": ntoken}, image=(PNG, "b.png", "image/png")),
        )
        assert status == 404
        # without the session's CSRF token: refused
        status, _html, _loc = await post_form(
            officer,
            f"/console/notices/{nid}/image",
            multipart({"csrf": "x" * 43}, image=(PNG, "b.png", "image/png")),
        )
        assert status == 403

        # the image form: a PDF renamed .jpg, a picture over 1 MB (within the body limit, and
        # far over it): said in Vietnamese, the stored image kept
        big = JPEG[:-2] + b"\x00" * (MAX_IMAGE_BYTES + 10) + b"\xff\xd9"
        for content, name, said, code in (
            (PDF, "anh.jpg", NOT_IMAGE, 400),
            (b"<svg onload=alert(1)>", "anh.png", NOT_IMAGE, 400),
            (big, "lon.jpg", "Ảnh quá 1 MB", 400),
            (big * 3, "lon.jpg", "Ảnh quá 1 MB", 413),
        ):
            status, html, _loc = await post_form(
                officer,
                f"/console/notices/{nid}/image",
                multipart({"csrf": token}, image=(content, name, "image/jpeg")),
            )
            assert status == code and said in html, (name, status, html[:300])
        [kept] = await stored_images(running)
        assert kept.content == JPEG

        # a new image replaces the last
        status, _html, loc = await post_form(
            officer,
            f"/console/notices/{nid}/image",
            multipart({"csrf": token}, image=(PNG, "ban-do.png", "image/png")),
        )
        assert status == 303 and loc.endswith("?done=image")
        [stored] = await stored_images(running)
        assert stored.content == PNG and stored.content_type == "image/png"
        status, html, _r = await officer.get(loc)
        assert "Đã đính kèm ảnh" in html and "PNG, 64×48" in html

        # submitted, approved: the resident gets the text, then the image Zalo was given
        assert (await officer.post(f"/console/notices/{nid}/submit", {"csrf": token}))[0] == 303
        ltoken = await leader.csrf(f"/console/notices/{nid}")
        assert (await leader.post(f"/console/notices/{nid}/approve", {"csrf": ltoken}))[0] == 303
        [element] = await wait_images(sim, "9201")
        [upload] = image_uploads(sim)
        assert element["attachment_id"] == upload.ref and "url" not in element
        assert upload.sha256 == hashlib.sha256(PNG).hexdigest() and upload.oa_id == OA
        assert upload.content_type == "image/png"
        texts = [m.body["message"].get("text") or "" for m in sim.messages(OA, "9201")]
        assert any(t.startswith("THÔNG BÁO: Lịch cắt điện thôn Nậm Mòn") for t in texts)
        # the upload is kept for the OA: a later send names it without uploading again
        [stored] = await stored_images(running)
        assert stored.zalo_tokens[OA]["token"] == upload.ref
        # once sent, the image form is refused
        status, _html, _loc = await post_form(
            officer,
            f"/console/notices/{nid}/image",
            multipart({"csrf": token}, image=(JPEG, "a.jpg", "image/jpeg")),
        )
        assert status == 403
    finally:
        for b in (officer, leader, neighbour):
            await b.close()


@pytest.fixture
async def desk(running):
    async with aiohttp.ClientSession() as http:
        yield Desk(running, http)


async def put_image(desk: Desk, key: str, notice_id: int, content: bytes, code: str = CODE):
    url = f"{desk.running.url}/api/v1/communes/{code}/notices/{notice_id}/image"
    async with desk.http.put(url, data=content, headers={"Authorization": f"Bearer {key}"}) as r:
        return r.status, await r.json()


async def test_api_upload_tenancy_and_an_expired_attachment_uploaded_again(desk):
    sim = desk.running.sim
    await resident(desk.running, "9301")
    await resident(desk.running, "9302")
    officer, leader = await desk.hire("officer"), await desk.hire("leader")
    other = await desk.hire("officer", code=CODE2)
    _, d = await desk.call(
        officer, "POST", "", {**NOTICE, "image_url": "https://xa.example.gov.vn/a.png"}
    )
    nid = d["id"]

    # refused: not an image whatever its name, over 1 MB, another commune's notice
    status, body = await put_image(desk, officer, nid, PDF)
    assert status == 400 and NOT_IMAGE in body["error"]
    status, body = await put_image(desk, officer, nid, png(rows=b"\x00" * 5))
    assert status == 400 and "Ảnh bị hỏng" in body["error"]
    status, body = await put_image(desk, officer, nid, JPEG + b"\x00" * MAX_IMAGE_BYTES)
    assert status == 413 and "1 MB" in body["error"]
    status, body = await put_image(desk, other, nid, JPEG, code=CODE2)
    assert status == 404
    assert await stored_images(desk.running) == []

    status, body = await put_image(desk, officer, nid, JPEG)
    assert status == 200, body
    assert body == {
        "notice": nid,
        "content_type": "image/jpeg",
        "width": 64,
        "height": 48,
        "size": len(JPEG),
    }
    _, got = await desk.call(officer, "GET", f"/{nid}")
    assert got["image_url"] == "https://xa.example.gov.vn/a.png"  # kept: the article's cover

    # Zalo has forgotten the id we keep (its 7 days passed on its clock, not on ours): the
    # first send is refused with -100, the image is uploaded again once, both residents get it
    stale = Upload("image", OA, "stale-id", "a.jpg", "image/jpeg", len(JPEG), 0)
    stale.created_ms = sim.state.now_ms() - int(timedelta(days=8).total_seconds() * 1000)
    sim.state.uploads[stale.ref] = stale
    async with desk.running.services.sm() as s, s.begin():
        await s.execute(
            update(NoticeImage).values(
                zalo_tokens={OA: {"token": "stale-id", "at": utcnow().isoformat()}}
            )
        )
    await desk.submit_and_approve(leader, nid, submitter=officer)
    await wait_status(desk, leader, nid, "sent")
    fresh = [u for u in image_uploads(sim) if u.ref != "stale-id"]
    assert len(fresh) == 1 and fresh[0].sha256 == hashlib.sha256(JPEG).hexdigest()
    for user in ("9301", "9302"):
        [element] = await wait_images(sim, user)
        assert element["attachment_id"] == fresh[0].ref
    [stored] = await stored_images(desk.running)
    assert stored.zalo_tokens[OA]["token"] == fresh[0].ref


async def test_each_occurrence_of_a_recurring_notice_sends_its_image(desk):
    """The scheduler's job (``NoticeScheduler.spawn``) makes an occurrence; it carries the
    recurring notice's uploaded image, uploaded to Zalo once for both."""
    sim = desk.running.sim
    await resident(desk.running, "9401")
    leader = await desk.hire("leader")
    _, d = await desk.call(leader, "POST", "", dict(NOTICE, recurrence="0 8 25 * *"))
    assert (await put_image(desk, leader, d["id"], PNG))[0] == 200
    await desk.submit_and_approve(leader, d["id"])
    _, got = await desk.call(leader, "GET", f"/{d['id']}")
    assert got["status"] == "recurring"
    child = await desk.running.services.scheduler.spawn(d["id"])
    assert child is not None
    await wait_status(desk, leader, child, "sent")
    [element] = await wait_images(sim, "9401")
    [upload] = image_uploads(sim)
    assert element["attachment_id"] == upload.ref
    assert upload.sha256 == hashlib.sha256(PNG).hexdigest()


def test_the_checks_read_the_content():
    assert check_image(JPEG).content_type == "image/jpeg"
    assert check_image(png(3, 2, colour=0)).width == 3
    for bad in (
        PDF,
        b"GIF89a" + b"\x00" * 20,
        b"",
        JPEG[:200],  # cut short
        PNG[:-12],  # no IEND
        png(rows=b"\x00" * 5),  # fewer pixels than its header says
        png(2, 2, rows=b"\x00" * 100),  # more
        PNG[:30] + bytes([PNG[30] ^ 1]) + PNG[31:],  # a CRC that does not match
        b"\x89PNG\r\n\x1a\n" + chunk(b"IEND", b""),  # no header
        bomb(),  # 3 Mpx claimed, 64 MB of pixels
    ):
        with pytest.raises(ImageError):
            check_image(bad)
    with pytest.raises(TooManyPixels, match="kích thước"):  # a tiny file claiming 50,000 px
        check_image(png(50_000, 1, rows=b""))
    # within the sides but over 24 Mpx (6,000 × 5,000): said as such, the limits named
    with pytest.raises(ImageError, match="8.192 điểm ảnh mỗi chiều và 24 triệu"):
        check_image(png(6000, 5000, rows=b""))
    # a JPEG, whose pixels are never decoded here, may be a phone's 50 Mpx photo; no more
    fifty = check_image(jpeg_claiming(8160, 6120))
    assert (fifty.content_type, fifty.width, fifty.height) == ("image/jpeg", 8160, 6120)
    with pytest.raises(TooManyPixels, match="8.192 điểm ảnh mỗi chiều và 50 triệu") as over:
        check_image(jpeg_claiming(8192, 6200))
    assert over.value.max_pixels == 50_000_000
    with pytest.raises(TooManyPixels, match="8.192 điểm ảnh mỗi chiều"):
        check_image(jpeg_claiming(8200, 1000))  # the side, whatever the total
    # a phone's motion photo: its own data after the JPEG's end marker
    assert check_image(JPEG + b"MotionPhoto_Data" + b"\x00" * 64).content_type == "image/jpeg"
    # no end marker after the scan at all: broken
    with pytest.raises(ImageError):
        check_image(JPEG[: JPEG.rindex(b"\xff\xd9")])


def test_a_bomb_is_inflated_a_piece_past_its_header_never_whole(monkeypatch):
    """A 3-Mpx grey PNG whose pixels inflate to 64 MB: what the checker inflates (counted
    here, as zlib hands it over) stops one 256-KB piece past the 3 MB its header allows."""
    inflated: list[int] = []
    real = zlib.decompressobj

    class Counting:
        def __init__(self) -> None:
            self.inner = real()

        def decompress(self, data: bytes, max_length: int = 0) -> bytes:
            out = self.inner.decompress(data, max_length)
            inflated.append(len(out))
            return out

        def flush(self) -> bytes:
            out = self.inner.flush()
            inflated.append(len(out))
            return out

        def __getattr__(self, name: str) -> object:  # unconsumed_tail, eof
            return getattr(self.inner, name)

    monkeypatch.setattr(zlib, "decompressobj", Counting)
    with pytest.raises(ImageError, match="hỏng"):
        check_image(bomb())
    allowed = 1500 * (1 + 2000)
    assert allowed < sum(inflated) <= allowed + 1 + INFLATE_PIECE
    inflated.clear()
    assert check_image(png(300, 200)).width == 300  # an honest one: inflated exactly
    assert sum(inflated) == 200 * (1 + 300 * 3)


def test_a_jpeg_is_walked_scan_by_scan_to_its_end_marker():
    """Every segment and scan to the end marker: a progressive JPEG of thousands of scans (each
    a decoder's pass over the picture: minutes for one file) is refused past ``MAX_SCANS``;
    the end must be the marker that ends the walk, not an FFD9 anywhere."""
    photo = picture()
    progressive = pillow(photo, "JPEG", progressive=True)
    assert 5 <= len(scans(progressive)) <= 12  # what a real progressive file has
    for real in (
        progressive,
        pillow(photo, "JPEG", progressive=True, optimize=True, icc_profile=b"x" * 100_000),
        pillow(photo, "JPEG", restart_marker_blocks=1),  # FFD0–FFD7 inside the scan
        pillow(photo.convert("L"), "JPEG", progressive=True),
        pillow(photo.convert("CMYK"), "JPEG"),
        many_scans(MAX_SCANS),
        JPEG[:-2] + b"\xff" * 100_000 + JPEG[-2:],  # fill bytes before the end marker
    ):
        assert (check_image(real).width, check_image(real).height) == (64, 48)
    with pytest.raises(BrokenImage):
        check_image(many_scans(MAX_SCANS + 1))
    with pytest.raises(BrokenImage):  # the review's: 10,000 scans of a 4,000 × 3,000 picture
        check_image(many_scans(10_000))
    frame = JPEG.index(b"\xff\xc0")
    sof = JPEG[frame : frame + 19]
    end = JPEG.rindex(b"\xff\xd9")
    for broken in (
        JPEG[:end] + sof + JPEG[end:],  # a second frame after the scan
        JPEG[:end] + b"\xff\xfe\x00\x04\xff\xd9",  # no end marker: an FFD9 in a comment
        JPEG[:end] + b"\xff\xd8" + JPEG[end:],  # a stray start marker
        JPEG[:end] + b"\xff\xfe\x00\x02\xff\xd3" + JPEG[end:],  # a restart outside a scan
        b"\xff\xd8\xff\xd9",  # nothing drawn
    ):
        with pytest.raises(BrokenImage):
            check_image(broken)
    # 12-bit samples: a JPEG phones do not show
    twelve = JPEG[: frame + 4] + b"\x0c" + JPEG[frame + 5 :]
    with pytest.raises(ImageError, match="không phải ảnh JPEG hay PNG"):
        check_image(twelve)
    # bytes after the end are a phone's (motion photo), even ones that look like markers
    assert check_image(JPEG + b"\xff\xd8\xff\xe1junk\xff\xd9").content_type == "image/jpeg"


def test_a_png_is_one_still_picture_with_bounded_metadata():
    """Only what is a still picture: an animated PNG (frames a browser would decode, never
    checked) is refused in words; compressed metadata inflates to 1 MB at most; nothing after
    IEND; no unknown critical chunk; the pixels one run after the palette."""
    with pytest.raises(ImageError, match="Ảnh động") as refused:
        check_image(apng())
    assert not isinstance(refused.value, BrokenImage)
    one = png(1, 1)
    huge_frame = chunk(b"fdAT", struct.pack(">I", 1) + deflated_zeros(64 << 20))
    with pytest.raises(ImageError, match="Ảnh động"):
        check_image(with_chunks(one, huge_frame, before=b"IEND"))
    profile = pillow(picture(), "PNG", icc_profile=b"p" * 200_000)
    assert check_image(profile).width == 64
    info = PngImagePlugin.PngInfo()
    info.add_text("Comment", "ả" * 3000, zip=True)
    info.add_itxt("Description", "đ" * 3000, "vi", "Mô tả", zip=True)
    info.add_itxt("Title", "Ảnh", "vi", "Tiêu đề")
    assert check_image(pillow(picture(), "PNG", pnginfo=info)).width == 64
    for taken in (
        with_chunks(one, chunk(b"iDOT", bytes(28))),  # Apple's screenshots
        with_chunks(one, chunk(b"caBX", b"c2pa manifest")),  # Content Credentials
        pillow(picture().convert("P"), "PNG", transparency=0, interlace=1),
    ):
        assert check_image(taken).width in (1, 64)
    icc_bomb = chunk(b"iCCP", b"icc\0\0" + deflated_zeros(64 << 20))
    text_bomb = chunk(b"zTXt", b"Comment\0\0" + deflated_zeros(4 << 20))
    half = chunk(b"zTXt", b"Comment\0\0" + zlib.compress(bytes(600_000)))
    itxt_bomb = chunk(b"iTXt", b"Title\0\1\0vi\0\0" + deflated_zeros(4 << 20))
    pixels_at = one.index(b"IDAT") - 4
    idat = one[pixels_at:-12]
    for broken in (
        with_chunks(one, icc_bomb),
        with_chunks(one, text_bomb),
        with_chunks(one, itxt_bomb),
        with_chunks(one, half, half),  # 1.2 MB of metadata in all
        one + b"<html><script>alert(1)</script>",  # a page after the end
        with_chunks(one, chunk(b"CgBI", bytes(4))),  # an unknown critical chunk
        with_chunks(one, chunk(b"t3XT", b"")),  # not a chunk's name
        # the pixels split by another chunk; a palette after them; a palette too long
        one[:pixels_at] + idat + chunk(b"tEXt", b"a\0b") + idat + one[-12:],
        with_chunks(one, chunk(b"PLTE", bytes(3 * 257))),
        with_chunks(one, chunk(b"PLTE", bytes(3)), before=b"IEND"),
        png(1, 1, idat=zlib.compress(b"\0" + bytes(3)) + b"extra"),  # after the zlib stream
    ):
        with pytest.raises(BrokenImage):
            check_image(broken)
    assert check_image(with_chunks(one, half)).width == 1


def test_floods_of_segments_or_chunks_stop_at_the_caps(monkeypatch):
    """The checks hold the GIL (a thread does not free the event loop), so no walk is a Python
    loop per byte or unbounded per segment: 5 MB of fill bytes is skipped by ``re``; a file of
    a million empty comments or chunks is refused after ``MAX_JPEG_SEGMENTS`` or
    ``MAX_PNG_CHUNKS`` steps (counted here)."""
    with pytest.raises(BrokenImage):
        check_image(b"\xff\xd8\xff" + b"\xff" * (5 << 20))
    steps = 0
    real_fill = images._FILL

    class Counting:
        def match(self, content: bytes, pos: int) -> object:
            nonlocal steps
            steps += 1
            return real_fill.match(content, pos)

    monkeypatch.setattr(images, "_FILL", Counting())
    with pytest.raises(BrokenImage):
        check_image(b"\xff\xd8" + b"\xff\xfe\x00\x02" * 1_300_000)
    assert steps == MAX_JPEG_SEGMENTS
    steps = 0
    assert check_image(JPEG).width == 64 and steps == 11  # a real one: its 11 markers

    checksums = 0
    real_crc = zlib.crc32

    def counting_crc(data: object, value: int = 0) -> int:
        nonlocal checksums
        checksums += 1
        return real_crc(data, value)  # type: ignore[arg-type]

    one, empty = png(1, 1), chunk(b"tEXt", b"")
    flood = with_chunks(one, empty * 437_000, before=b"IEND")
    full = with_chunks(one, empty * (MAX_PNG_CHUNKS - 3), before=b"IEND")  # IHDR, IDAT, IEND
    monkeypatch.setattr(zlib, "crc32", counting_crc)
    with pytest.raises(BrokenImage):
        check_image(flood)
    assert checksums == 2 * MAX_PNG_CHUNKS  # each chunk's kind, then its body
    assert check_image(full).width == 1
