#!/usr/bin/env python3
"""Build ``data/admin_units/*`` from the ``vietnamadminunits`` package (34-province data, 2025).

Usage (from the repository root)::

    pip install vietnamadminunits==1.0.4
    python scripts/build_admin_units.py [--out data/admin_units] [--check]

Reads the package's new-format table ``admin_units`` (34 provinces / 3,321 commune-level units;
the legacy 63-province table ``admin_units_legacy`` is never used) and writes, deterministically
(rows sorted by code, UTF-8, NFC, LF line endings, no timestamps):

* ``provinces.csv``  – one row per province,
* ``communes.csv``   – one row per commune-level unit (xã / phường / đặc khu),
* ``meta.json``      – source, version, licence, counts, sha256 of each CSV, data corrections,
* ``LICENSE.vietnamadminunits`` – the upstream MIT licence text (required by MIT when copying).

``--check`` regenerates in memory and exits 1 if the files on disk differ (useful in CI).
The bot itself never imports ``vietnamadminunits``: it only reads the generated CSVs.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import io
import json
import sys
import unicodedata
from collections import Counter
from importlib import metadata
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from bot.text import search_key  # noqa: E402

PACKAGE = "vietnamadminunits"
EXPECTED_PACKAGE_VERSION = "1.0.4"
TABLE = "admin_units"  # 34-province table; "admin_units_legacy" is the pre-7/2025 63-province one
DEFAULT_OUT = REPO_ROOT / "data" / "admin_units"

PROVINCE_COLUMNS = [
    "code",
    "name",
    "short_name",
    "type",
    "search_key",
    "short_key",
    "aliases",
    "latitude",
    "longitude",
]
COMMUNE_COLUMNS = [
    "code",
    "name",
    "short_name",
    "type",
    "province_code",
    "province_name",
    "search_key",
    "short_key",
    "latitude",
    "longitude",
]

# Name prefix -> normalised type value written to the CSV.
COMMUNE_TYPES = {"Xã": "xã", "Phường": "phường", "Đặc khu": "đặc khu"}
PROVINCE_TYPES = {"Thành phố": "thành phố", "Tỉnh": "tỉnh"}

# Reference figures (QĐ 19/2025/QĐ-TTg; docs domain-vn.md §6). Differences only warn: the data
# is meant to be replaceable when units change again.
EXPECTED = {"provinces": 34, "units": 3321, "by_type": {"xã": 2621, "phường": 687, "đặc khu": 13}}


def nfc(value: str) -> str:
    return unicodedata.normalize("NFC", value).strip()


def split_type(name: str, types: dict[str, str]) -> tuple[str, str]:
    """``"Xã Bắc Hà"`` -> ``("xã", "Bắc Hà")`` using the longest matching type prefix."""
    for prefix in sorted(types, key=len, reverse=True):
        if name.startswith(prefix + " "):
            return types[prefix], name[len(prefix) + 1 :].strip()
    raise ValueError(f"unrecognised administrative type in name {name!r}")


def fmt_float(value: float | None) -> str:
    return "" if value is None else repr(float(value))


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def to_csv(columns: list[str], rows: list[dict[str, str]]) -> bytes:
    buf = io.StringIO(newline="")
    writer = csv.DictWriter(
        buf,
        fieldnames=columns,
        lineterminator="\n",
        quoting=csv.QUOTE_MINIMAL,
        extrasaction="raise",
    )
    writer.writeheader()
    writer.writerows(rows)
    return buf.getvalue().encode("utf-8")


def load_source() -> tuple[list[dict], dict]:
    try:
        from vietnamadminunits.database import query
    except ImportError as exc:  # pragma: no cover - depends on the environment
        sys.exit(
            f"{PACKAGE} is not installed: pip install {PACKAGE}=={EXPECTED_PACKAGE_VERSION} ({exc})"
        )
    version = metadata.version(PACKAGE)
    if version != EXPECTED_PACKAGE_VERSION:
        print(
            f"warning: {PACKAGE} {version} installed, script written for "
            f"{EXPECTED_PACKAGE_VERSION}; check the output carefully",
            file=sys.stderr,
        )
    rows = query(
        f"SELECT province, provinceShort, provinceCode, provinceLat, provinceLon, provinceAlias, "
        f"ward, wardShort, wardType, wardCode, wardLat, wardLon FROM [{TABLE}]"
    )
    dist = metadata.distribution(PACKAGE)
    licence_text = ""
    db_sha256 = ""
    for f in dist.files or []:
        if f.name.upper().startswith("LICENSE"):
            licence_text = f.read_text(encoding="utf-8")
        if str(f).replace("\\", "/").endswith("vietnamadminunits/data/dataset.db"):
            db_sha256 = sha256_bytes(Path(f.locate()).read_bytes())
    if not licence_text:
        sys.exit(f"could not find the LICENSE file of {PACKAGE}")
    info = {
        "version": version,
        "licence_text": licence_text,
        "db_sha256": db_sha256,
        "home_page": dist.metadata.get("Home-page") or "",
    }
    return rows, info


def build(rows: list[dict], info: dict) -> dict[str, bytes]:
    provinces: dict[str, dict[str, str]] = {}
    communes: dict[str, dict[str, str]] = {}
    corrections: list[dict[str, str]] = []

    for raw in rows:
        r = {k: (nfc(v) if isinstance(v, str) else v) for k, v in raw.items()}
        pcode, code = r["provinceCode"], r["wardCode"]
        if not (pcode and pcode.isdigit() and len(pcode) == 2):
            raise ValueError(f"bad province code {pcode!r} for {r['ward']!r}")
        if not (code and code.isdigit() and len(code) == 5):
            raise ValueError(f"bad commune code {code!r} for {r['ward']!r}")

        ptype, pshort = split_type(r["province"], PROVINCE_TYPES)
        if pshort != r["provinceShort"]:
            raise ValueError(
                f"province short name mismatch: {r['province']!r} vs {r['provinceShort']!r}"
            )
        aliases = json.loads(r["provinceAlias"]) if r["provinceAlias"] else []
        prov = {
            "code": pcode,
            "name": r["province"],
            "short_name": pshort,
            "type": ptype,
            "search_key": search_key(r["province"]),
            "short_key": search_key(pshort),
            "aliases": "|".join(sorted(search_key(a) for a in aliases)),
            "latitude": fmt_float(r["provinceLat"]),
            "longitude": fmt_float(r["provinceLon"]),
        }
        if provinces.setdefault(pcode, prov) != prov:
            raise ValueError(f"inconsistent province rows for code {pcode}")

        # The type is taken from the name prefix: in 1.0.4 the ``wardType`` column contradicts
        # the name for a few units while the name agrees with wardKey, the legacy table and the
        # converter history (see meta.json "corrections").
        ctype, cshort = split_type(r["ward"], COMMUNE_TYPES)
        if cshort != r["wardShort"]:
            raise ValueError(f"commune short name mismatch: {r['ward']!r} vs {r['wardShort']!r}")
        src_type = (r["wardType"] or "").lower()
        if src_type != ctype:
            corrections.append(
                {
                    "code": code,
                    "name": r["ward"],
                    "field": "type",
                    "source_value": r["wardType"],
                    "value": ctype,
                    "reason": "package wardType contradicts the unit name; name prefix used",
                }
            )
        unit = {
            "code": code,
            "name": r["ward"],
            "short_name": cshort,
            "type": ctype,
            "province_code": pcode,
            "province_name": r["province"],
            "search_key": search_key(r["ward"]),
            "short_key": search_key(cshort),
            "latitude": fmt_float(r["wardLat"]),
            "longitude": fmt_float(r["wardLon"]),
        }
        if code in communes and communes[code] != unit:
            raise ValueError(f"duplicate commune code {code} with different data")
        communes[code] = unit

    province_rows = [provinces[c] for c in sorted(provinces)]
    commune_rows = [communes[c] for c in sorted(communes)]
    provinces_csv = to_csv(PROVINCE_COLUMNS, province_rows)
    communes_csv = to_csv(COMMUNE_COLUMNS, commune_rows)

    by_type = Counter(u["type"] for u in commune_rows)
    by_province = Counter(u["province_code"] for u in commune_rows)
    counts = {
        "provinces": len(province_rows),
        "units": len(commune_rows),
        "by_type": {t: by_type.get(t, 0) for t in COMMUNE_TYPES.values()},
        "by_province": {c: by_province[c] for c in sorted(by_province)},
    }
    for key in ("provinces", "units", "by_type"):
        if counts[key] != EXPECTED[key]:
            print(
                f"warning: {key} = {counts[key]}, reference says {EXPECTED[key]}", file=sys.stderr
            )

    meta = {
        "dataset": "vn-admin-units-2025",
        "dataset_version": f"{PACKAGE}-{info['version']}",
        "effective_date": "2025-07-01",
        "legal_basis": "QĐ 19/2025/QĐ-TTg (danh mục và mã số các đơn vị hành chính Việt Nam)",
        "upstream_snapshot_date": "2025-07-18",
        "upstream_snapshot_note": "date of the danhmuchanhchinh.gso.gov.vn extract the package was "
        "built from, as recorded in docs (domain-vn.md §6); the package "
        "itself carries no date",
        "source": {
            "package": PACKAGE,
            "package_version": info["version"],
            "package_url": f"https://pypi.org/project/{PACKAGE}/{info['version']}/",
            "repository": (
                info["home_page"] or "https://github.com/tranngocminhhieu/vietnamadminunits"
            ),
            "table": TABLE,
            "dataset_db_sha256": info["db_sha256"],
            "upstream": ["https://danhmuchanhchinh.gso.gov.vn", "https://sapnhap.bando.com.vn"],
        },
        "licence": {
            "spdx": "MIT",
            "copyright": next(
                (
                    ln.strip()
                    for ln in info["licence_text"].splitlines()
                    if ln.strip().lower().startswith("copyright")
                ),
                "",
            ),
            "file": "LICENSE.vietnamadminunits",
        },
        "counts": counts,
        "files": {
            "provinces.csv": {
                "sha256": sha256_bytes(provinces_csv),
                "rows": len(province_rows),
                "columns": PROVINCE_COLUMNS,
            },
            "communes.csv": {
                "sha256": sha256_bytes(communes_csv),
                "rows": len(commune_rows),
                "columns": COMMUNE_COLUMNS,
            },
        },
        "corrections": sorted(corrections, key=lambda c: c["code"]),
        "generator": "scripts/build_admin_units.py",
        "regenerate": f"pip install {PACKAGE}=={EXPECTED_PACKAGE_VERSION} && "
        "python scripts/build_admin_units.py",
    }
    meta_json = json.dumps(meta, ensure_ascii=False, indent=2, sort_keys=False) + "\n"
    licence = info["licence_text"].replace("\r\n", "\n")
    if not licence.endswith("\n"):
        licence += "\n"
    return {
        "provinces.csv": provinces_csv,
        "communes.csv": communes_csv,
        "meta.json": unicodedata.normalize("NFC", meta_json).encode("utf-8"),
        "LICENSE.vietnamadminunits": licence.encode("utf-8"),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output directory")
    ap.add_argument(
        "--check",
        action="store_true",
        help="do not write; exit 1 if the files on disk are not up to date",
    )
    args = ap.parse_args(argv)

    rows, info = load_source()
    outputs = build(rows, info)

    if args.check:
        stale = [
            n
            for n, data in outputs.items()
            if not (args.out / n).is_file() or (args.out / n).read_bytes() != data
        ]
        for n in stale:
            print(f"out of date: {args.out / n}", file=sys.stderr)
        return 1 if stale else 0

    args.out.mkdir(parents=True, exist_ok=True)
    for name, data in outputs.items():
        (args.out / name).write_bytes(data)
    meta = json.loads(outputs["meta.json"])
    c = meta["counts"]
    print(
        f"wrote {args.out}: {c['provinces']} provinces, {c['units']} units {c['by_type']}; "
        f"{len(meta['corrections'])} correction(s)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
