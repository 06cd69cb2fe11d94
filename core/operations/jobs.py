"""The periodic jobs (công việc định kỳ) and the one scheduler that runs them (APScheduler).

:data:`REGISTRY` names every job with its schedule (Vietnam time, cron fields) and the function
that does it. Adding a job is one line: ``register(Job("name", "what it does", {"hour": 6},
function))``, where ``function(context) -> str`` returns what it did in a sentence. The
scheduler (``sohoa scheduler``: one process per installation, a systemd service in
``deploy/``) runs each job at its times, never two runs of one job at once, a missed run once
(coalesced) when the machine was down; ``sohoa scheduler --run JOB`` runs one now (cron, a
test, an operator). No hand-written loop.
"""
from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy import select

from core.access.authz import SYSTEM
from core.kernel import clock, settings
from core.kernel.errors import NotFound, SohoaError
from core.storage.db import Database

log = logging.getLogger("sohoa.jobs")


@dataclass
class JobContext:
    """What a job receives: the record store and the installation's settings."""

    db: Database
    settings: settings.Settings
    now: Callable[[], dt.datetime] = clock.now
    cache: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Job:
    name: str
    description: str
    #: cron fields in Vietnam time (``apscheduler.triggers.cron.CronTrigger``), e.g.
    #: ``{"minute": 5}`` hourly, ``{"hour": 2, "minute": 0}`` nightly
    schedule: dict
    run: Callable[[JobContext], str]


REGISTRY: dict[str, Job] = {}


def register(job: Job) -> Job:
    """Add a job to the registry (its name is its identity: registering a name again replaces it)."""
    REGISTRY[job.name] = job
    return job


# ---------------------------------------------------------------------------------- the jobs
def logbook_weeks(context: JobContext) -> str:
    """This week's and next week's logbook entries for every school with a timetable in force
    (idempotent: existing entries are kept)."""
    from core.logbook.entries import generate_week
    from core.storage.models import School, SchoolWeek

    today = context.now().date()
    made = skipped = 0
    with context.db.reading() as session:
        schools = list(session.scalars(select(School.id)))
        weeks = list(session.scalars(select(SchoolWeek.id).where(
            SchoolWeek.monday > today - dt.timedelta(days=7), SchoolWeek.monday <= today + dt.timedelta(days=7))))
    for school_id in schools:
        for week_id in weeks:
            try:
                made += generate_week(context.db, SYSTEM, school_id, week_id)
            except SohoaError:  # no timetable in force that week: nothing to generate
                skipped += 1
    return f"{made} entries generated ({len(schools)} schools, {len(weeks)} weeks, {skipped} without a timetable)"


def lessons_missed(context: JobContext) -> str:
    """Every period still unsigned after its day becomes MISSED (nightly)."""
    from core.logbook.entries import mark_missed

    return f"{mark_missed(context.db, SYSTEM, context.now())} periods marked missed"


def reminders(context: JobContext) -> str:
    """Remind the teachers of every school who have unsigned periods this week, then send the
    outbox by mail (settings smtp_host, smtp_port, mail_from; without a mail server the
    reminders wait in the outbox, shown in the console)."""
    from core.access.admin import deliver_outbox, send_reminders
    from core.storage.models import School

    with context.db.reading() as session:
        schools = list(session.scalars(select(School.id)))
    queued = sum(send_reminders(context.db, SYSTEM, school_id, context.now()) for school_id in schools)
    sent = deliver_outbox(context.db)
    return f"{queued} reminders queued, {sent} mails sent"


def receipts_seal(context: JobContext) -> str:
    """Seal the receipts still waiting (those an API process left when it stopped; the API's own
    sealer does the rest within a second), so that every receipt is in a sealed batch."""
    from core.evidence.checkpoints import seal_from_environment
    from core.logbook.receipts import seal_all

    seal = seal_from_environment()
    if seal is None:
        return "no service seal configured (seal_key, seal_pin): nothing sealed"
    batches = seal_all(context.db, seal)
    return f"{sum(b.size for b in batches)} receipts sealed in {len(batches)} batches"


def checkpoint(context: JobContext) -> str:
    """A checkpoint outside the database (``sohoa checkpoint``), when something happened."""
    from core.evidence.checkpoints import seal_from_environment, write_checkpoint
    from core.evidence.store import DirectoryStore

    seal = seal_from_environment()
    if seal is None:
        return "no service seal configured (seal_key, seal_pin): no checkpoint"
    store = DirectoryStore(context.settings.effective_checkpoint_dir)
    written = write_checkpoint(context.db, seal, store, reason="periodic")
    return "nothing new since the last checkpoint" if written is None else f"checkpoint {written.name}"


def retimestamp(context: JobContext) -> str:
    """Renew the archive timestamps that are due (``sohoa retimestamp``; daily)."""
    from core.signatures.ltv import tsa_url
    from core.signatures.renewal import retimestamp as renew

    tsa = tsa_url()
    if not tsa:
        return "no timestamp authority configured (tsa_url): nothing renewed"
    return str(renew(context.db, SYSTEM, tsa))


def analytics_refresh(context: JobContext) -> str:
    """Bring the analytics store up to date with the record store (incremental)."""
    from core.analytics.store import AnalyticsStore, refresh

    return str(refresh(context.db, AnalyticsStore(context.settings.effective_analytics_dir)))


register(Job("logbook-weeks", "this week's and next week's logbook entries from the timetables",
             {"hour": 5, "minute": 0}, logbook_weeks))
register(Job("lessons-missed", "unsigned periods of past days marked missed", {"hour": 23, "minute": 30},
             lessons_missed))
register(Job("reminders", "teachers with unsigned periods reminded (outbox, then mail)",
             {"day_of_week": "mon-sat", "hour": 16, "minute": 30}, reminders))
register(Job("receipts-seal", "receipts left unsealed sealed (a batch of the chain)", {"minute": "*/10"},
             receipts_seal))
register(Job("checkpoint", "a checkpoint outside the database (sealed, timestamped)", {"minute": 5}, checkpoint))
register(Job("retimestamp", "archive timestamps renewed before they lapse", {"hour": 2, "minute": 0}, retimestamp))
register(Job("analytics-refresh", "the analytics store refreshed from the record store", {"minute": "*/15"},
             analytics_refresh))


# ---------------------------------------------------------------------------------- running them
def run_job(name: str, context: JobContext) -> str:
    """Run one job now, logged (JSON) with its duration; its outcome in a sentence."""
    from core.operations.observability import JOB_RUNS

    job = REGISTRY.get(name)
    if job is None:
        raise NotFound(f"no job {name!r} (jobs: {', '.join(sorted(REGISTRY))})",
                       message_vi=f"Không có công việc {name!r}")
    started = time.perf_counter()
    try:
        outcome = job.run(context)
    except Exception:
        JOB_RUNS.labels(job=name, outcome="failed").inc()
        log.exception("job failed", extra={"job": name})
        raise
    JOB_RUNS.labels(job=name, outcome="done").inc()
    log.info("job done", extra={"job": name, "outcome": outcome,
                                "seconds": round(time.perf_counter() - started, 3)})
    return outcome


def scheduler(context: JobContext, *, blocking: bool = True, names: list[str] | None = None):
    """The APScheduler scheduler with every registered job (or ``names``) at its schedule, in
    Vietnam time; one run of a job at a time, missed runs coalesced into one."""
    from apscheduler.schedulers.background import BackgroundScheduler
    from apscheduler.schedulers.blocking import BlockingScheduler
    from apscheduler.triggers.cron import CronTrigger

    kind = BlockingScheduler if blocking else BackgroundScheduler
    chosen = REGISTRY if names is None else {n: REGISTRY[n] for n in names}
    scheduled = kind(timezone=clock.VN_TZ, job_defaults={"coalesce": True, "max_instances": 1,
                                                         "misfire_grace_time": 3600})

    def safely(name: str) -> None:
        try:
            run_job(name, context)
        except Exception:  # noqa: BLE001 - logged by run_job; the next run is due anyway
            pass

    for name, job in chosen.items():
        scheduled.add_job(safely, CronTrigger(timezone=clock.VN_TZ, **job.schedule), args=[name], id=name,
                          name=job.description)
    return scheduled
