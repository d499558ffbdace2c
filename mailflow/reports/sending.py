"""Weekly and monthly reports mailed by the daemon's scheduler, each period's once.

The weekly report (``[reports] weekly_to``) goes at ``weekly_at`` (default Monday 09:00) for
the ISO week before; the monthly one (``monthly_to``) at ``monthly_at`` (default the 1st,
09:00) for the month before, both in the support time zone. The job asks which report is due
now: the latest of each kind whose moment has passed. So a daemon that was down at 09:00
sends it when it comes back; older missed ones are not sent late. A ``ReportSent`` row,
unique per kind and period and written in the transaction of the outbox row, makes the send
exactly-once across restarts, crashes and several daemons.
"""

from __future__ import annotations

import datetime as dt
import logging

from mailflow.config import Config
from mailflow.delivery import mime, outbox
from mailflow.delivery.mime import OutgoingMail
from mailflow.mail.addresses import Address
from mailflow.reports import html, report
from mailflow.reports.periods import Period, month_of, week_of
from mailflow.services import Services
from mailflow.store.database import transaction
from mailflow.store.models import ReportSent, utc

log = logging.getLogger(__name__)

SUBJECTS = {"zh_CN": "技术支持分析报告", "en": "Support report"}


def due(now: dt.datetime, config: Config) -> list[tuple[str, Period, tuple[str, ...]]]:
    """(kind, period, recipients) of the reports whose moment has passed, the latest each."""
    tz = config.support.tz
    local = now.astimezone(tz)
    wanted = config.reports
    found = []
    if wanted.weekly_to:
        day = local.date() - dt.timedelta(days=(local.weekday() - wanted.weekly_day) % 7)
        if dt.datetime.combine(day, wanted.weekly_time, tz) > local:
            day -= dt.timedelta(days=7)
        found.append(("weekly", week_of(day - dt.timedelta(days=7), tz), wanted.weekly_to))
    if wanted.monthly_to:
        day = local.date().replace(day=wanted.monthly_day)
        if dt.datetime.combine(day, wanted.monthly_time, tz) > local:
            day = (day.replace(day=1) - dt.timedelta(days=1)).replace(day=wanted.monthly_day)
        month = month_of(day.replace(day=1) - dt.timedelta(days=1), tz)
        found.append(("monthly", month, wanted.monthly_to))
    return found


def language(config: Config) -> str:
    return config.reports.language or config.support.language


def mail(data: dict[str, object], config: Config, to: tuple[str, ...]) -> OutgoingMail:
    """The report as the mail the scheduler sends (ChartError without a CJK font)."""
    lang = language(config)
    page, text, images = html.for_mail(data, config, lang, config.support.domain)
    period = data["period"]
    assert isinstance(period, dict)
    return OutgoingMail(
        sender=Address(config.support.name, config.support.address),
        to=tuple(Address("", a) for a in to),
        subject=f"{SUBJECTS[lang]} {period['name']}",
        text=text,
        html=page,
        auto_submitted="auto-generated",
        images=images,
    )


def eml(data: dict[str, object], config: Config, now: dt.datetime, token: str) -> bytes:
    """The report mail as RFC 5322 bytes (``mailflow report --format eml``)."""
    message = mail(data, config, (config.support.address,))
    return mime.build(message, mime.make_message_id(token, config.support.domain, None), now)


def send_due(now: dt.datetime, services: Services) -> list[str]:
    """Queue every report due at ``now`` that was not sent yet; their keys."""
    config = services.config
    sent = []
    for kind, period, to in due(now, config):
        key = f"{kind}:{period.name}"
        if ReportSent.select().where(ReportSent.key == key).exists():
            continue
        data = report.build(services.db, config, period, now, config.reports.for_requesters)
        message = mail(data, config, to)  # built outside the transaction: it takes a while
        with transaction(services.db):
            if ReportSent.select().where(ReportSent.key == key).exists():
                continue  # another daemon was quicker
            inserted = (
                ReportSent.insert(key=key, at=utc(now), recipients=list(to))
                .on_conflict_ignore()
                .execute()
            )
            if inserted is None:
                continue
            outbox.queue(message, f"report_{kind}", None, now, services.token())
        log.info("report %s queued for %s", key, ", ".join(to))
        sent.append(key)
    return sent
