"""Tests for bot.admin_units and the committed data/admin_units dataset."""

from __future__ import annotations

import csv
import dataclasses
import hashlib
import json
import shutil
import sys
import unicodedata
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:  # the project is not necessarily pip-installed in the venv
    sys.path.insert(0, str(REPO))

from bot import admin_units as au  # noqa: E402
from bot.text import search_key  # noqa: E402

DATA = REPO / "data" / "admin_units"


@pytest.fixture(autouse=True)
def _default_data_dir(monkeypatch):
    monkeypatch.delenv(au.ENV_DATA_DIR, raising=False)
    au.clear_cache()
    yield
    au.clear_cache()


def _rows(name: str) -> list[dict[str, str]]:
    with (DATA / name).open(encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


# ----------------------------------------------------------------- files and metadata


def test_default_data_dir_is_repo_data():
    assert au.data_dir() == DATA


@pytest.mark.parametrize("name", ["provinces.csv", "communes.csv"])
def test_meta_sha256_matches_csv_files(name):
    meta = json.loads((DATA / "meta.json").read_text(encoding="utf-8"))
    digest = hashlib.sha256((DATA / name).read_bytes()).hexdigest()
    assert meta["files"][name]["sha256"] == digest, (
        f"{name} differs from meta.json: regenerate with scripts/build_admin_units.py "
        "instead of editing the CSV by hand"
    )
    assert au.verify_integrity() == {"provinces.csv": True, "communes.csv": True}


def test_hand_edited_csv_is_detected(tmp_path, monkeypatch):
    target = tmp_path / "admin_units"
    shutil.copytree(DATA, target)
    path = target / "communes.csv"
    path.write_bytes(path.read_bytes().replace("Xã Bắc Hà".encode(), "Xã Bắc Hà Mới".encode(), 1))
    monkeypatch.setenv(au.ENV_DATA_DIR, str(tmp_path))
    au.clear_cache()
    assert au.data_dir() == target
    assert au.verify_integrity() == {"provinces.csv": True, "communes.csv": False}
    assert au.get_unit("02839").name == "Xã Bắc Hà Mới"  # env override is honoured


@pytest.mark.parametrize("name", ["provinces.csv", "communes.csv", "meta.json", "README.md"])
def test_files_are_utf8_nfc_lf(name):
    raw = (DATA / name).read_bytes()
    text = raw.decode("utf-8")
    assert not raw.startswith(b"\xef\xbb\xbf")
    assert b"\r" not in raw
    assert text.endswith("\n")
    assert unicodedata.normalize("NFC", text) == text


def test_csv_columns_and_sorted():
    meta = au.dataset_meta()
    for name in ("provinces.csv", "communes.csv"):
        rows = _rows(name)
        assert list(rows[0].keys()) == meta["files"][name]["columns"]
        assert len(rows) == meta["files"][name]["rows"]
        codes = [r["code"] for r in rows]
        assert codes == sorted(codes)


def test_search_keys_use_bot_normalizer():
    for r in _rows("communes.csv") + _rows("provinces.csv"):
        assert r["search_key"] == search_key(r["name"])
        assert r["short_key"] == search_key(r["short_name"])
    assert au.get_unit("00082").search_key == "phuong cua nam"


def test_dataset_meta():
    meta = au.dataset_meta()
    assert meta["source"]["package"] == "vietnamadminunits"
    assert meta["source"]["package_version"] == "1.0.4"
    assert meta["licence"]["spdx"] == "MIT"
    assert "Tran Ngoc Minh Hieu" in meta["licence"]["copyright"]
    assert (DATA / meta["licence"]["file"]).is_file()
    assert meta["counts"]["units"] == 3321
    meta["counts"]["units"] = 0  # a copy: mutating it must not affect the module
    assert au.dataset_meta()["counts"]["units"] == 3321


# ----------------------------------------------------------------- counts


def test_counts():
    c = au.counts()
    assert c["provinces"] == 34
    assert c["units"] == 3321
    assert c["by_type"] == {"xã": 2621, "phường": 687, "đặc khu": 13}
    assert sum(c["by_province"].values()) == 3321
    assert c["by_province"] == au.dataset_meta()["counts"]["by_province"]


@pytest.mark.parametrize(
    "code,name,total,xa,phuong",
    [
        ("15", "Tỉnh Lào Cai", 99, 89, 10),
        ("19", "Tỉnh Thái Nguyên", 92, 77, 15),
        ("66", "Tỉnh Đắk Lắk", 102, 88, 14),
        ("86", "Tỉnh Vĩnh Long", 124, 105, 19),
    ],
)
def test_known_provinces(code, name, total, xa, phuong):
    province = au.get_province(code)
    assert province is not None and province.name == name and province.type == "tỉnh"
    units = au.units_in_province(code)
    assert len(units) == total
    assert sum(u.type == "xã" for u in units) == xa
    assert sum(u.type == "phường" for u in units) == phuong
    assert all(u.province_code == code and u.province_name == name for u in units)


def test_codes_are_five_digits_unique_and_consistent():
    units = au.units()
    codes = [u.code for u in units]
    assert len(codes) == len(set(codes)) == 3321
    assert all(len(c) == 5 and c.isascii() and c.isdigit() for c in codes)
    province_codes = [p.code for p in au.provinces()]
    assert len(province_codes) == len(set(province_codes)) == 34
    assert all(len(c) == 2 and c.isdigit() for c in province_codes)
    assert {u.province_code for u in units} == set(province_codes)
    for u in units:
        assert u.type in au.UNIT_TYPES
        assert u.name == f"{u.type[0].upper()}{u.type[1:]} {u.short_name}"
        assert u.latitude is not None and 8 < u.latitude < 24
        assert u.longitude is not None and 102 < u.longitude < 118


def test_type_corrections_follow_the_name():
    assert au.get_unit("10543").type == "phường"  # Phường Việt Hòa, package says Xã
    assert au.get_unit("31299").type == "xã"  # Xã Phong Điền, package says Phường
    assert {c["code"] for c in au.dataset_meta()["corrections"]} == {
        "10543",
        "11848",
        "31213",
        "31299",
    }


# ----------------------------------------------------------------- lookups


def test_get_unit_padded_and_unpadded():
    unit = au.get_unit("00004")
    assert unit is not None and unit.name == "Phường Ba Đình" and unit.province_code == "01"
    assert au.get_unit("4") == unit
    assert au.get_unit(4) == unit
    assert au.get_unit(" 00004 ") == unit
    for bad in ("99999", "", "abc", "123456", "-4", "٤", None, True, 4.0):
        assert au.get_unit(bad) is None


def test_get_province_padded_and_unpadded():
    assert au.get_province("01").short_name == "Hà Nội"
    assert au.get_province("1") == au.get_province(1) == au.get_province("01")
    assert au.get_province("02") is None
    assert au.units_in_province("99") == []
    assert au.units_in_province("1") == au.units_in_province("01")


def test_dataclasses_are_frozen():
    unit = au.get_unit("02839")
    with pytest.raises(dataclasses.FrozenInstanceError):
        unit.name = "x"  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        au.get_province("15").name = "x"  # type: ignore[misc]
    assert unit.full_name == "Xã Bắc Hà, Tỉnh Lào Cai"


def test_require_unit():
    assert au.require_unit("2839").name == "Xã Bắc Hà"
    with pytest.raises(au.UnknownUnitError) as exc:
        au.require_unit("99999")
    assert isinstance(exc.value, ValueError)
    assert exc.value.code == "99999"
    message = str(exc.value)
    assert "Không tìm thấy" in message and "Unknown" in message and "99999" in message
    with pytest.raises(au.UnknownUnitError):
        au.require_unit("not-a-code")


# ----------------------------------------------------------------- search


@pytest.mark.parametrize(
    "query",
    [
        "bac ha",
        "Bắc Hà",
        "BẮC HÀ",
        "xa bac ha",
        "Xã Bắc Hà",
        unicodedata.normalize("NFD", "Bắc Hà"),
    ],
)
def test_search_bac_ha(query):
    results = au.search(query)
    assert results and results[0].code == "02839" and results[0].name == "Xã Bắc Hà"


@pytest.mark.parametrize("query", ["Cửa Nam", "cua nam", "Phường Cửa Nam", "p. cửa nam"])
def test_search_cua_nam(query):
    results = au.search(query)
    assert results[0].name == "Phường Cửa Nam" and results[0].province_code == "01"


def test_search_ranking_exact_then_prefix_then_substring():
    def tier(unit):
        if unit.short_key == "an phu":
            return 0
        if unit.short_key.startswith("an phu"):
            return 1
        return 2

    results = au.search("an phu", limit=200)
    tiers = [tier(u) for u in results]
    assert tiers == sorted(tiers)
    assert set(tiers) == {0, 1, 2}  # "An Phú", "An Phú Đông"-like, "Xyz An Phú" all present
    assert all("an phu" in u.search_key for u in results)
    assert au.search("ba dinh")[0].name in {"Phường Ba Đình", "Xã Ba Đình"}


def test_search_diacritics_break_ties():
    assert au.search("Mỹ Thọ", province_code="82")[0].name == "Xã Mỹ Thọ"
    assert au.search("Mỹ Tho", province_code="82")[0].name == "Phường Mỹ Tho"
    assert {u.name for u in au.search("my tho", province_code="82")[:2]} == {
        "Xã Mỹ Thọ",
        "Phường Mỹ Tho",
    }


def test_search_province_filter_and_limit():
    everywhere = au.search("tan thanh", limit=100)
    assert len({u.province_code for u in everywhere}) > 5
    in_tay_ninh = au.search("tan thanh", province_code="80", limit=100)
    assert in_tay_ninh and all(u.province_code == "80" for u in in_tay_ninh)
    assert len(au.search("tan", limit=3)) == 3
    assert au.search("tan thanh", province_code="02") == []
    assert au.search("") == [] and au.search("   ") == [] and au.search("bac ha", limit=0) == []
    assert au.search("khong co xa nao ten nay") == []


def test_search_with_province_after_comma():
    results = au.search("Tân Thành, Tây Ninh", limit=100)
    assert results and all(u.province_code == "80" for u in results)
    assert au.search("cua nam, TP Hà Nội")[0].code == "00082"


def test_search_ignores_punctuation():
    assert au.search("cu mgar")[0].name == "Xã Cư M'gar"
    assert au.search("Chân Mây Lăng Cô")[0].name == "Xã Chân Mây - Lăng Cô"
    assert au.search("dac khu phu quoc")[0].type == "đặc khu"


def test_search_provinces():
    assert au.search_provinces("hcm")[0].code == "79"
    assert au.search_provinces("TP. Hồ Chí Minh")[0].code == "79"
    assert au.search_provinces("lao cai")[0].code == "15"
    assert au.search_provinces("Đắk Lắk")[0].code == "66"
    assert au.search_provinces("") == []
