"""Notifications: the responsible people are told when an issue is routed or referred to
them, nears or passes its deadline, or when a wish is claimed or overdue.

Each is one row of `notifications` per user, with a key naming what it is about
("issue:12:routed:40", "issue:12:overdue:2026-12-09"): the key is unique per user, so
however many app processes or runs of `gridwalk notify run` see the same thing, a user is
told once. A notification is the bell in the app; it also queues a delivery per channel
the user or the unit has (an e-mail to users.email, a signed POST to units.webhook_url,
for a WeCom or DingTalk robot), in the same transaction as what it tells of, so nothing is
told that was rolled back. `send` takes queued deliveries with FOR UPDATE SKIP LOCKED: two
senders never take the same one. A delivery is marked sent in the transaction that took
it, right after the server accepted it; a sender killed between the two (a window of
milliseconds) sends that one again on the next run.

Routed and referred are told when they happen (geo.issues and geo.residents call
`issue_event`); deadlines, wishes and the daily digest by `scan`, which `gridwalk notify
run` calls (from cron, every few minutes).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import smtplib
import urllib.request
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Any

from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from geo.models import (NOTIFICATION_KINDS, Assignment, Delivery, Issue, IssueEvent, Notification, Person, Unit,
                        User, Wish)
from geo.responsibility import current

KINDS = NOTIFICATION_KINDS
DUE_DAYS = 1  # "nears its deadline": the day before
OVERDUE_TOLD_DAYS = 7
ATTEMPTS = 5
SENT_BATCH = 50


@dataclass(frozen=True)
class Channels:
    """Where deliveries go: SMTP for e-mail, a secret to sign webhook bodies."""

    smtp_host: str = ""
    smtp_port: int = 25
    smtp_from: str = ""
    smtp_user: str = ""
    smtp_password: str = ""
    smtp_tls: bool = False
    webhook_secret: str = ""
    timeout: float = 10.0

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> Channels:
        return cls(smtp_host=config.get("SMTP_HOST") or "", smtp_port=int(config.get("SMTP_PORT") or 25),
                   smtp_from=config.get("SMTP_FROM") or "", smtp_user=config.get("SMTP_USER") or "",
                   smtp_password=config.get("SMTP_PASSWORD") or "", smtp_tls=config.get("SMTP_TLS") == "1",
                   webhook_secret=config.get("WEBHOOK_SECRET") or "")


# --- who is told ----------------------------------------------------------------------


def _users(session: Session, *, person_ids: Iterable[int] = (), unit_ids: Iterable[int] = ()) -> list[User]:
    """The active logins of these people, and of the people of these units."""
    person_ids, unit_ids = list(person_ids), list(unit_ids)
    if not person_ids and not unit_ids:
        return []
    people = or_(Person.id.in_(person_ids), Person.unit_id.in_(unit_ids))
    return list(session.scalars(select(User).join(Person, Person.id == User.person_id)
                                .where(User.active, people).order_by(User.id)))


def tell(session: Session, users: Iterable[User], key: str, kind: str, title: str, body: str,
         *, issue_id: int | None = None, wish_id: int | None = None, unit_ids: Iterable[int] = ()) -> int:
    """One notification per user for `key` (a user already told of it is not told again),
    with its deliveries queued; a unit's webhook is queued once per key. Returns how many
    users were told now."""
    told = 0
    for user in users:
        row = session.execute(insert(Notification).values(
            user_id=user.id, key=key, kind=kind, title=title, body=body, issue_id=issue_id, wish_id=wish_id,
        ).on_conflict_do_nothing(index_elements=["user_id", "key"]).returning(Notification.id)).scalar()
        if row is None:
            continue
        told += 1
        if user.email:
            _queue(session, f"{key}:user{user.id}", "email", user.email, title, body, row)
    for unit in session.scalars(select(Unit).where(Unit.id.in_(list(unit_ids)), Unit.webhook_url != "")):
        _queue(session, f"{key}:unit{unit.id}", "webhook", unit.webhook_url, title, body, None)
    return told


def _queue(session: Session, key: str, channel: str, target: str, title: str, body: str,
           notification_id: int | None) -> None:
    session.execute(insert(Delivery).values(
        key=key, channel=channel, target=target, subject=title, body=body, notification_id=notification_id,
    ).on_conflict_do_nothing(index_elements=["key", "channel"]))


def issue_event(session: Session, event: IssueEvent, issue: Issue) -> None:
    """Tell the people an issue was just routed (reported) or referred to."""
    if event.kind == "reported":
        routing = (event.data or {}).get("routing", {})
        person_ids, unit_ids = routing.get("person_ids") or [], [routing["unit_id"]] if routing.get("unit_id") else []
        kind = "routed"
    elif event.kind == "refer":
        person_ids, unit_ids, kind = [], [event.unit_id] if event.unit_id else [], "referred"
    else:
        return
    where = _place(session, issue)
    title = {"routed": "新问题：{category}（{where}）", "referred": "转办问题：{category}（{where}）"}[kind].format(
        category=_category_name(session, issue.category), where=where)
    body = f"问题 #{issue.id}：{issue.description or '（无描述）'}"
    if issue.deadline:
        body += f"\n办理期限：{issue.deadline.isoformat()}"
    tell(session, _users(session, person_ids=person_ids, unit_ids=unit_ids), f"issue:{issue.id}:{kind}:{event.id}",
         kind, title, body, issue_id=issue.id, unit_ids=unit_ids)


def _category_name(session: Session, code: str) -> str:
    from geo.models import IssueCategory

    return session.scalar(select(IssueCategory.name).where(IssueCategory.code == code)) or code


def _place(session: Session, issue: Issue) -> str:
    from geo.models import Area, Building

    if issue.building_id:
        name = session.scalar(select(Building.name).where(Building.id == issue.building_id))
        if name:
            return name
    return session.scalar(select(Area.name).where(Area.id == issue.area_id)) or ""


def _holders(session: Session, issue: Issue) -> tuple[list[User], list[int]]:
    """Who holds an issue now: its unit's people, and the cadres it was routed to."""
    routed = session.scalar(select(IssueEvent.data).where(IssueEvent.issue_id == issue.id,
                                                          IssueEvent.kind == "reported").limit(1)) or {}
    person_ids = routed.get("routing", {}).get("person_ids") or []
    unit_ids = [issue.unit_id] if issue.unit_id else []
    return _users(session, person_ids=person_ids, unit_ids=unit_ids), unit_ids


# --- what the clock brings ------------------------------------------------------------


def scan(session: Session, today: dt.date, now: dt.datetime, digest_hour: int = 7) -> dict[str, int]:
    """Tell of deadlines near and passed, wishes claimed and overdue, and (from
    `digest_hour` on) each cadre's digest of the day. Run again, it tells nothing twice."""
    counts = dict.fromkeys(("due", "overdue", "wish_claimed", "wish_overdue", "digest"), 0)
    working = ("reported", "meeting", "referred")
    for issue in session.scalars(select(Issue).where(
            Issue.status.in_(working), Issue.deadline.is_not(None),
            # Deadlines older than a week are in the digest's count, not told one by one (a first
            # run on an old county would otherwise post every issue ever overdue).
            Issue.deadline.between(today - dt.timedelta(days=OVERDUE_TOLD_DAYS), today + dt.timedelta(days=DUE_DAYS)))):
        kind = "overdue" if issue.deadline < today else "due"
        users, unit_ids = _holders(session, issue)
        where = _place(session, issue)
        title = ("问题已超期：{c}（{w}）" if kind == "overdue" else "问题即将到期：{c}（{w}）").format(
            c=_category_name(session, issue.category), w=where)
        body = f"问题 #{issue.id} 的办理期限是 {issue.deadline.isoformat()}。"
        counts[kind] += tell(session, users, f"issue:{issue.id}:{kind}:{issue.deadline.isoformat()}", kind, title,
                             body, issue_id=issue.id, unit_ids=unit_ids)
    for wish in session.scalars(select(Wish).where(Wish.status == "claimed")):
        members = _household_members(session, wish.household_id)
        claimer = [wish.claimed_by_person_id] if wish.claimed_by_person_id else []
        counts["wish_claimed"] += wish_claimed(session, wish)
        if wish.promised_on is not None and wish.promised_on < today:
            counts["wish_overdue"] += tell(
                session, _users(session, person_ids=[*claimer, *members]),
                f"wish:{wish.id}:overdue:{wish.promised_on.isoformat()}", "wish_overdue",
                f"微心愿已超期：{wish.title}", f"承诺 {wish.promised_on.isoformat()} 前完成，尚未完成。", wish_id=wish.id)
    if now.hour >= digest_hour:
        counts["digest"] = _digests(session, today)
    return counts


def wish_claimed(session: Session, wish: Wish) -> int:
    """Tell the household's party members that its wish was claimed (once)."""
    if wish.claimed_on is None:
        return 0
    return tell(session, _users(session, person_ids=_household_members(session, wish.household_id)),
                f"wish:{wish.id}:claimed", "wish_claimed", f"微心愿已被认领：{wish.title}",
                f"认领日期 {wish.claimed_on.isoformat()}" +
                (f"，承诺 {wish.promised_on.isoformat()} 前完成" if wish.promised_on else ""), wish_id=wish.id)


def _household_members(session: Session, household_id: int) -> list[int]:
    return list(session.scalars(select(Assignment.person_id).where(
        Assignment.household_id == household_id, Assignment.person_id.is_not(None), current())))


def _digests(session: Session, today: dt.date) -> int:
    """Each cadre with an e-mail and unread notifications gets one digest a day."""
    rows = session.execute(
        select(User, func.count(Notification.id))
        .join(Notification, and_(Notification.user_id == User.id, Notification.read_at.is_(None),
                                 Notification.kind != "digest"))
        .where(User.active, User.email != "").group_by(User.id).order_by(User.id)
    ).all()
    sent = 0
    for user, unread in rows:
        titles = list(session.scalars(select(Notification.title).where(
            Notification.user_id == user.id, Notification.read_at.is_(None), Notification.kind != "digest")
            .order_by(Notification.created_at.desc()).limit(20)))
        body = f"您有 {unread} 条未读通知：\n" + "\n".join(f"· {t}" for t in titles)
        sent += tell(session, [user], f"digest:{today.isoformat()}", "digest", f"网格通每日摘要 {today.isoformat()}",
                     body)
    return sent


# --- the bell -------------------------------------------------------------------------


def unread(session: Session, user_id: int) -> int:
    return session.scalar(select(func.count()).where(Notification.user_id == user_id,
                                                     Notification.read_at.is_(None))) or 0


def listing(session: Session, user_id: int, limit: int = 50) -> list[dict[str, Any]]:
    rows = session.scalars(select(Notification).where(Notification.user_id == user_id)
                           .order_by(Notification.created_at.desc(), Notification.id.desc()).limit(limit))
    return [{"id": n.id, "kind": n.kind, "title": n.title, "body": n.body, "issue_id": n.issue_id,
             "wish_id": n.wish_id, "created_at": n.created_at.isoformat(),
             "read": n.read_at is not None} for n in rows]


def mark_read(session: Session, user_id: int, ids: list[int] | None = None) -> int:
    """Mark the user's notifications read (all, or these): another user's ids change nothing."""
    where = [Notification.user_id == user_id, Notification.read_at.is_(None)]
    if ids is not None:
        where.append(Notification.id.in_(ids))
    return session.execute(update(Notification).where(*where).values(read_at=func.now())).rowcount or 0


# --- sending --------------------------------------------------------------------------


def send(session: Session, channels: Channels, limit: int = SENT_BATCH) -> dict[str, int]:
    """Send queued deliveries, each in its own transaction, skipping those another sender
    holds. Returns how many were sent and how many failed (to be tried again later)."""
    done = {"sent": 0, "failed": 0}
    for _ in range(limit):
        delivery = session.scalar(
            select(Delivery).where(Delivery.status == "pending", Delivery.next_at <= func.now())
            .order_by(Delivery.id).limit(1).with_for_update(skip_locked=True))
        if delivery is None:
            session.rollback()
            break
        try:
            if delivery.channel == "email":
                _email(channels, delivery)
            else:
                _webhook(channels, delivery)
        except Exception as error:  # noqa: BLE001 (any failure of one delivery is that delivery's)
            delivery.attempts += 1
            delivery.error = str(error)[:500]
            delivery.status = "failed" if delivery.attempts >= ATTEMPTS else "pending"
            delivery.next_at = func.now() + dt.timedelta(minutes=2 ** delivery.attempts)
            done["failed"] += 1
        else:
            delivery.status, delivery.sent_at, delivery.error = "sent", func.now(), ""
            done["sent"] += 1
        session.commit()
    return done


def _email(channels: Channels, delivery: Delivery) -> None:
    if not channels.smtp_host:
        raise ValueError("SMTP_HOST is not set")
    message = EmailMessage()
    message["From"] = channels.smtp_from or "gridwalk@localhost"
    message["To"] = delivery.target
    message["Subject"] = delivery.subject
    message["Message-ID"] = f"<delivery-{delivery.id}-{delivery.key}@gridwalk>".replace(":", ".")
    message.set_content(delivery.body)
    smtp = smtplib.SMTP(channels.smtp_host, channels.smtp_port, timeout=channels.timeout)
    try:
        if channels.smtp_tls:
            smtp.starttls()
        if channels.smtp_user:
            smtp.login(channels.smtp_user, channels.smtp_password)
        smtp.send_message(message)
    finally:
        try:
            smtp.quit()  # the message is accepted already: a failed goodbye does not send it again
        except (OSError, smtplib.SMTPException):
            smtp.close()


def signature(secret: str, timestamp: str, body: bytes) -> str:
    """What X-Gridwalk-Signature carries: HMAC-SHA256 of "timestamp.body" under the secret."""
    return "sha256=" + hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()


def _webhook(channels: Channels, delivery: Delivery) -> None:
    # The text message WeCom and DingTalk group robots take as it is.
    body = json.dumps({"msgtype": "text", "text": {"content": f"{delivery.subject}\n{delivery.body}"}},
                      ensure_ascii=False).encode()
    timestamp = str(int(dt.datetime.now(dt.timezone.utc).timestamp()))
    request = urllib.request.Request(delivery.target, data=body, method="POST", headers={
        "Content-Type": "application/json; charset=utf-8", "X-Gridwalk-Timestamp": timestamp,
        "X-Gridwalk-Delivery": delivery.key,
        **({"X-Gridwalk-Signature": signature(channels.webhook_secret, timestamp, body)}
           if channels.webhook_secret else {})})
    with urllib.request.urlopen(request, timeout=channels.timeout) as response:  # noqa: S310 (configured URL)
        if response.status >= 300:
            raise ValueError(f"the webhook answered {response.status}")
