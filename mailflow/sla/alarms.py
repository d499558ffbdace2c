"""Telling the operators, once, about a condition only a person can fix."""

from __future__ import annotations

import datetime as dt
import logging

from mailflow.config import Config
from mailflow.delivery import outbox
from mailflow.delivery.mailing import base_context, sample_ticket
from mailflow.delivery.mime import OutgoingMail
from mailflow.mail.addresses import Address
from mailflow.services import Services
from mailflow.store.models import Alarm, utc

log = logging.getLogger(__name__)


def operators(config: Config) -> list[Address]:
    """``[operations] alarm_to``; without it the head of support, else every supervisor."""
    if config.operations.alarm_to:
        return [Address("", a) for a in config.operations.alarm_to]
    head = config.person(config.sla.head) if config.sla.head else None
    people = [head] if head else [p for p in config.people if p.role == "supervisor"]
    return [Address(p.name, p.email) for p in people]


def alarm_once(
    key: str, kind: str, alarm: dict[str, object], now: dt.datetime, services: Services
) -> bool:
    """Mail ``kind`` to the operators unless alarm ``key`` was raised before; call inside a
    transaction (the Alarm row and the outbox row commit together). True when raised now."""
    if Alarm.select().where(Alarm.key == key).exists():
        return False
    # Writers are serialised on SQLite; on PostgreSQL a daemon that lost the race gets None.
    inserted = (
        Alarm.insert(key=key, at=utc(now), detail=str(alarm.get("detail", "")))
        .on_conflict_ignore()
        .execute()
    )
    if inserted is None:
        return False
    config = services.config
    to = operators(config)
    log.error("%s: %s (told: %s)", key, alarm.get("detail", ""), ", ".join(a.email for a in to))
    if not to:
        return True
    context = base_context(config, sample_ticket("", now))
    context["alarm"] = alarm
    rendered = services.renderer.render(kind, config.support.language, context)
    mail = OutgoingMail(
        sender=Address(config.support.name, config.support.address),
        to=tuple(to),
        subject=rendered.subject,
        text=rendered.text,
        html=rendered.html,
        auto_submitted="auto-generated",
    )
    outbox.queue(mail, kind, None, now, services.token())
    return True
