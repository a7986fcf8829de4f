"""The ``bot`` command: serve, worker, db, ask, nlu, triage, tenants, staff, tickets, resident,
zalo, knowledge, report, simulator — the argument parser here, each command group in its own module beside it
(serve, db, nlu, tenants, staff, tickets, residents, zalo, knowledge); every command that needs the store
opens it through ``common.open_store`` (engine, migrations, communes mirrored)."""

from __future__ import annotations

import argparse
import sys

from bot.cli.db import cmd_db_upgrade
from bot.cli.health import add_parsers as add_health_parsers
from bot.cli.knowledge import add_parser as add_knowledge_parser
from bot.cli.nlu import (
    cmd_ask,
    cmd_nlu_convert,
    cmd_nlu_eval,
    cmd_nlu_misses,
    cmd_nlu_rasa_serve,
    cmd_nlu_rasa_setup,
    cmd_nlu_train,
    cmd_triage_eval,
)
from bot.cli.report import add_parser as add_report_parser
from bot.cli.residents import cmd_resident_erase
from bot.cli.serve import cmd_serve, cmd_worker
from bot.cli.staff import (
    cmd_staff_add,
    cmd_staff_change,
    cmd_staff_check,
    cmd_staff_list,
    cmd_staff_password,
)
from bot.cli.tenants import cmd_tenants_add, cmd_tenants_import, cmd_tenants_list
from bot.cli.tickets import cmd_tickets
from bot.cli.zalo import cmd_zalo_connect, cmd_zalo_set_tokens
from bot.config import ConfigError

__all__ = ["build_parser", "main"]


# -- parser ---------------------------------------------------------------------------------
def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="bot", description="Commune information bot")
    p.add_argument("--config", help="configuration file (default: $BOT_CONFIG or config.yml)")
    sub = p.add_subparsers(dest="command", required=True)

    s = sub.add_parser("serve", help="run the service")
    s.add_argument("--host")
    s.add_argument("--port", type=int)
    s.add_argument(
        "--web-only",
        action="store_true",
        help="only answer HTTP; `bot worker` processes (PostgreSQL + Redis) do the rest",
    )
    s.add_argument(
        "--demo-login",
        action="store_true",
        help="demo only (SQLite store): a console login per commune, with a new random "
        "password printed at each start (scripts/run.sh)",
    )
    s.set_defaults(func=cmd_serve)

    sub.add_parser("worker", help="process events and send, without the web server").set_defaults(
        func=cmd_worker
    )

    db = sub.add_parser("db", help="database").add_subparsers(dest="db_command", required=True)
    db.add_parser("upgrade", help="apply migrations").set_defaults(func=cmd_db_upgrade)

    a = sub.add_parser(
        "ask",
        help="run one message through the conversation (with --session: one conversation "
        "kept across calls, stored like a resident's)",
    )
    a.add_argument("--commune", required=True, help="commune code, e.g. 02839")
    a.add_argument("--json", action="store_true")
    a.add_argument(
        "--session",
        help="hold a conversation across calls: the same ID continues it (a resident on the "
        "`ask` channel, stored; follow-ups understood); --json then shows the topic kept. "
        "Reports and requests for staff it makes are real (tickets, staff alerts): use a test "
        "commune",
    )
    a.add_argument(
        "--language",
        default=None,
        help="the resident's language (vi, en; a clear message in the other one "
        "switches, as in the service; default vi, or the session's)",
    )
    a.add_argument(
        "--backend",
        choices=["embedded", "rasa"],
        default=None,
        help="default: nlu.backend in the configuration",
    )
    a.add_argument("text")
    a.set_defaults(func=cmd_ask)

    n = sub.add_parser("nlu", help="NLU data, training, evaluation").add_subparsers(
        dest="n_command", required=True
    )
    ne = n.add_parser("eval", help="held-out evaluation, accented and unaccented")
    ne.add_argument("--train", default=None, help="Rasa YAML folder/file (default data/nlu)")
    ne.add_argument("--test", default=None, help="held-out Rasa YAML (default data/nlu/test)")
    ne.add_argument("--report", default="docs/nlu-eval.md")
    ne.add_argument(
        "--backend",
        choices=["both", "embedded", "rasa"],
        default="both",
        help="both (default) sets Rasa up first if it is not",
    )
    ne.add_argument(
        "--profile",
        choices=["full", "ci"],
        default="full",
        help="Rasa training profile (ci: fewer epochs)",
    )
    ne.set_defaults(func=cmd_nlu_eval)
    nt = n.add_parser("train", help="train a backend on data/nlu and report")
    nt.add_argument("--backend", choices=["embedded", "rasa"], default="embedded")
    nt.add_argument("--profile", choices=["full", "ci"], default="full")
    nt.add_argument("--force", action="store_true", help="retrain even if a cached model fits")
    nt.set_defaults(func=cmd_nlu_train)
    nc = n.add_parser("convert", help="a public seq.in/label data set → Rasa YAML for eval")
    nc.add_argument("src", help="folder with <split>/seq.in and <split>/label")
    nc.add_argument("out", help="writes <out>/<split>/nlu.yml")
    nc.set_defaults(func=cmd_nlu_convert)
    nr = n.add_parser("rasa-setup", help="build Rasa 3.6.21's own Python 3.10 environment")
    nr.add_argument("--force", action="store_true", help="rebuild it from scratch")
    nr.set_defaults(func=cmd_nlu_rasa_setup)
    nv = n.add_parser("rasa-serve", help="train if needed, then run the Rasa NLU server")
    nv.add_argument("--host", default="127.0.0.1")
    nv.add_argument("--port", type=int, default=5005)
    nv.add_argument("--profile", choices=["full", "ci"], default="full")
    nv.set_defaults(func=cmd_nlu_rasa_serve)
    nm = n.add_parser("misses", help="questions the bot missed or was unsure of, per commune")
    nm.add_argument("--commune", required=True)
    nm.add_argument("--limit", type=int, default=50)
    nm.add_argument(
        "--yaml",
        action="store_true",
        help="print as a Rasa YAML stub to label and add to data/nlu/",
    )
    nm.set_defaults(func=cmd_nlu_misses)

    tr = sub.add_parser("triage", help="emergency triage (docs/triage.md)").add_subparsers(
        dest="tr_command", required=True
    )
    te = tr.add_parser(
        "eval",
        help="precision and recall on the held-out set, with and "
        "without accents, and cross-validated",
    )
    te.add_argument("--data", default="data/triage", help="training examples (folder or file)")
    te.add_argument("--test", default=None, help="held-out examples (default <data>/test)")
    te.add_argument("--sweep", action="store_true", help="also figures for other thresholds")
    te.set_defaults(func=cmd_triage_eval)

    t = sub.add_parser("tenants", help="communes").add_subparsers(dest="t_command", required=True)
    t.add_parser("list").set_defaults(func=cmd_tenants_list)
    ta = t.add_parser("add", help="onboard a commune from the national unit list")
    ta.add_argument("--unit-code", required=True)
    ta.add_argument("--phone", required=True, help="the commune office's phone number")
    ta.add_argument("--address")
    ta.add_argument("--email")
    ta.add_argument("--villages", help="comma-separated thôn / tổ dân phố names")
    ta.add_argument("--oa-id")
    ta.add_argument("--app-id")
    ta.add_argument("--oa-secret-key", help="inline or ${ENV_VAR}")
    ta.add_argument("--no-db", action="store_true", help="only edit the configuration file")
    ta.set_defaults(func=cmd_tenants_add)
    ti = t.add_parser(
        "import",
        help="onboard a province's communes, villages and staff from one XLSX or CSV "
        "(docs/onboarding.md)",
    )
    ti.add_argument("file", help=".xlsx (sheets Xã, Thôn, Cán bộ) or .csv (a loai column)")
    ti.add_argument("--dry-run", action="store_true", help="only say what would change")
    ti.add_argument("--config", default=argparse.SUPPRESS, help="the configuration file")
    ti.set_defaults(func=cmd_tenants_import)

    st = sub.add_parser("staff", help="commune staff and API keys").add_subparsers(
        dest="st_command", required=True
    )
    sa = st.add_parser("add", help="add a staff member and print their API key once")
    sa.add_argument("--commune", required=True)
    sa.add_argument("--name", required=True)
    sa.add_argument(
        "--role",
        required=True,
        choices=["officer", "leader", "propagandist", "operator", "publisher"],
        help="publisher: a province department's staff (Sở, ngành), who may only send "
        "province notices",
    )
    sa.add_argument("--village", help="the propagandist's village")
    sa.add_argument("--zalo-user-id", help="their Zalo user id as a follower of the OA")
    sa.add_argument(
        "--office",
        help="the feedback desk they work at (communes[].offices); "
        "an officer's default: the commune's first office",
    )
    sa.add_argument(
        "--quiet",
        action="store_true",
        help="print only the key: OFFICER_KEY=$(bot staff add … --quiet)",
    )
    sa.add_argument(
        "--login",
        help="their console login (/console/); prints a one-time link to set the password",
    )
    sa.add_argument(
        "--password-stdin",
        action="store_true",
        help="with --login: read the password from standard input instead of a link",
    )
    sa.set_defaults(func=cmd_staff_add)
    for name, text in (
        ("password", "set a console password, read from standard input (no echo)"),
        ("invite", "a new one-time link to set a console password (older links void)"),
    ):
        sw = st.add_parser(name, help=text)
        sw.add_argument("login", help="the console login (bot staff add … --login)")
        sw.set_defaults(func=cmd_staff_password)
    sc = st.add_parser(
        "check", help="warn when no leader or a village's propagandist can be reached on Zalo"
    )
    sc.add_argument("--commune", required=True)
    sc.set_defaults(func=cmd_staff_check)
    sl = st.add_parser("list", help="the commune's staff and their keys (never a key itself)")
    sl.add_argument("--commune", required=True)
    sl.add_argument("--json", action="store_true", help="as JSON")
    sl.set_defaults(func=cmd_staff_list)
    for name, text in (
        ("revoke-key", "revoke every key of a staff member"),
        ("rotate-key", "a new key for a staff member, printed once; the old ones stop working"),
        ("deactivate", "keys revoked, no alerts, no Zalo commands"),
        ("reactivate", "active again, with a new key printed once"),
        ("unlink-zalo", "cut the Zalo account linked for signing in to the console"),
    ):
        sp = st.add_parser(name, help=text)
        sp.add_argument("--commune", required=True)
        sp.add_argument("--staff-id", type=int, required=True, help="see `bot staff list`")
        if name in ("rotate-key", "reactivate"):
            sp.add_argument(
                "--quiet",
                action="store_true",
                help="print only the key: KEY=$(bot staff rotate-key … --quiet)",
            )
        sp.set_defaults(func=cmd_staff_change)
    add_health_parsers(t, st)  # `bot tenants health`, `bot staff propagandists`

    tk = sub.add_parser(
        "tickets", help="residents' feedback tickets (as a staff member)"
    ).add_subparsers(dest="t_command", required=True)
    for name, text in (
        ("list", "tickets of the commune"),
        ("show", "one ticket, its history"),
        (
            "act",
            "accept | assign | transfer | return | reject | duplicate | "
            "answer | close | publish | note",
        ),
    ):
        tp = tk.add_parser(name, help=text)
        tp.add_argument("--commune", required=True)
        tp.add_argument("--staff-id", type=int, required=True, help="who acts (bot staff add)")
        if name == "list":
            tp.add_argument("--status")
            tp.add_argument("--overdue", action="store_true")
        else:
            tp.add_argument("code", help="PA-2026-000123")
        if name == "act":
            tp.add_argument("action")
            tp.add_argument("--note", help="the answer, the reason, the note")
            tp.add_argument("--assignee", type=int, help="assign: staff id")
            tp.add_argument("--office", help="transfer: an office of the commune")
            tp.add_argument("--body", help="transfer: an outside body")
            tp.add_argument("--of", help="duplicate: the original ticket's code")
            tp.add_argument("--text", help="publish: the public text (default: the answer)")
        tp.set_defaults(func=cmd_tickets)

    rs = sub.add_parser(
        "resident", help="residents' personal data (docs/privacy.md)"
    ).add_subparsers(dest="r_command", required=True)
    re_ = rs.add_parser("erase", help="erase a resident on request (cannot be undone)")
    re_.add_argument("--commune", required=True)
    whom = re_.add_mutually_exclusive_group(required=True)
    whom.add_argument("--zalo-id", help="their Zalo user id as a follower of the commune's OA")
    whom.add_argument("--ticket", help="a ticket they filed (PA-2026-000123), on any channel")
    re_.add_argument("--staff-id", type=int, help="the leader who decided it (kept in the audit)")
    re_.add_argument("--yes", action="store_true", help="really erase")
    re_.set_defaults(func=cmd_resident_erase)

    z = sub.add_parser("zalo", help="Zalo OA connection").add_subparsers(
        dest="z_command", required=True
    )
    zc = z.add_parser("connect", help="print the OAuth v4 authorisation URL (PKCE)")
    zc.add_argument("--oa", required=True)
    zc.set_defaults(func=cmd_zalo_connect)
    zs = z.add_parser("set-tokens", help="store an access/refresh pair by hand")
    zs.add_argument("--oa", required=True)
    zs.add_argument(
        "--access-token",
        help="default $ZALO_ACCESS_TOKEN; write --access-token=VALUE when the value "
        "starts with '-'",
    )
    zs.add_argument(
        "--refresh-token",
        help="default $ZALO_REFRESH_TOKEN; write --refresh-token=VALUE when the "
        "value starts with '-'",
    )
    zs.add_argument("--expires-in", type=int, default=90000)
    zs.set_defaults(func=cmd_zalo_set_tokens)

    add_knowledge_parser(sub)
    add_report_parser(sub)

    # `bot simulator …` is dispatched in main() to the simulator's own parser
    sub.add_parser("simulator", help="run the Zalo simulator: bot simulator --help")
    return p


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["simulator"]:  # its options belong to the simulator's own parser
        from zalosim.__main__ import main as sim_main

        return sim_main(argv[1:]) or 0
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except ConfigError as exc:
        print(f"configuration error:\n{exc}", file=sys.stderr)
        return 2
