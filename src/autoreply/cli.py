"""The ``autoreply`` command line."""

from __future__ import annotations

import argparse
import asyncio
import json
import secrets
import sys
import tempfile
from collections.abc import Sequence
from datetime import datetime
from email import policy as mail_policy
from email.parser import BytesHeaderParser
from pathlib import Path
from typing import Any, TextIO

from pydantic import ValidationError

from autoreply.clock import FixedClock, SystemClock
from autoreply.config import Settings
from autoreply.errors import AutoreplyError, ConfigError, FlowError

__all__ = ["main"]


def _settings() -> Settings:
    return Settings()


# -- flow -------------------------------------------------------------------------------


def _flow_check(args: argparse.Namespace, out: TextIO) -> int:
    """Every operator file named (a folder: every YAML file in it), each by its kind."""
    from autoreply.bootstrap import check_operator_files

    failed = 0
    for checked in check_operator_files(_settings(), [Path(p) for p in args.paths]):
        for problem in sorted(checked.problems):
            print(problem, file=out)
        if checked.problems:
            failed += 1
        elif not args.quiet:
            print(f"{checked.path}: ok", file=out)
    return 1 if failed else 0


def _flow_schema(args: argparse.Namespace, out: TextIO) -> int:
    from autoreply.flows.kinds import kind_schema

    print(json.dumps(kind_schema(args.kind), ensure_ascii=False, indent=2), file=out)
    return 0


def _flow_graph(args: argparse.Namespace, out: TextIO) -> int:
    from autoreply.flows.graph import mermaid
    from autoreply.flows.loader import load_flow

    settings = _settings()
    path = Path(args.path) if args.path else settings.path("flow")
    out.write(mermaid(load_flow(path, settings.path("templates_dir"))))
    return 0


# -- understanding ------------------------------------------------------------------------


def _casestudies_match(args: argparse.Namespace, out: TextIO) -> int:
    from autoreply.bootstrap import load_library

    vocabulary, library = load_library(_settings())
    message = library.analyse(args.text)  # tokenised once, for topics and cases
    words = [t for t in message.tokens if t.pos != "補助記号"]
    print("tokens: " + (" ".join(t.norm for t in words) or "-"), file=out)
    print("negated: " + (", ".join(message.negated_words()) or "-"), file=out)
    found, skipped = vocabulary.scan(message)
    print(
        "topics: " + (", ".join(f"{h.label} ({h.words} ~ {h.matched})" for h in found) or "-"),
        file=out,
    )
    if skipped:
        print(
            "topics skipped (negated): " + ", ".join(f"{h.label} ({h.words})" for h in skipped),
            file=out,
        )
    matches = library.match(
        message, industry=args.industry, limit=args.limit, min_score=args.min_score
    )
    if not matches:
        print("no case study reaches the minimum score", file=out)
    for rank, m in enumerate(matches, 1):
        print(
            f"{rank}. [{m.score:5.1f}] {m.case.id}: {m.case.title}"
            f" ({m.case.customer}, {m.case.industry})",
            file=out,
        )
        parts = m.parts
        print(
            f"   score parts: topics {parts.get('topics', 0):.1f}, keywords"
            f" {parts.get('keywords', 0):.1f}, text {parts.get('text', 0):.1f}"
            f" (BM25 {parts.get('text_units', 0):.2f}), industry +{parts.get('industry', 0):.0f}",
            file=out,
        )
        print(f"   {m.explain(args.locale)}", file=out)
        print(f"   {m.case.url}", file=out)
    return 0


def _timing(args: argparse.Namespace, out: TextIO) -> int:
    from autoreply.domain.timing import parse_timing

    settings = _settings()
    now = _moment(args.at, settings) or SystemClock().now().astimezone(settings.tz)
    timing = parse_timing(args.text, now, settings.fiscal_year_start_month)
    loc = args.locale
    if args.json:
        print(
            json.dumps({**timing.to_dict(), "described": timing.describe(loc)}, ensure_ascii=False),
            file=out,
        )
        return 0
    ja = loc == "ja"
    today = now.date().isoformat()
    fy = settings.fiscal_year_start_month
    reading, bucket = timing.describe(loc), timing.bucket_label(loc)
    shown = (
        reading
        if reading == bucket
        else (f"{reading}（{bucket}）" if ja else f"{reading} ({bucket})")
    )
    print(f"ご本人の言葉: 「{timing.text}」" if ja else f"said: {timing.text!r}", file=out)
    print(f"読み取り: {shown}" if ja else f"reading: {shown}", file=out)
    print(
        f"基準日: {today}（年度は{fy}月始まり）"
        if ja
        else f"today: {today} (fiscal year starts in month {fy})",
        file=out,
    )
    print("読み取りの手順:" if ja else "how it was read:", file=out)
    for i, step in enumerate(timing.explain(loc), 1):
        print(f"  {i}. {step}", file=out)
    if timing.uncertain:
        other = (
            "／".join(timing.describe_alternatives(loc))
            if ja
            else " / ".join(timing.describe_alternatives(loc))
        )
        print(
            f"読み取りに迷いがあります（{timing.describe(loc)}／{other}）"
            if ja
            else f"uncertain: {timing.describe(loc)} or {other}",
            file=out,
        )
        print(
            f"{'確認の質問' if ja else 'confirming question'}: {timing.confirm_question(loc)}",
            file=out,
        )
    label = timing.waiting_for_label(loc)
    if label:
        print(f"お待ちのこと: {label}" if ja else f"waiting for: {label}", file=out)
    return 0


AT_FORMAT = "YYYY-MM-DDTHH:MM, e.g. 2026-11-21T23:10"


def _at(text: str) -> datetime:
    """The ``--at`` argument: an ISO 8601 moment; anything else is a usage error (exit 2)."""
    try:
        return datetime.fromisoformat(text.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected {AT_FORMAT}, got {text!r}") from None


def _moment(value: datetime | None, settings: Settings) -> datetime | None:
    """A moment given on the command line, in the business timezone when it names none."""
    if value is None:
        return None
    return value if value.tzinfo else value.replace(tzinfo=settings.tz)


# -- database and reps -------------------------------------------------------------------------


def _db_upgrade(args: argparse.Namespace, out: TextIO) -> int:
    from autoreply.store.db import upgrade

    settings = _settings()
    asyncio.run(upgrade(settings.database_url))
    print(f"database is at the latest schema ({_safe_url(settings.database_url)})", file=out)
    return 0


def _safe_url(url: str) -> str:
    from autoreply.store.db import safe_url

    return safe_url(url)


def _password(args: argparse.Namespace) -> tuple[str, bool]:
    """The password from stdin (``--password-stdin``: first line), else a generated one."""
    from autoreply.service.reps import new_password

    if not args.password_stdin:
        return new_password(), True
    line = sys.stdin.readline().rstrip("\r\n")
    if not line:
        raise ConfigError("--password-stdin: no password on standard input")
    return line, False


def _reps_add(args: argparse.Namespace, out: TextIO) -> int:
    from autoreply.bootstrap import open_session
    from autoreply.service.reps import create_rep

    password, generated = _password(args)

    async def run() -> int:
        async with open_session(_settings()) as session:
            rep = await create_rep(
                session,
                args.name,
                args.email,
                now=SystemClock().now(),
                hours=args.hours,
                password=password,
                role=args.role,
            )
            await session.flush()
            return rep.id

    rep_id = asyncio.run(run())
    print(f"rep {rep_id} added: {args.name} <{args.email}>", file=out)
    if generated:
        print(f"password (shown only now): {password}", file=out)
    return 0


def _reps_password(args: argparse.Namespace, out: TextIO) -> int:
    from autoreply.bootstrap import open_session
    from autoreply.service.reps import set_password

    password, generated = _password(args)

    async def run() -> None:
        async with open_session(_settings()) as session:
            await set_password(session, args.email, password, now=SystemClock().now())

    asyncio.run(run())
    print(f"password changed for {args.email}", file=out)
    if generated:
        print(f"password (shown only now): {password}", file=out)
    return 0


def _reps_token(args: argparse.Namespace, out: TextIO) -> int:
    from autoreply.bootstrap import open_session
    from autoreply.service.reps import issue_token

    async def run() -> str:
        async with open_session(_settings()) as session:
            return await issue_token(session, args.email)

    token = asyncio.run(run())
    print(
        f"new API token for {args.email} (shown only now; the previous token no longer works):",
        file=sys.stderr,
    )
    print(token, file=out)
    return 0


def _reps_hours(args: argparse.Namespace, out: TextIO) -> int:
    from autoreply.bootstrap import open_session
    from autoreply.service.reps import set_hours

    async def run() -> str | None:
        async with open_session(_settings()) as session:
            return (await set_hours(session, args.email, args.hours)).hours

    print(f"hours of {args.email}: {asyncio.run(run())}", file=out)
    return 0


def _reps_away(args: argparse.Namespace, out: TextIO) -> int:
    from datetime import datetime

    from autoreply.bootstrap import open_session
    from autoreply.service.reps import find_rep, set_away

    settings = _settings()
    until = None
    if args.until:
        try:
            until = datetime.fromisoformat(args.until)
        except ValueError:
            print(f"autoreply: --until {args.until!r} is not a date or time", file=sys.stderr)
            return 2
        if until.tzinfo is None:
            until = until.replace(tzinfo=settings.tz)

    async def run() -> None:
        async with open_session(settings) as session:
            await set_away(session, await find_rep(session, args.email), not args.back, until)

    asyncio.run(run())
    state = "back" if args.back else f"away{f' until {until.isoformat()}' if until else ''}"
    print(f"{args.email}: {state}", file=out)
    return 0


def _reps_active(args: argparse.Namespace, out: TextIO) -> int:
    from autoreply.bootstrap import open_session
    from autoreply.service.reps import set_active

    active = args.reps_command == "activate"

    async def run() -> None:
        async with open_session(_settings()) as session:
            await set_active(session, args.email, active, SystemClock().now())

    asyncio.run(run())
    state = "active" if active else "deactivated (every session ended)"
    print(f"{args.email}: {state}", file=out)
    return 0


# -- leads (the lead's data rights) -----------------------------------------------------------


def _subject(args: argparse.Namespace) -> Any:
    from autoreply.domain.privacy import Subject

    return Subject.of(email=args.email, line_user=args.line_user, lead=args.lead)


def _leads_export(args: argparse.Namespace, out: TextIO) -> int:
    from autoreply.bootstrap import open_session
    from autoreply.service.privacy import Privacy

    settings = _settings()
    subject = _subject(args)
    privacy = Privacy(settings, SystemClock())

    async def run() -> dict[str, Any]:
        async with open_session(settings) as session:
            return await privacy.export(session, subject, "cli")

    document = json.dumps(asyncio.run(run()), ensure_ascii=False, indent=2) + "\n"
    if args.out:
        path = Path(args.out)
        path.write_text(document, encoding="utf-8")
        path.chmod(0o600)  # personal data: the owner only
        print(f"exported {subject.describe()} to {path}", file=sys.stderr)
    else:
        out.write(document)
    return 0


def _leads_delete(args: argparse.Namespace, out: TextIO) -> int:
    from autoreply.bootstrap import open_session
    from autoreply.service import privacy as use_case

    settings = _settings()
    subject = _subject(args)
    privacy = use_case.Privacy(settings, SystemClock())

    async def run() -> use_case.Found:
        async with open_session(settings) as session:
            if not args.yes:
                return await use_case.find(session, subject)
            return await privacy.delete(session, subject, "cli")

    found = asyncio.run(run())
    for table, count in found.counts.items():
        if count:
            print(f"{table}\t{count}", file=out)
    if not args.yes:
        print(
            f"{found.total} rows of {subject.describe()} would be deleted; "
            "run again with --yes to delete them",
            file=out,
        )
        return 1
    print(f"deleted {found.total} rows of {subject.describe()} (lead {found.lead_id})", file=out)
    return 0


def _reps_list(args: argparse.Namespace, out: TextIO) -> int:
    from autoreply.bootstrap import open_session
    from autoreply.service.reps import all_reps

    async def run() -> list[tuple[int, str, str, str | None, bool]]:
        async with open_session(_settings()) as session:
            return [(r.id, r.name, r.email, r.hours, r.away) for r in await all_reps(session)]

    for rep_id, name, email, hours, away in asyncio.run(run()):
        line = f"{rep_id}\t{name}\t{email}\t{hours or '(business hours)'}"
        print(line + ("\taway" if away else ""), file=out)
    return 0


# -- crm -------------------------------------------------------------------------------------


def _crm_schema(args: argparse.Namespace, out: TextIO) -> int:
    """One event type's JSON Schema printed, or every type's written into ``--write DIR``."""
    from autoreply.domain.crm_events import EVENT_TYPES
    from autoreply.domain.crm_schema import event_schema, schema_file

    if args.write is None:
        print(json.dumps(event_schema(args.type), ensure_ascii=False, indent=2), file=out)
        return 0
    folder = Path(args.write)
    folder.mkdir(parents=True, exist_ok=True)
    for event_type in EVENT_TYPES if args.type is None else (args.type,):
        text = json.dumps(event_schema(event_type), ensure_ascii=False, indent=2) + "\n"
        (folder / schema_file(event_type)).write_text(text, encoding="utf-8")
        print(folder / schema_file(event_type), file=out)
    return 0


def _handoffs_export(args: argparse.Namespace, out: TextIO) -> int:
    """Every handoff (``--status``, ``--channel`` as on the list) as CSV for Excel and CRMs."""
    from autoreply.bootstrap import build_content
    from autoreply.service.crm import export_csv
    from autoreply.store.db import create_engine, session_factory, upgrade

    settings = _settings()
    content = build_content(settings)

    async def run(handle: TextIO) -> None:
        await upgrade(settings.database_url)
        engine = create_engine(settings.database_url)
        try:
            chunks = export_csv(
                session_factory(engine), content, status=args.status, channel=args.channel
            )
            async for chunk in chunks:
                handle.write(chunk)
        finally:
            await engine.dispose()

    with open(args.csv, "w", encoding="utf-8", newline="") as handle:
        asyncio.run(run(handle))
    print(f"wrote {args.csv}", file=out)
    return 0


# -- chat and serve --------------------------------------------------------------------------


def _chat(args: argparse.Namespace, out: TextIO) -> int:
    """A trial conversation: on a throwaway database unless ``--live`` or ``--database``."""
    overrides: dict[str, Any] = {}
    if args.flow:  # the configured flows stay served: forms and extra flows may name them
        configured = _settings()
        overrides["flow"] = Path(args.flow)
        overrides["extra_flows"] = f"{configured.flow},{configured.extra_flows}"
    if args.database:
        overrides["database_url"] = args.database
    if args.live or args.database:
        return _converse(Settings(**overrides), args.at, out)
    with tempfile.TemporaryDirectory(prefix="autoreply-trial-") as folder:
        trial = Path(folder)
        mail = Path(args.mail_dir) if args.mail_dir else trial / "mail"
        settings = Settings(**overrides, **_trial_overrides(trial, mail))
        print(
            "# trial chat: a throwaway database, deleted at exit "
            "(--live writes to the configured one)",
            file=out,
        )
        code = _converse(settings, args.at, out, trial=trial)
        _report_mail(mail, kept=bool(args.mail_dir), out=out)
        return code


def _trial_overrides(folder: Path, mail: Path) -> dict[str, Any]:
    """Settings of a trial chat: its own SQLite file, emails as files, no LINE, a demo rep.

    Nothing of the configured product is written or sent: not the database, not ``var/``
    (the signing key is ephemeral), not the SMTP server or the LINE channel.
    """
    return {
        "database_url": f"sqlite+aiosqlite:///{folder / 'trial.db'}",
        "mail_dir": mail,
        "smtp_host": None,
        "line_channel_secret": None,
        "line_channel_access_token": None,
        "secret_key": secrets.token_urlsafe(32),
        "demo": True,
    }


def _converse(
    settings: Settings, at: datetime | None, out: TextIO, *, trial: Path | None = None
) -> int:
    from autoreply.bootstrap import DEMO_PASSWORD_FILE, open_runtime
    from autoreply.channels.terminal import run_chat

    moment = _moment(at, settings)
    clock = FixedClock(moment) if moment else None
    password_file = trial / "demo-rep-password.txt" if trial else DEMO_PASSWORD_FILE

    async def run() -> int:
        async with open_runtime(settings, clock=clock, demo_password_file=password_file) as runtime:
            code = await run_chat(runtime, sys.stdin, out)
            if trial is not None:  # the trial's emails go to its folder, never to SMTP
                while await runtime.worker.run_once():
                    pass
            return code

    return asyncio.run(run())


def _report_mail(folder: Path, *, kept: bool, out: TextIO) -> None:
    """Say what a trial chat's emails were and where they went."""
    files = sorted(folder.glob("*.eml")) if folder.is_dir() else []
    where = f"written to {folder}" if kept else "not sent (--mail-dir DIR keeps them as .eml)"
    print(f"# trial: {len(files)} email{'' if len(files) == 1 else 's'}, {where}", file=out)
    parser = BytesHeaderParser(policy=mail_policy.default)
    for path in files:
        headers = parser.parsebytes(path.read_bytes())
        print(f"#   To: {headers['To']}  Subject: {headers['Subject']}", file=out)


def _serve(args: argparse.Namespace, out: TextIO) -> int:
    from autoreply.web.app import serve

    return serve(_settings(), host=args.host, port=args.port, migrate=not args.no_migrate)


def _worker(args: argparse.Namespace, out: TextIO) -> int:
    from autoreply.bootstrap import run_worker
    from autoreply.logs import configure_logging

    settings = _settings()
    configure_logging(settings.log_level)
    handled = asyncio.run(run_worker(settings, once=args.once, migrate=not args.no_migrate))
    if args.once:
        print(f"outbox: {handled} handled", file=out)
    return 0


def _kinds() -> list[str]:
    from autoreply.flows.kinds import KINDS

    return list(KINDS)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="autoreply",
        description="Answers B2B leads instantly at night and on weekends.",
    )
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="run the service")
    serve.add_argument("--host", default=None)
    serve.add_argument("--port", type=int, default=None)
    serve.add_argument("--no-migrate", action="store_true", help="do not apply migrations")
    serve.set_defaults(func=_serve)

    worker = sub.add_parser("worker", help="deliver the outbox (email) without serving HTTP")
    worker.add_argument("--once", action="store_true", help="deliver what is due, then exit")
    worker.add_argument("--no-migrate", action="store_true", help="do not apply migrations")
    worker.set_defaults(func=_worker)

    chat = sub.add_parser(
        "chat",
        help="hold a trial conversation with a flow in the terminal",
        description=(
            "Hold a conversation with a flow in the terminal. By default it is a trial: a "
            "throwaway database (migrated, with a demo rep) deleted at exit, and its emails "
            "are never sent (--mail-dir keeps them as .eml files). --live or --database URL "
            "store it for real; queued emails then go out with `serve` or `worker`."
        ),
    )
    chat.add_argument("--flow", help="flow file (default: the configured flow)")
    chat.add_argument(
        "--at",
        type=_at,
        metavar="TIME",
        help=f"pretend it is this moment ({AT_FORMAT}; the business timezone unless given)",
    )
    where = chat.add_mutually_exclusive_group()
    where.add_argument(
        "--live",
        action="store_true",
        help="store the conversation in the configured database (AUTOREPLY_DATABASE_URL)",
    )
    where.add_argument("--database", metavar="URL", help="store the conversation in this database")
    where.add_argument(
        "--mail-dir", metavar="DIR", help="trial only: keep the emails as .eml files in DIR"
    )
    chat.set_defaults(func=_chat)

    flow = sub.add_parser("flow", help="check, describe and draw flows").add_subparsers(
        dest="flow_command", required=True
    )
    for commands, name in ((flow, "check"), (sub, "check")):
        check = commands.add_parser(
            name,
            help="check operator files and folders of them (exit 1 on any problem)",
            description=(
                "Check flows, case studies, topics and forms, each by its kind (its top-level "
                "key: flow:, cases:, topics:, forms:), and what they name in each other. A "
                "folder means every *.yaml and *.yml file in it."
            ),
        )
        check.add_argument("paths", nargs="+", metavar="PATH")
        check.add_argument("-q", "--quiet", action="store_true", help="print problems only")
        check.set_defaults(func=_flow_check)
    schema = flow.add_parser("schema", help="print the JSON Schema of a kind of operator file")
    schema.add_argument("--kind", default="flow", choices=_kinds(), help="default: flow")
    schema.set_defaults(func=_flow_schema)
    graph = flow.add_parser("graph", help="print a Mermaid diagram of a flow")
    graph.add_argument("path", nargs="?")
    graph.set_defaults(func=_flow_graph)

    cases = sub.add_parser("casestudies", help="case-study library").add_subparsers(
        dest="cases_command", required=True
    )
    match = cases.add_parser("match", help="what a lead writing TEXT would be sent")
    match.add_argument("text")
    match.add_argument("--industry")
    match.add_argument("--limit", type=int, default=3)
    match.add_argument("--min-score", type=float, default=50.0)
    match.add_argument("--locale", default="ja", choices=["ja", "en"])
    match.set_defaults(func=_casestudies_match)

    timing = sub.add_parser("timing", help="how a timing answer (導入時期) is read")
    timing.add_argument("text")
    timing.add_argument(
        "--at", type=_at, metavar="TIME", help=f"the moment it is said ({AT_FORMAT}; default: now)"
    )
    timing.add_argument("--locale", default="ja", choices=["ja", "en"])
    timing.add_argument("--json", action="store_true", help="machine output (the stored reading)")
    timing.set_defaults(func=_timing)

    db = sub.add_parser("db", help="database").add_subparsers(dest="db_command", required=True)
    db.add_parser("upgrade", help="apply migrations").set_defaults(func=_db_upgrade)

    reps = sub.add_parser("reps", help="sales reps").add_subparsers(
        dest="reps_command", required=True
    )
    add = reps.add_parser("add", help="add a rep")
    add.add_argument("name")
    add.add_argument("email")
    add.add_argument("--hours", help="own working hours, e.g. 'mon-thu 10:00-16:00'")
    add.add_argument(
        "--role",
        choices=("rep", "manager"),
        default="rep",
        help="manager: sees notification problems",
    )
    add.add_argument(
        "--password-stdin",
        action="store_true",
        help="read the login password from stdin (default: generate one and print it once)",
    )
    add.set_defaults(func=_reps_add)
    reps.add_parser("list", help="list reps").set_defaults(func=_reps_list)
    password = reps.add_parser("password", help="set a rep's login password")
    password.add_argument("email")
    password.add_argument(
        "--password-stdin",
        action="store_true",
        help="read the password from stdin (default: generate one and print it once)",
    )
    password.set_defaults(func=_reps_password)
    token = reps.add_parser("token", help="issue a new API token (replaces the old one)")
    token.add_argument("email")
    token.set_defaults(func=_reps_token)
    hours = reps.add_parser("hours", help="set a rep's own working hours")
    hours.add_argument("email")
    hours.add_argument("hours", help="e.g. 'mon-fri 10:00-16:00'")
    hours.set_defaults(func=_reps_hours)
    away = reps.add_parser("away", help="mark a rep away (no new handoffs) or back")
    away.add_argument("email")
    away.add_argument("--until", help="back by itself then, e.g. 2026-12-10 or 2026-12-10T13:00")
    away.add_argument("--back", action="store_true", help="the rep is back")
    away.set_defaults(func=_reps_away)
    for name, what in (
        ("deactivate", "deactivate a rep (ends every session)"),
        ("activate", "reactivate a rep"),
    ):
        toggle = reps.add_parser(name, help=what)
        toggle.add_argument("email")
        toggle.set_defaults(func=_reps_active)

    leads = sub.add_parser("leads", help="a lead's data (APPI)").add_subparsers(
        dest="leads_command", required=True
    )
    for name, func, what in (
        ("export", _leads_export, "everything stored about one lead, as JSON"),
        (
            "delete",
            _leads_delete,
            "delete everything stored about one lead (dry run without --yes)",
        ),
    ):
        command = leads.add_parser(name, help=what)
        who = command.add_mutually_exclusive_group(required=True)
        who.add_argument("--email", help="the lead's email address")
        who.add_argument("--line-user", help="the lead's LINE user id (U…)")
        who.add_argument("--lead", help="the lead's id (a merged lead: its survivor)")
        if name == "export":
            command.add_argument("--out", metavar="FILE", help="write to FILE (default: stdout)")
        else:
            command.add_argument("--yes", action="store_true", help="really delete")
        command.set_defaults(func=func)

    from autoreply.domain.crm_events import EVENT_TYPES

    crm = sub.add_parser("crm", help="CRM webhooks").add_subparsers(
        dest="crm_command", required=True
    )
    crm_schema = crm.add_parser("schema", help="the JSON Schema of CRM events (docs/crm/)")
    crm_schema.add_argument("--type", choices=EVENT_TYPES, help="one event type")
    crm_schema.add_argument(
        "--write", metavar="DIR", help="write <type>.schema.json files into DIR (all types)"
    )
    crm_schema.set_defaults(func=_crm_schema)
    handoffs = sub.add_parser("handoffs", help="handoffs").add_subparsers(
        dest="handoffs_command", required=True
    )
    export = handoffs.add_parser("export", help="every handoff as CSV (UTF-8 with BOM, Excel)")
    export.add_argument("--csv", required=True, metavar="FILE", help="the file to write")
    export.add_argument("--status", default="all", choices=("waiting", "contacted", "all"))
    export.add_argument(
        "--channel", default="all", choices=("web", "line", "form", "email", "cli", "all")
    )
    export.set_defaults(func=_handoffs_export)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    args = _parser().parse_args(argv)
    try:
        code: int = args.func(args, sys.stdout)
    except FlowError as exc:
        print(exc, file=sys.stderr)
        return 1
    except ValidationError as exc:
        for error in exc.errors():
            name = "AUTOREPLY_" + "_".join(str(p) for p in error["loc"]).upper()
            print(f"autoreply: setting {name}: {error['msg']}", file=sys.stderr)
        return 2
    except AutoreplyError as exc:
        print(f"autoreply: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    return code
