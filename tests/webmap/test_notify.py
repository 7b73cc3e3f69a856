"""Notifications: who is told of what, the bell, and what reaches a real SMTP server
(aiosmtpd) and a local webhook receiver, exactly once, with two sender processes at once."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from email import message_from_bytes
from email.header import decode_header, make_header
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import create_engine, select, text
from sqlalchemy.orm import Session

from geo import notify
from geo.models import Delivery, Issue, Notification
from tests.conftest import ROOT, client_as, county_today, create_database, drop_database

SECRET = "webhook-secret"


class Inbox:
    def __init__(self) -> None:
        self.messages: list[Any] = []
        self.lock = threading.Lock()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802 (aiosmtpd's name)
        with self.lock:
            self.messages.append(message_from_bytes(envelope.content))
        return "250 OK"

    def subjects(self) -> list[str]:
        return [str(make_header(decode_header(m["Subject"]))) for m in self.messages]


@pytest.fixture(scope="module")
def smtp() -> Iterator[tuple[Inbox, int]]:
    import socket

    with socket.socket() as probe:  # aiosmtpd checks it is up by connecting: it needs a real port
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    yield inbox, port
    controller.stop()


class Hooks(ThreadingHTTPServer):
    received: list[dict[str, Any]]


@pytest.fixture(scope="module")
def webhook() -> Iterator[Hooks]:
    class Receiver(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802
            body = self.rfile.read(int(self.headers["Content-Length"]))
            self.server.received.append({  # type: ignore[attr-defined]
                "body": json.loads(body), "raw": body, "timestamp": self.headers["X-Gridwalk-Timestamp"],
                "signature": self.headers.get("X-Gridwalk-Signature"), "key": self.headers["X-Gridwalk-Delivery"]})
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b'{"errcode":0}')

        def log_message(self, *args: Any) -> None:
            pass

    server = Hooks(("127.0.0.1", 0), Receiver)
    server.received = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()
    thread.join()


@pytest.fixture
def cadre_login(session, world, role_users):  # type: ignore[no-untyped-def]
    """The building's cadre (张三) has a login, with an e-mail."""
    user = role_users["grid"]
    user.person_id, user.email = world.cadre.id, "zhangsan@example.cn"
    session.flush()
    return user


def notifications_of(session, user) -> list[Notification]:  # type: ignore[no-untyped-def]
    session.expire_all()
    return list(session.scalars(select(Notification).where(Notification.user_id == user.id).order_by(Notification.id)))


def report_at_the_building(app) -> int:  # type: ignore[no-untyped-def]
    reporter = client_as(app, "party")
    answer = reporter.post("/api/v1/issues", json={"lon": 109.4745, "lat": 29.9845, "category": "安全隐患",
                                                   "description": "消防通道被堵"})
    assert answer.status_code == 201, answer.data
    return answer.get_json()["id"]  # type: ignore[no-any-return]


def test_a_report_tells_the_cadres_it_went_to_and_the_bell_counts_it(app, session, world, cadre_login):
    issue_id = report_at_the_building(app)
    [told] = notifications_of(session, cadre_login)
    assert told.kind == "routed" and told.issue_id == issue_id and "贡水花园1栋" in told.title
    [mail] = session.scalars(select(Delivery).where(Delivery.notification_id == told.id))
    assert (mail.channel, mail.target, mail.status) == ("email", "zhangsan@example.cn", "pending")
    page = client_as(app, "grid", api=False)
    bar = page.get("/notifications").get_data(as_text=True)
    # On the bell and on the menu button (a phone's folded menu), and asked again by the page.
    assert bar.count('class="gw-bell-count">1<') == 2 and "新问题：安全隐患（贡水花园1栋）" in bar
    assert page.get("/notifications/unread").get_json() == {"unread": 1}
    read = page.post("/notifications/read", data={"csrf_token": page.csrf, "id": told.id, "issue_id": issue_id})
    assert read.status_code == 303 and read.headers["Location"].endswith(f"#issue={issue_id}")
    assert 'class="gw-bell-count" hidden>0<' in page.get("/notifications").get_data(as_text=True)
    assert page.get("/notifications/unread").get_json() == {"unread": 0}


def test_a_referral_tells_the_new_unit_and_posts_to_its_robot(app, session, world, role_users):
    world.dept.webhook_url = "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=abc"
    session.flush()
    issue_id = report_at_the_building(app)
    officer = client_as(app, "community")
    version = officer.get(f"/api/v1/issues/{issue_id}").get_json()["version"]
    refer = officer.post(f"/api/v1/issues/{issue_id}/events", json={
        "kind": "refer", "unit_id": world.dept.id, "note": "占道问题转城管", "version": version})
    assert refer.status_code == 201, refer.data
    hooks = list(session.scalars(select(Delivery).where(Delivery.channel == "webhook")))
    assert [(h.target, h.subject) for h in hooks] == [
        (world.dept.webhook_url, "转办问题：安全隐患（贡水花园1栋）")]


def test_deadlines_and_wishes_are_told_once_however_often_the_scan_runs(app, session, world, cadre_login, role_users):
    today = county_today()  # the county's day: a promise for "today" is checked against it
    issue = session.get(Issue, report_at_the_building(app))
    issue.deadline = today + dt.timedelta(days=1)
    member = role_users["party"]
    member.person_id = world.member.id  # 李四, the party member of the building's households
    session.flush()
    now = dt.datetime.now()
    first = notify.scan(session, today, now.replace(hour=6))
    again = notify.scan(session, today, now.replace(hour=6))
    assert first["due"] == 2 and again["due"] == 0  # 张三 and 李四, both of the unit holding it
    issue.deadline = today - dt.timedelta(days=1)
    session.flush()
    assert notify.scan(session, today, now.replace(hour=6))["overdue"] == 2
    kinds = [n.kind for n in notifications_of(session, cadre_login)]
    assert kinds == ["routed", "due", "overdue"]

    visit = client_as(app, "party").post("/api/v1/visits", json={
        "household_id": world.households[0].id, "hours": 1, "wish_title": "楼道灯坏了"})
    assert visit.status_code == 201, visit.data
    claimer = client_as(app, "party")
    wish = claimer.get("/api/v1/wishes?status=open").get_json()[0]
    claim = claimer.post(f"/api/v1/wishes/{wish['id']}/claim", json={
        "version": 1, "promised_on": today.isoformat()})
    assert claim.status_code == 200, claim.data
    assert [n.kind for n in notifications_of(session, member)][-1:] == ["wish_claimed"]
    later = today + dt.timedelta(days=2)
    assert notify.scan(session, later, now.replace(hour=6))["wish_overdue"] == 1
    assert notify.scan(session, later, now.replace(hour=6))["wish_overdue"] == 0
    # From seven o'clock each cadre with unread notifications and an e-mail gets one digest a day.
    assert notify.scan(session, later, now.replace(hour=8))["digest"] == 1
    assert notify.scan(session, later, now.replace(hour=9))["digest"] == 0
    digest = notifications_of(session, cadre_login)[-1]
    assert digest.kind == "digest" and "3 条未读通知" in digest.body


def test_queued_mail_and_webhooks_arrive_signed_and_once(app, session, world, cadre_login, smtp, webhook):
    inbox, port = smtp
    world.unit.webhook_url = f"http://127.0.0.1:{webhook.server_port}/robot"
    session.flush()
    before_mail, before_hooks = len(inbox.messages), len(webhook.received)
    report_at_the_building(app)
    channels = notify.Channels(smtp_host="127.0.0.1", smtp_port=port, smtp_from="gridwalk@county.cn",
                               webhook_secret=SECRET)
    assert notify.send(session, channels) == {"sent": 2, "failed": 0}
    assert notify.send(session, channels) == {"sent": 0, "failed": 0}
    mails = inbox.messages[before_mail:]
    assert len(mails) == 1 and mails[0]["To"] == "zhangsan@example.cn"
    assert inbox.subjects()[-1] == "新问题：安全隐患（贡水花园1栋）"
    [hook] = webhook.received[before_hooks:]
    assert hook["body"]["msgtype"] == "text" and "消防通道被堵" in hook["body"]["text"]["content"]
    assert hook["signature"] == notify.signature(SECRET, hook["timestamp"], hook["raw"])


def test_a_delivery_the_server_refuses_is_tried_again_later_not_lost(app, session, world, cadre_login):
    report_at_the_building(app)
    closed = notify.Channels(smtp_host="127.0.0.1", smtp_port=1, timeout=2)
    assert notify.send(session, closed) == {"sent": 0, "failed": 1}
    [mail] = session.scalars(select(Delivery))
    session.refresh(mail)
    assert (mail.status, mail.attempts) == ("pending", 1) and mail.error
    assert mail.next_at > dt.datetime.now(dt.timezone.utc)  # not before its back-off


@pytest.fixture
def committed_queue() -> Iterator[str]:
    """A database of its own holding 40 queued deliveries, committed (senders in other
    processes must see them)."""
    name = f"gridwalk_notify_{uuid.uuid4().hex[:8]}"
    url = create_database(name)
    engine = create_engine(url)
    with Session(engine) as s:
        s.execute(text("INSERT INTO deliveries (key, channel, target, subject, body) SELECT 'k' || n, "
                       "CASE WHEN n % 4 = 0 THEN 'webhook' ELSE 'email' END, "
                       "CASE WHEN n % 4 = 0 THEN :hook ELSE 'cadre' || n || '@example.cn' END, "
                       "'通知 ' || n, '内容' FROM generate_series(1, 40) n"), {"hook": "http://placeholder"})
        s.commit()
    engine.dispose()
    yield url
    drop_database(name)


def test_two_sender_processes_at_once_deliver_each_exactly_once(committed_queue, smtp, webhook):
    inbox, port = smtp
    engine = create_engine(committed_queue)
    with engine.begin() as conn:
        conn.execute(text("UPDATE deliveries SET target = :t WHERE channel = 'webhook'"),
                     {"t": f"http://127.0.0.1:{webhook.server_port}/robot"})
    before_mail, before_hooks = len(inbox.messages), len(webhook.received)
    env = dict(os.environ, DATABASE_URL=committed_queue, SMTP_HOST="127.0.0.1", SMTP_PORT=str(port),
               WEBHOOK_SECRET=SECRET, SECRET_KEY="x")
    senders = [subprocess.Popen([sys.executable, "-c", "from webmap.cli import main; main()", "notify", "run",
                                 "--send-only"], env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True) for _ in range(2)]
    outputs = [p.communicate(timeout=120) for p in senders]
    assert all(p.returncode == 0 for p in senders), outputs
    subjects = sorted(inbox.subjects()[before_mail:])
    assert subjects == sorted(f"通知 {n}" for n in range(1, 41) if n % 4), subjects
    keys = sorted(h["key"] for h in webhook.received[before_hooks:])
    assert keys == sorted(f"k{n}" for n in range(4, 41, 4))
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM deliveries WHERE status = 'sent'")).scalar() == 40
    engine.dispose()
    # Every delivery was sent by one of the two, and counted once.
    sent = [int(out.split("sent ")[1].split(",")[0]) for out, _ in outputs]
    assert sum(sent) == 40, outputs


def test_a_robot_that_answers_nonsense_fails_alone_and_the_next_delivery_still_goes(app, session, world,
                                                                                    cadre_login, smtp):
    import socket

    inbox, port = smtp
    garbage = socket.socket()
    garbage.bind(("127.0.0.1", 0))
    garbage.listen()

    def answer_nonsense() -> None:
        conn, _ = garbage.accept()
        conn.recv(65536)
        conn.sendall(b"NONSENSE\r\n\r\n")
        conn.close()

    thread = threading.Thread(target=answer_nonsense, daemon=True)
    thread.start()
    world.unit.webhook_url = f"http://127.0.0.1:{garbage.getsockname()[1]}/robot"
    session.flush()
    before = len(inbox.messages)
    report_at_the_building(app)
    channels = notify.Channels(smtp_host="127.0.0.1", smtp_port=port)
    assert notify.send(session, channels) == {"sent": 1, "failed": 1}
    assert len(inbox.messages) == before + 1
    thread.join(5)
    garbage.close()


def test_a_webhook_address_that_cannot_work_is_refused_when_saved(app, world, role_users):
    admin = client_as(app, "admin")
    for url in ("ftp://robot.example/x", "http://robot.example:80x/send", "http:///send"):
        answer = admin.patch(f"/api/v1/units/{world.unit.id}", json={"webhook_url": url, "version": world.unit.version})
        assert answer.status_code == 400 and answer.get_json()["error"]["code"] == "bad_webhook", url

