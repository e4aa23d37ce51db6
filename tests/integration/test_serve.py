"""`autoreply serve` started as a user starts it: migrates, then answers health and readiness."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from tests.conftest import operator_env


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def served(cwd: Path, *args: str, **extra_env: str) -> Iterator[str]:
    """Run `python -m autoreply serve ARGS` in ``cwd``; yield its base URL once it answers."""
    port = _free_port()
    # The owner's email notice of a new handoff goes out only in business hours: off, so
    # that what these tests count does not depend on the wall clock.
    extra_env.setdefault("AUTOREPLY_NOTIFY_OWNER_EMAIL", "false")
    env = operator_env(AUTOREPLY_PORT=str(port), **extra_env)
    process = subprocess.Popen(
        [sys.executable, "-m", "autoreply", "serve", *args],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                httpx.get(f"{base}/healthz", timeout=2)
                break
            except httpx.TransportError:
                assert process.poll() is None, "serve exited"
                assert time.monotonic() < deadline, "serve did not start"
                time.sleep(0.2)
        yield base
    finally:
        process.terminate()
        output, _ = process.communicate(timeout=30)
        assert "Traceback" not in output, output


def test_serve_migrates_and_reports_ready(tmp_path: Path) -> None:
    """With nothing configured, serve creates ./var/autoreply.db and /readyz says ok."""
    with served(tmp_path) as base:
        ready = httpx.get(f"{base}/readyz", timeout=2)
        assert ready.status_code == 200 and ready.json()["status"] == "ok"
        assert httpx.get(f"{base}/healthz", timeout=2).json() == {"status": "ok"}
        assert httpx.get(f"{base}/openapi.json", timeout=2).status_code == 200
    assert (tmp_path / "var" / "autoreply.db").exists()


def test_readyz_reports_pending_migrations(tmp_path: Path) -> None:
    """Told not to migrate an empty database, serve is alive but not ready (503, with why)."""
    with served(tmp_path, "--no-migrate") as base:
        assert httpx.get(f"{base}/healthz", timeout=2).status_code == 200
        ready = httpx.get(f"{base}/readyz", timeout=2)
        assert ready.status_code == 503
        assert ready.json()["reason"] == "migrations pending"


def test_serve_runs_several_workers(tmp_path: Path) -> None:
    """With AUTOREPLY_WORKERS=2 the database is migrated once and every worker answers."""
    with served(tmp_path, AUTOREPLY_WORKERS="2") as base:
        for _ in range(6):
            ready = httpx.get(f"{base}/readyz", timeout=5)
            assert ready.status_code == 200 and ready.json()["status"] == "ok"
        page = httpx.get(f"{base}/", timeout=5)
        assert page.status_code == 200 and "/widget.js" in page.text


def test_a_broken_page_template_stops_the_start(tmp_path: Path) -> None:
    """An operator's syntax error in templates/**/*.html is reported at start with file:line."""
    import shutil

    from autoreply.errors import ConfigError
    from autoreply.web.app import create_app
    from tests.conftest import ROOT, make_settings

    templates = tmp_path / "templates"
    shutil.copytree(ROOT / "templates", templates)
    (templates / "rep" / "login.html").write_text("{% if %}", encoding="utf-8")
    try:
        create_app(make_settings(templates_dir=templates))
    except ConfigError as exc:
        assert f"{templates / 'rep' / 'login.html'}:1: template syntax" in str(exc)
    else:
        raise AssertionError("the broken template was not reported")


FORM = {
    "consent": "yes",  # 個人情報の取り扱いに同意する
    "document": "case-book",
    "company": "株式会社サンプル",
    "name": "山田太郎",
    "email": "taro@example.com",
    "message": "週末の問い合わせに返信できていません",
}


def test_with_nothing_configured_form_replies_land_in_var_mail(tmp_path: Path) -> None:
    """The quick start: a form post is answered by an .eml file under ./var/mail within
    seconds, and the log says where it went."""
    with served(tmp_path) as base:
        posted = httpx.post(f"{base}/forms/document-request", data=FORM, timeout=5)
        assert posted.status_code == 303
        deadline = time.monotonic() + 10
        while not list((tmp_path / "var" / "mail").glob("*.eml")):
            assert time.monotonic() < deadline, "no .eml file was written"
            time.sleep(0.1)
    [mail] = list((tmp_path / "var" / "mail").glob("*.eml"))
    assert b"Auto-Submitted: auto-replied" in mail.read_bytes()


def test_the_worker_command_delivers_what_serve_queued(tmp_path: Path) -> None:
    """`serve` with AUTOREPLY_RUN_WORKER=false only queues; `autoreply worker --once`
    (another process) delivers to the SMTP server, once, however often it runs."""
    from tests.integration.test_cli import run
    from tests.mailserver import mail_server

    with mail_server() as smtp:
        smtp_env = {
            "AUTOREPLY_SMTP_HOST": "127.0.0.1",
            "AUTOREPLY_SMTP_PORT": str(smtp.port),
            "AUTOREPLY_SMTP_TLS": "none",
        }
        with served(tmp_path, AUTOREPLY_RUN_WORKER="false", **smtp_env) as base:
            posted = httpx.post(f"{base}/forms/document-request", data=FORM, timeout=5)
            assert posted.status_code == 303
            time.sleep(0.5)
            assert smtp.recorder.received == []
        outputs = []
        for _ in range(2):
            result = run("worker", "--once", cwd=tmp_path, env=smtp_env)
            assert result.returncode == 0, result.stderr
            outputs.append(result.stdout.strip())
        assert outputs == ["outbox: 1 handled", "outbox: 0 handled"]
        assert [r.rcpt_tos for r in smtp.recorder.received] == [["taro@example.com"]]
