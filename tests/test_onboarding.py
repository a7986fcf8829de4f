"""`bot tenants import FILE`: a province's communes, villages and staff from one CSV or XLSX,
through the CLI's main entry on a temporary config.yml and the test databases (SQLite and
PostgreSQL): what would change, --dry-run, idempotence, bad rows, and a failure during the
apply — in every failing case neither config.yml nor the store changes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy import func, select

from bot import cli, facts_store
from bot.store.db import create_engine, sessionmaker
from bot.store.models import Commune, Staff, StaffInvitation, StaffKey, Village
from tests.helpers import APP_ID, APP_SECRET, run_in_thread, truncate_all

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "data" / "examples" / "onboarding-lao-cai.csv"

CONFIG = """\
# Onboarding test configuration (this comment must survive an import)
service:
  secret_key: test-secret-onboarding
database:
  url: {url}
zalo:
  apps:
    - app_id: "{app_id}"
      app_secret: {app_secret}
communes:
  - code: "02839"
    name: Xã Bắc Hà
    province_code: "15"
    office_hours:
      - {{days: mon-fri, open: "07:30", close: "11:30"}}
    address: UBND xã Bắc Hà
    phone: "0214 3880 123"
    villages: [Nậm Mòn, Na Hối Tày, Bản Phố]
    offices:   # the desks, written by hand
      - {{code: vanphong, name: Văn phòng HĐND và UBND}}
      - {{code: diachinh, name: Địa chính - Xây dựng}}
"""


@pytest.fixture(params=["sqlite", "postgresql"])
def province(request, tmp_path) -> Path:
    """A configuration (Xã Bắc Hà, Lào Cai) on a fresh, migrated store."""
    if request.param == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path}/bot.db"
    else:
        url = request.getfixturevalue("pg_database")
        run_in_thread(truncate_all(url))
    path = tmp_path / "config.yml"
    path.write_text(CONFIG.format(url=url, app_id=APP_ID, app_secret=APP_SECRET), encoding="utf-8")
    assert cli.main(["--config", str(path), "db", "upgrade"]) == 0
    return path


def bot(capsys, config: Path, *args: str) -> tuple[int, str, str]:
    capsys.readouterr()
    code = cli.main(["--config", str(config), "tenants", "import", *args])
    out, err = capsys.readouterr()
    return code, out, err


def store_state(config: Path) -> dict[str, Any]:
    """What the store holds that an import may change: counts, and every staff member's and
    village's fields."""
    url = yaml.safe_load(config.read_text(encoding="utf-8"))["database"]["url"]

    async def read() -> dict[str, Any]:
        engine = create_engine(url)
        try:
            async with sessionmaker(engine)() as s:
                state: dict[str, Any] = {}
                for model in (Commune, Village, Staff, StaffKey, StaffInvitation):
                    state[model.__name__] = await s.scalar(select(func.count()).select_from(model))
                state["staff"] = sorted(
                    (p.id, p.name, p.role, p.office, p.village_id, p.zalo_user_id, p.phone, p.login)
                    for p in (await s.execute(select(Staff))).scalars()
                )
                state["villages"] = sorted(
                    (v.id, v.commune_id, v.name, v.kind)
                    for v in (await s.execute(select(Village))).scalars()
                )
                state["communes"] = sorted(
                    (c.code, c.name, c.active) for c in (await s.execute(select(Commune))).scalars()
                )
                return state
        finally:
            await engine.dispose()

    return run_in_thread(read())


def test_csv_dry_run_apply_and_second_run(province, capsys, tmp_path):
    before_text, before_store = province.read_bytes(), store_state(province)

    code, out, err = bot(capsys, province, str(EXAMPLE), "--dry-run")
    assert code == 0, err
    assert "Tỉnh Lào Cai (15): 3 commune(s) in the file" in out
    assert "communes added (2):" in out and "+ 02680 Xã Hợp Thành" in out
    assert "~ 02839 Xã Bắc Hà / Nậm Mòn: households - → 112" in out
    assert "staff added (5):" in out and "Lò Văn Cường (propagandist, village Thôn Cóc" in out
    assert "dry run: nothing was written" in out and "API key" not in out
    assert province.read_bytes() == before_text and store_state(province) == before_store

    code, out, err = bot(capsys, province, str(EXAMPLE))
    assert code == 0, err
    assert out.count("API key (shown once") == 5  # as `bot staff add` says it, once each
    assert out.count("/console/invite/") == 2  # the two with a login get their link
    text = province.read_text(encoding="utf-8")
    assert "# Onboarding test configuration" in text and "# the desks, written by hand" in text
    config = yaml.safe_load(text)
    codes = [c["code"] for c in config["communes"]]
    assert codes == ["02839", "02680", "02683"]
    bac_ha = config["communes"][0]
    assert {"name": "Nậm Mòn", "households": 112} in bac_ha["villages"]
    assert "Bản Phố" in bac_ha["villages"]  # a village the file does not name stays
    hop_thanh = config["communes"][1]
    assert hop_thanh["name"] == "Xã Hợp Thành" and hop_thanh["province_code"] == "15"
    assert hop_thanh["phone"] == "0214 385 1200"
    state = store_state(province)
    assert state["Commune"] == 3 and state["Staff"] == 5 and state["StaffKey"] == 5
    assert state["StaffInvitation"] == 2
    people = {p[1]: p for p in state["staff"]}
    assert people["Nguyễn Văn An"][2:] == (
        "leader",
        None,
        None,
        "100000000101",
        "0912000101",
        "an.nv",
    )
    assert people["Trần Thị Bình"][3] == "vanphong"
    coc = next(v for v in state["villages"] if v[2] == "Thôn Cóc")
    assert people["Lò Văn Cường"][4] == coc[0]

    after_text = province.read_bytes()
    capsys.readouterr()  # the brief's form: `bot tenants import FILE --config PATH`
    code = cli.main(["tenants", "import", str(EXAMPLE), "--config", str(province)])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert "nothing to change" in out and "API key" not in out and "invite" not in out
    assert province.read_bytes() == after_text and store_state(province) == state


def test_changes_are_listed_and_applied_in_place(province, capsys, tmp_path):
    """A renamed village keeps its row (its staff with it), households and an officer's
    office change, an existing staff member's secrets are never printed again."""
    first = tmp_path / "first.csv"
    first.write_text(
        "loai,ma xa,thon,so ho,ho ten,vai tro,bo phan,zalo id\n"
        "thon,02839,Bản Phố,40,,,,\n"
        "can bo,02839,Bản Phố,,Lù Thị Mai,tuyên truyền viên,,7001\n"
        "can bo,02839,,,Hà Văn Sơn,cán bộ,vanphong,7002\n",
        encoding="utf-8",
    )
    assert bot(capsys, province, str(first))[0] == 0
    before = store_state(province)
    second = tmp_path / "second.csv"
    second.write_text(
        "loai,ma xa,thon,ten cu,so ho,ho ten,vai tro,bo phan,zalo id\n"
        "thon,02839,Bản Phố Mới,Bản Phố,45,,,,\n"
        "can bo,02839,Bản Phố Mới,,,Lù Thị Mai,tuyên truyền viên,,7001\n"
        "can bo,02839,,,,Hà Văn Sơn,cán bộ,diachinh,7002\n",
        encoding="utf-8",
    )
    code, out, err = bot(capsys, province, str(second))
    assert code == 0, err
    assert "villages renamed (1):\n  ~ 02839 Xã Bắc Hà / Bản Phố → Bản Phố Mới" in out
    assert "~ 02839 Xã Bắc Hà / Bản Phố Mới: households 40 → 45" in out
    assert "staff changed (1):" in out and "office vanphong → diachinh" in out
    assert "API key" not in out and "staff added" not in out
    after = store_state(province)
    old = next(v for v in before["villages"] if v[2] == "Bản Phố")
    assert (old[0], old[1], "Bản Phố Mới", old[3]) in after["villages"]
    assert after["Village"] == before["Village"]
    mai = next(p for p in after["staff"] if p[1] == "Lù Thị Mai")
    assert mai[4] == old[0]
    assert next(p for p in after["staff"] if p[1] == "Hà Văn Sơn")[3] == "diachinh"
    assert bot(capsys, province, str(second))[1].strip().endswith("nothing to change")


def in_store(config: Path, work):  # type: ignore[no-untyped-def]
    """``work(session, commune id of 02839)`` in one transaction on the configuration's store."""
    url = yaml.safe_load(config.read_text(encoding="utf-8"))["database"]["url"]

    async def run():  # type: ignore[no-untyped-def]
        engine = create_engine(url)
        try:
            async with sessionmaker(engine)() as s, s.begin():
                cid = (
                    await s.execute(select(Commune.id).where(Commune.code == "02839"))
                ).scalar_one()
                return await work(s, cid)
        finally:
            await engine.dispose()

    return run_in_thread(run())


def console_rename(config: Path, old: str, new: str) -> None:
    """What the console's "Thông tin xã" page saves when staff rename a village of 02839."""

    async def work(s, cid):  # type: ignore[no-untyped-def]
        renamed = dict((await facts_store.locked_edits(s, cid)).get("villages.renamed") or {})
        renamed[old] = new
        await facts_store.save(s, cid, {"villages.renamed": renamed}, None, "test")
        await facts_store.place_village(s, cid, new, "thôn", was=old)

    in_store(config, work)


def console_add(config: Path, name: str, kind: str = "thôn") -> None:
    """… and when they add one."""

    async def work(s, cid):  # type: ignore[no-untyped-def]
        added = list((await facts_store.locked_edits(s, cid)).get("villages.added") or [])
        await facts_store.save(
            s, cid, {"villages.added": [*added, {"name": name, "kind": kind}]}, None, "test"
        )
        await facts_store.place_village(s, cid, name, kind)

    in_store(config, work)


def console_edit(config: Path, changes: dict) -> None:
    """… and any other fact they save."""

    async def work(s, cid):  # type: ignore[no-untyped-def]
        await facts_store.save(s, cid, changes, None, "test")

    in_store(config, work)


def as_residents_see(config: Path) -> tuple[list[str], dict, list[tuple[int, str]]]:
    """02839's villages as answers read them (config.yml + the console's edits), the console's
    edits of villages, and the store's village rows."""
    from bot.config import load_settings

    commune = load_settings(config).commune("02839")

    async def work(s, cid):  # type: ignore[no-untyped-def]
        data = await facts_store.locked_edits(s, cid)
        rows = (await s.execute(select(Village).where(Village.commune_id == cid))).scalars()
        return (
            [v.name for v in facts_store.village_list(commune, data)],
            {k: v for k, v in data.items() if k.startswith("villages.") and v},
            sorted((v.id, v.name) for v in rows),
        )

    return in_store(config, work)


def csv_file(tmp_path: Path, name: str, text: str) -> str:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return str(path)


def test_a_village_renamed_in_the_console_is_the_same_village(province, capsys, tmp_path):
    """Staff renamed "Bản Phố" to "Bản Phố Mới" in the console (config.yml keeps "Bản Phố"):
    a file naming it by its name now changes that village — not a second one beside it — its
    staff rows find it, a file kept from before renames nothing; a rename from either name
    (tên cũ) renames its row and config.yml carries it, the console's rename folded in — so
    renaming it back later leaves one row, under the name the file gave."""
    first = csv_file(tmp_path, "first.csv", "loai,ma xa,thon,so ho\nthon,02839,Bản Phố,40\n")
    assert bot(capsys, province, first)[0] == 0
    console_rename(province, "Bản Phố", "Bản Phố Mới")
    names, edits, rows = as_residents_see(province)
    row = next(i for i, n in rows if n == "Bản Phố Mới")

    now = csv_file(
        tmp_path,
        "now.csv",
        "loai,ma xa,thon,so ho,ho ten,vai tro,zalo id\n"
        "thon,02839,Bản Phố Mới,45,,,\n"
        "can bo,02839,Bản Phố Mới,,Lù Thị Mai,tuyên truyền viên,7001\n",
    )
    code, out, err = bot(capsys, province, now)
    assert code == 0, err
    assert "villages added" not in out and "villages renamed" not in out, out
    assert "~ 02839 Xã Bắc Hà / Bản Phố Mới: households 40 → 45" in out
    assert as_residents_see(province) == (names, edits, rows)  # the same villages
    mai = next(p for p in store_state(province)["staff"] if p[1] == "Lù Thị Mai")
    assert mai[4] == row  # on the village staff renamed
    assert bot(capsys, province, now)[1].strip().endswith("nothing to change")
    _, out, _ = bot(capsys, province, first)  # a file from before the rename
    assert "households 45 → 40" in out
    assert "villages renamed" not in out and "villages added" not in out
    assert as_residents_see(province) == (names, edits, rows)

    again = "loai,ma xa,thon,ten cu\nthon,02839,{},{}\n"
    code, out, err = bot(
        capsys, province, csv_file(tmp_path, "a.csv", again.format("Bản Phố Đông", "Bản Phố Mới"))
    )
    assert code == 0, err
    assert "~ 02839 Xã Bắc Hà / Bản Phố Mới → Bản Phố Đông" in out
    names, edits, rows = as_residents_see(province)
    assert "Bản Phố Đông" in names and "Bản Phố Mới" not in names and edits == {}
    assert (row, "Bản Phố Đông") in rows and len(rows) == 3
    assert "Bản Phố Đông" in province.read_text(encoding="utf-8")

    # and back to config's first name: one row still, no console rename left to bring the
    # other name back
    back = csv_file(tmp_path, "b.csv", again.format("Bản Phố", "Bản Phố Đông"))
    assert bot(capsys, province, back)[0] == 0
    names, edits, rows = as_residents_see(province)
    assert "Bản Phố" in names and edits == {} and (row, "Bản Phố") in rows and len(rows) == 3
    assert bot(capsys, province, back)[1].strip().endswith("nothing to change")


def test_renamed_back_to_configs_name_with_ten_cu(province, capsys, tmp_path):
    """The console renamed "Bản Phố" to "Bản Phố Mới"; a file saying thôn "Bản Phố", tên cũ
    "Bản Phố Mới" renames it back (config's name matched alone would change nothing)."""
    assert (
        bot(
            capsys,
            province,
            csv_file(tmp_path, "0.csv", "loai,ma xa,thon,so ho\nthon,02839,Bản Phố,40\n"),
        )[0]
        == 0
    )
    console_rename(province, "Bản Phố", "Bản Phố Mới")
    _, _, rows = as_residents_see(province)
    row = next(i for i, n in rows if n == "Bản Phố Mới")
    back = csv_file(tmp_path, "1.csv", "loai,ma xa,thon,ten cu\nthon,02839,Bản Phố,Bản Phố Mới\n")
    code, out, err = bot(capsys, province, back)
    assert code == 0, err
    assert "~ 02839 Xã Bắc Hà / Bản Phố Mới → Bản Phố" in out
    names, edits, rows = as_residents_see(province)
    assert "Bản Phố" in names and "Bản Phố Mới" not in names and edits == {}
    assert (row, "Bản Phố") in rows
    assert bot(capsys, province, back)[1].strip().endswith("nothing to change")


def test_a_name_given_again_in_the_console_means_the_village_called_so_now(
    province, capsys, tmp_path
):
    """The console renamed "Nậm Mòn" to "Nậm Mòn A" and then added a new "Nậm Mòn": a file's
    "Nậm Mòn" — its households and its propagandist — is the new village, not config.yml's
    old entry; config.yml takes the new village over and the renamed one under its name now."""
    assert (
        bot(
            capsys,
            province,
            csv_file(tmp_path, "0.csv", "loai,ma xa,thon,so ho\nthon,02839,Nậm Mòn,50\n"),
        )[0]
        == 0
    )
    console_rename(province, "Nậm Mòn", "Nậm Mòn A")
    console_add(province, "Nậm Mòn")
    _, _, rows = as_residents_see(province)
    renamed = next(i for i, n in rows if n == "Nậm Mòn A")
    added = next(i for i, n in rows if n == "Nậm Mòn")
    file = csv_file(
        tmp_path,
        "1.csv",
        "loai,ma xa,thon,so ho,ho ten,vai tro,zalo id\n"
        "thon,02839,Nậm Mòn,77,,,\n"
        "can bo,02839,Nậm Mòn,,Lò Văn Pao,tuyên truyền viên,7009\n",
    )
    code, out, err = bot(capsys, province, file)
    assert code == 0, err
    assert "+ 02839 Xã Bắc Hà / Nậm Mòn (added in the console)" in out
    pao = next(p for p in store_state(province)["staff"] if p[1] == "Lò Văn Pao")
    assert pao[4] == added
    names, edits, rows = as_residents_see(province)
    assert names.count("Nậm Mòn") == 1 and "Nậm Mòn A" in names and edits == {}
    assert (renamed, "Nậm Mòn A") in rows and (added, "Nậm Mòn") in rows
    raw = yaml.safe_load(province.read_text(encoding="utf-8"))["communes"][0]["villages"]
    assert {"name": "Nậm Mòn A", "households": 50} in raw
    assert {"name": "Nậm Mòn", "households": 77} in raw
    assert bot(capsys, province, file)[1].strip().endswith("nothing to change")


def test_a_renamed_village_takes_its_console_facts_and_an_added_one_its_kind(
    province, capsys, tmp_path
):
    """The head staff gave "Bản Phố Mới" in the console follows it when the file renames it;
    "Bản Sín", a bản added in the console, stays a bản when the file gives it households."""
    assert (
        bot(
            capsys,
            province,
            csv_file(tmp_path, "0.csv", "loai,ma xa,thon,so ho\nthon,02839,Bản Phố,40\n"),
        )[0]
        == 0
    )
    console_rename(province, "Bản Phố", "Bản Phố Mới")
    head = {"name": "Ông Sùng A Páo", "phone": "0912 345 678"}
    console_edit(province, {"village.Bản Phố Mới.head": head})
    console_add(province, "Bản Sín", kind="bản")
    file = csv_file(
        tmp_path,
        "1.csv",
        "loai,ma xa,thon,ten cu,so ho\nthon,02839,Bản Phố Đông,Bản Phố Mới,\nthon,02839,Bản Sín,,30\n",
    )
    code, out, err = bot(capsys, province, file)
    assert code == 0, err
    assert "was edited in the console" not in err  # nothing left behind to warn of
    names, edits, rows = as_residents_see(province)
    assert edits == {}

    async def facts(s, cid):  # type: ignore[no-untyped-def]
        return await facts_store.locked_edits(s, cid)

    data = in_store(province, facts)
    assert data.get("village.Bản Phố Đông.head") == head
    assert not any(k.startswith("village.Bản Phố Mới.") for k in data)
    raw = yaml.safe_load(province.read_text(encoding="utf-8"))["communes"][0]["villages"]
    assert {"name": "Bản Sín", "kind": "bản", "households": 30} in raw
    kinds = {v[2]: v[3] for v in store_state(province)["villages"]}
    assert kinds["Bản Sín"] == "bản"
    assert bot(capsys, province, file)[1].strip().endswith("nothing to change")


def plan_of(tmp_path: Path, text: str, console: dict | None = None, routing=None):  # type: ignore[no-untyped-def]
    """What the file would change against CONFIG (plus ``routing``) and the console's edits."""
    from bot import onboarding

    raw = yaml.safe_load(CONFIG.format(url="sqlite+aiosqlite://", app_id=APP_ID, app_secret="x"))
    if routing:
        raw["communes"][0]["routing"] = routing
    rows = onboarding.read(Path(csv_file(tmp_path, "plan.csv", text)))
    return onboarding.plan_config(rows, raw, console={"02839": console or {}})


def problems_of(tmp_path: Path, text: str, console: dict | None = None) -> list[str]:
    from bot import onboarding

    with pytest.raises(onboarding.ImportFileError) as refused:
        plan_of(tmp_path, text, console)
    return refused.value.problems


RENAMED = {"villages.renamed": {"Bản Phố": "Bản Phố Mới"}}


def test_village_rows_that_contradict_each_other_are_refused(tmp_path):
    """Two rows of one file for one village (under its two names, or a rename chained on a
    rename), and a tên cũ that names another village than the one thôn names, are refused."""
    head = "loai,ma xa,thon,ten cu,so ho\n"
    two = problems_of(
        tmp_path, head + "thon,02839,Bản Phố Mới,,10\nthon,02839,Bản Phố,,20\n", RENAMED
    )
    assert len(two) == 1 and "the same village of 02839 as" in two[0]
    chain = problems_of(tmp_path, head + "thon,02839,B1,Bản Phố,\nthon,02839,B2,B1,\n")
    assert len(chain) == 1 and "the same village" in chain[0]
    other = problems_of(tmp_path, head + "thon,02839,bản phố mới,Nậm Mòn,\n", RENAMED)
    assert len(other) == 1 and "is the name of another village" in other[0]


def test_a_file_from_before_two_renames_still_finds_its_village(tmp_path):
    """The file renamed "Bản Phố" to "Bản Phố Đông" (config.yml says so since), then staff
    renamed it "Bản Phố Tây": the same file again renames nothing and is not refused; a
    case-only console rename is not undone by a file spelled as config.yml."""
    raw_renamed = {"villages.renamed": {"Bản Phố": "Bản Phố Tây"}}
    # config.yml after the first import is CONFIG with Bản Phố Đông: stand in with the console
    plan = plan_of(
        tmp_path,
        "loai,ma xa,thon,ten cu\nthon,02839,Bản Phố,Bản Phố Cũ\n",
        raw_renamed,
    )
    assert plan.empty and not plan.renames
    plan = plan_of(
        tmp_path,
        "loai,ma xa,thon,so ho\nthon,02839,Bản Phố,9\n",
        {"villages.renamed": {"Bản Phố": "BẢN PHỐ"}},
    )
    assert not plan.renames and plan.villages_changed  # the households only


def test_routing_follows_a_village_config_yml_renames(tmp_path):
    """A routing rule names config's village: it follows the file's rename, and the fold of a
    console rename, instead of being refused or moved onto another village."""
    rule = [{"villages": ["Bản Phố"], "office": "diachinh"}]
    plan = plan_of(
        tmp_path, "loai,ma xa,thon,ten cu\nthon,02839,Bản Phố Đông,Bản Phố\n", routing=rule
    )
    assert plan.config["communes"][0]["routing"][0]["villages"] == ["Bản Phố Đông"]
    added = {**RENAMED, "villages.added": [{"name": "Bản Phố", "kind": "thôn"}]}
    plan = plan_of(tmp_path, "loai,ma xa,thon,so ho\nthon,02839,Bản Phố,7\n", added, routing=rule)
    commune = plan.config["communes"][0]
    assert commune["routing"][0]["villages"] == ["Bản Phố Mới"]  # still the renamed village
    assert {"name": "Bản Phố", "households": 7} in commune["villages"]
    assert "Bản Phố Mới" in commune["villages"]


def test_xlsx_one_sheet_per_kind(province, capsys, tmp_path):
    """Sheets named with or without diacritics, headers likewise; numbers as Excel keeps them
    (a code 2680, a phone without its leading 0)."""
    import openpyxl

    book = openpyxl.Workbook()
    notes = book.active
    notes.title = "Huong dan"  # an instructions sheet: not read
    notes.append(["Điền mỗi xã một dòng"])
    communes = book.create_sheet("Xã")
    communes.append(["Mã xã", "Tên xã", "Tỉnh", "Điện thoại", "Địa chỉ", "OA id"])
    communes.append([2680, "Hợp Thành", "Tỉnh Lào Cai", 2143851200, "UBND xã Hợp Thành", None])
    communes.append(["02839", "Xa Bac Ha", "15", None, None, None])
    villages = book.create_sheet("Thon")
    villages.append(["Ma xa", "Ten thon", "Loai thon", "So ho"])
    villages.append([2680, "Bản Cóc", "ban", 140])
    villages.append([2680, "Tổ dân phố 1", "to dan pho", 210.0])
    staff = book.create_sheet("Cán bộ")
    staff.append(["Mã xã", "Họ và tên", "Vai trò", "Thôn", "Zalo id", "Số điện thoại", "Đăng nhập"])
    staff.append([2680, "Nguyễn Văn An", "Lãnh đạo", None, 100000000101, 912000101, "An.NV"])
    staff.append([2680, "Lò Văn Cường", "TTV", "ban coc", 100000000103, None, None])
    path = tmp_path / "lao-cai.xlsx"
    book.save(path)

    code, out, err = bot(capsys, province, str(path))
    assert code == 0, err
    assert "+ 02680 Xã Hợp Thành: phone 0214 385 1200" in out
    assert "+ 02680 Xã Hợp Thành / Bản Cóc (140 households)" in out
    assert "communes changed" not in out  # Bắc Hà named as the national list has it
    config = yaml.safe_load(province.read_text(encoding="utf-8"))
    hop_thanh = config["communes"][1]
    assert hop_thanh["villages"] == [
        {"name": "Bản Cóc", "kind": "bản", "households": 140},
        {"name": "Tổ dân phố 1", "kind": "tổ dân phố", "households": 210},
    ]
    people = {p[1]: p for p in store_state(province)["staff"]}
    assert people["Nguyễn Văn An"][5:] == ("100000000101", "0912000101", "an.nv")
    assert people["Lò Văn Cường"][2] == "propagandist" and people["Lò Văn Cường"][4]
    assert bot(capsys, province, str(path))[1].strip().endswith("nothing to change")


BAD_ROWS = {
    "unknown code": ("xa,99998,,,0214 3851 200,,,,", "row 3: 99998 is not a commune code"),
    "name of another unit": (
        "xa,02683,Xã Hợp Thành,,0214 3851 200,,,,",
        "row 3: 02683 is Xã Bát Xát in the national list, not 'Xã Hợp Thành'",
    ),
    "another province": (
        "xa,00004,,,0214 3851 200,,,,",
        "row 3: 00004 Phường Ba Đình is in Thành phố Hà Nội; the file is for Tỉnh Lào Cai",
    ),
    "province column wrong": (
        "xa,02683,,Hà Nội,0214 3851 200,,,,",
        "row 3: 02683 Xã Bát Xát is in Tỉnh Lào Cai, not Thành phố Hà Nội",
    ),
    "bad phone": ("xa,02683,,,0123,,,,", "row 3: phone '0123' is not a Vietnamese phone"),
    "staff in an unknown village": (
        "can bo,02680,,,,Thôn Không Có,,Lò Văn A,tuyên truyền viên",
        "row 3: thôn 'Thôn Không Có' is not a village of 02680 Xã Hợp Thành",
    ),
    "unknown role": ("can bo,02680,,,,,,Lò Văn A,giám đốc", "row 3: vai trò 'giám đốc'"),
    "households not whole": (  # 12.5 was read as 125 households
        "thon,02680,,,,Thôn Giang,12.5,,",
        "row 3: số hộ '12.5' is not a whole number",
    ),
    "duplicate commune": (
        "xa,02680,,,0214 3851 200,,,,",
        "row 3: commune 02680 is already on row 2",
    ),
}


@pytest.mark.parametrize("case", list(BAD_ROWS))
def test_a_bad_row_changes_nothing(province, capsys, tmp_path, case):
    row, said = BAD_ROWS[case]
    path = tmp_path / "bad.csv"
    path.write_text(
        "kind,ma xa,ten xa,tinh,dien thoai,thon,so ho,ho ten,vai tro\n"
        "xa,02680,Xã Hợp Thành,Lào Cai,0214 3851 200,,,,\n"
        f"{row}\n"
        "thon,02680,,,,Thôn Cóc,140,,\n"
        "can bo,02680,,,0912 000 101,,,Nguyễn Văn An,lãnh đạo\n",
        encoding="utf-8",
    )
    before_text, before_store = province.read_bytes(), store_state(province)
    for args in ((str(path), "--dry-run"), (str(path),)):
        code, out, err = bot(capsys, province, *args)
        assert code == 2 and said in err and "nothing was changed" in err, (code, out, err)
        assert "API key" not in out
        assert province.read_bytes() == before_text and store_state(province) == before_store


@pytest.mark.parametrize("where", ["config write", "commit"])
def test_a_failure_during_apply_leaves_both_unchanged(province, capsys, monkeypatch, where):
    """The config write refused (before the commit: the transaction rolls back), or the commit
    refused after config.yml was replaced (the old bytes are put back)."""
    import os

    from sqlalchemy.ext.asyncio import AsyncSession

    from bot import onboarding

    before_text, before_store = province.read_bytes(), store_state(province)
    if where == "config write":

        def refuse(*args: Any, **kwargs: Any) -> None:
            raise OSError("disk full")

        monkeypatch.setattr(onboarding.os, "replace", refuse)
    else:
        replaced: list[str] = []
        real_replace = os.replace

        def spy(src: Any, dst: Any) -> None:
            replaced.append(str(dst))
            real_replace(src, dst)

        async def refuse_commit(self: AsyncSession) -> None:
            raise RuntimeError("the database went away")

        monkeypatch.setattr(onboarding.os, "replace", spy)
        monkeypatch.setattr(AsyncSession, "commit", refuse_commit)
    code, out, err = bot(capsys, province, str(EXAMPLE))
    monkeypatch.undo()
    assert code == 1 and "nothing was changed" in err, (out, err)
    assert "API key" not in out and "/console/invite/" not in out
    if where == "commit":
        assert replaced == [str(province)] * 2  # written, then the old bytes put back
    assert province.read_bytes() == before_text
    assert store_state(province) == before_store
    assert not [p for p in province.parent.iterdir() if p.name.endswith(".tmp")]
    # and the same file then goes through
    assert bot(capsys, province, str(EXAMPLE))[0] == 0


def test_a_fact_edited_in_the_console_is_said(province, capsys, tmp_path):
    """The console's edit of the commune's phone still wins over config.yml: the import says
    so instead of pretending the new phone is what residents will be given."""
    from bot import facts_store

    url = yaml.safe_load(province.read_text(encoding="utf-8"))["database"]["url"]
    assert cli.main(["--config", str(province), "tenants", "list"]) == 0
    assert bot(capsys, province, str(EXAMPLE))[0] == 0  # Bắc Hà mirrored

    async def edit() -> None:
        engine = create_engine(url)
        try:
            async with sessionmaker(engine)() as s, s.begin():
                commune_id = await s.scalar(select(Commune.id).where(Commune.code == "02839"))
                await facts_store.save(s, commune_id, {"commune.phone": "0214 3880 999"}, None, "t")
        finally:
            await engine.dispose()

    run_in_thread(edit())
    path = tmp_path / "phone.csv"
    path.write_text("loai,ma xa,dien thoai\nxa,02839,0214 3880 777\n", encoding="utf-8")
    code, out, err = bot(capsys, province, str(path))
    assert code == 0, err
    assert "~ 02839 Xã Bắc Hà: phone 0214 3880 123 → 0214 388 0777" in out
    assert "02839: commune.phone was edited in the console" in err


def test_rows_of_a_configured_commune_of_another_province_are_refused(province, capsys, tmp_path):
    """One file per province for every kind of row: a Đắk Lắk file cannot add a village or a
    leader (with a console login) to Lào Cai's configured Xã Bắc Hà — the commune rows alone
    were checked before. Thousands in households (1.234) are still read."""
    path = tmp_path / "mixed.csv"
    path.write_text(
        "kind,ma xa,ten xa,tinh,dien thoai,thon,so ho,ho ten,vai tro,dang nhap\n"
        "xa,24235,Xã Buôn Đôn,Đắk Lắk,0262 3789 123,,,,,\n"
        "thon,24235,,,,Buôn Mới,1.234,,,\n"
        "thon,02839,,,,Thôn Lạ,10,,,\n"
        "can bo,02839,,,,,,Kẻ Lạ,lãnh đạo,kela\n",
        encoding="utf-8",
    )
    before_text, before_store = province.read_bytes(), store_state(province)
    code, out, err = bot(capsys, province, str(path))
    assert code == 2, (out, err)
    for row in ("row 4", "row 5"):
        assert (
            f"{row}: commune 02839 Xã Bắc Hà is in Tỉnh Lào Cai; the file is for Tỉnh Đắk Lắk"
            in err
        ), err
    assert "row 3" not in err
    assert province.read_bytes() == before_text and store_state(province) == before_store

    path.write_text(
        "kind,ma xa,ten xa,tinh,dien thoai,thon,so ho\n"
        "xa,24235,Xã Buôn Đôn,Đắk Lắk,0262 3789 123,,\n"
        "thon,24235,,,,Buôn Mới,1.234\n",
        encoding="utf-8",
    )
    code, out, err = bot(capsys, province, str(path), "--dry-run")
    assert code == 0, err
    assert "+ 24235 Xã Buôn Đôn / Buôn Mới (1234 households)" in out


def test_a_province_department_publisher_by_the_file_words(province, capsys, tmp_path):
    """A department's publisher (who may only send province notices) by any of the words a
    file may use for the role: with or without diacritics, "Sở, ngành", the English word."""
    text = (
        "loai,ma xa,ho ten,vai tro,dang nhap\n"
        'can bo,02839,Phạm Thu Hà,"Cán bộ sở, ngành",ha.pt\n'
        "can bo,02839,Vũ Văn Tâm,Phát hành,\n"
        "can bo,02839,Đỗ Minh Khoa,so nganh,\n"
        "can bo,02839,Hoàng Lan,PUBLISHER,\n"
    )
    code, out, err = bot(capsys, province, csv_file(tmp_path, "pub.csv", text))
    assert code == 0, err
    assert "Phạm Thu Hà (publisher" in out
    roles = {p[1]: (p[2], p[3], p[4]) for p in store_state(province)["staff"]}
    assert set(roles) == {"Phạm Thu Hà", "Vũ Văn Tâm", "Đỗ Minh Khoa", "Hoàng Lan"}
    assert set(roles.values()) == {("publisher", None, None)}  # no office, no village
    bad = csv_file(tmp_path, "bad.csv", "loai,ma xa,ho ten,vai tro\ncan bo,02839,Lê Ba,sở\n")
    code, out, err = bot(capsys, province, bad)
    assert code != 0 and "publisher (sở, ngành)" in out + err
