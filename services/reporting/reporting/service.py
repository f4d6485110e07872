"""Reporting's entrypoints: every event into the store, figures from the read models (the
operations are in :mod:`reporting.handlers`)."""

from __future__ import annotations

from nameko.extensions import DependencyProvider
from nameko.timer import Timer

from reporting import handlers, queries, webhooks
from reporting.business_metrics import BusinessMetrics
from reporting.handlers import BoardCache
from reporting.models import metadata
from reporting.rebuild import KeepReadModelsCurrent
from werkbrug_shared.actor import CurrentActor
from werkbrug_shared.clock import Today
from werkbrug_shared.consuming import RpcProxy
from werkbrug_shared.db import Database
from werkbrug_shared.entrypoints import event_handler, rpc
from werkbrug_shared.errors import Forbidden, NotFound
from werkbrug_shared.events import CATALOGUE
from werkbrug_shared.events.envelope import utcnow
from werkbrug_shared.metrics import EntrypointMetrics
from werkbrug_shared.roles import COORDINATOR, JOBCOACH, JOBHUNTER, KLANTMANAGER
from werkbrug_shared.validation import load


class Targets(DependencyProvider):
    """``REPORTING_TARGETS`` from the config, checked when the service starts (a bad entry stops it
    with the entry and field named). Every replica reads the same config."""

    def setup(self):
        self.targets = queries.load_targets(self.container.config.get("REPORTING_TARGETS"))

    def get_dependency(self, worker_ctx):
        return self.targets


# who reads the partner feed and manages its webhooks: every partner role that works with people
# or vacancies (the board's figures need none; operators have the event store itself)
FEED_ROLES = (KLANTMANAGER, JOBHUNTER, JOBCOACH, COORDINATOR)


class Webhooks(DependencyProvider):
    """The webhook settings (``WEBHOOK_*``, ``WEBHOOKS_ALLOW_PRIVATE`` in the nameko config) and one
    pooled HTTP session for deliveries."""

    def setup(self):
        self.settings = webhooks.Settings.from_config(self.container.config)
        self.post = webhooks.Poster(self.settings)

    def get_dependency(self, worker_ctx):
        return self


class WebhookTimer(Timer):
    """Every ``WEBHOOK_POLL_SECONDS`` (nameko config; 0.5 s by default): deliver what is due."""

    def __init__(self, **kwargs):
        super().__init__(interval=0.5, **kwargs)

    def setup(self):
        raw = self.container.config.get("WEBHOOK_POLL_SECONDS")
        if raw not in (None, ""):
            self.interval = float(raw)
            if self.interval <= 0:
                raise ValueError(f"WEBHOOK_POLL_SECONDS must be a positive number of seconds, not {raw!r}")


class ReportingService:
    name = "reporting"

    db = Database(metadata)
    metrics = EntrypointMetrics()
    business_metrics = BusinessMetrics()
    upkeep = KeepReadModelsCurrent()
    targets_config = Targets()
    cache = BoardCache()
    clock = Today()
    caller = CurrentActor()
    hooks = Webhooks()
    candidates = RpcProxy("candidates")

    @event_handler(*CATALOGUE, batch=True)
    def store(self, events):
        """Every catalogued event lands here once; the read models follow in the same commit."""
        handlers.store_events(self.db, events)

    # --- figures --------------------------------------------------------------------------

    @rpc(public=True)
    def outflow(self, cohort=None, trajectory=None, target_group=None, region=None, period=None, suppress=True,
                group_by=None):
        """People in scope (enrolled), placed, the outflow rate, median days to placement and placements
        ended early, for the selection; ``rows`` per ``group_by`` (cohort, trajectory, region,
        target_group) and/or ``period`` (month, quarter, year). Counts of 1-4 read "< 5" and rates
        from them None unless ``suppress=False``."""
        query = load(queries.FigureQuery(), {
            "cohort": cohort, "trajectory": trajectory, "target_group": target_group, "region": region,
            "period": period, "suppress": suppress, "group_by": group_by}, "outflow query")
        return handlers.outflow(self.db, query)

    @rpc(public=True)
    def durability(self, cohort=None, trajectory=None, target_group=None, region=None, period=None, suppress=True,
                   group_by=None):
        """Placements still working 6 and 12 months after their start, as CBS counts them: of the
        placements whose mark is decided (sustained, or ended), the share that reached it."""
        query = load(queries.FigureQuery(), {
            "cohort": cohort, "trajectory": trajectory, "target_group": target_group, "region": region,
            "period": period, "suppress": suppress, "group_by": group_by}, "durability query")
        return handlers.durability(self.db, query)

    @rpc(public=True)
    def targets(self):
        """Each configured target (``REPORTING_TARGETS``): realised against the target, per month."""
        return handlers.targets(self.db, self.targets_config, self.clock.today())

    @rpc(public=True)
    def board_version(self):
        """The read models' version: it grows with every change; fetch ``board()`` when it did."""
        return handlers.board_version(self.db)

    @rpc(public=True)
    def board(self):
        """The regional board, suppressed (counts of 1-4 read "< 5", rates from them None). A contract::

            {"version": int, "as_of": ISO time of the latest event applied | None,
             "totals": {enrolled, placed, outflow_rate, median_days_to_placement, ended_early,
                        sustained_6m_rate, sustained_12m_rate},
             "by_target_group": [{"target_group", ...the totals' keys}],   # all six, fixed order
             "by_cohort": [{"cohort", ...the totals' keys}],               # by name
             "trend": [{"period": "2026-01", "enrolled", "placed"}],       # months, oldest first, gaps filled
             "targets": [{"id", "label", "target", "realised", "share", "start", "end",
                          "trend": [{"period": "2026-01", "realised"}]}],  # realised cumulative per month
             "aftercare": [{"organisation", "open", "overdue"}],           # organisations with open tasks
             "fairness": [{"target_group", "top_share", "pool_share"}]}
        """
        return handlers.board(self.db, self.cache, self.targets_config, self.clock.today())

    # --- the partner change feed ------------------------------------------------------------

    @rpc(roles=FEED_ROLES)
    def feed(self, after=None, types=None, limit=100):
        """What the calling organisation may see, after position ``after`` (0 or None: from the
        start; every position stays replayable), in position order, at most ``limit`` (1-1000)::

            {"events": [CloudEvent with "position"], "next": position to ask after next, "head": int}

        Published vacancies opened, updated, filled and closed (a closed one, or one no longer
        public, as ``{"vacancy_id"}`` alone), the caller's candidates' status changes, its
        placements and their outcomes. ``types``: event type names to keep."""
        return handlers.feed(self.db, self.caller.require().organisation, after, types, limit)

    @rpc(roles=FEED_ROLES)
    def feed_snapshot(self):
        """The published vacancies as they are now, each as its latest event, and the ``position``
        they are consistent with: ``feed(after=position)`` carries on from there."""
        self.caller.require()
        return handlers.feed_snapshot(self.db)

    @rpc(roles=FEED_ROLES)
    def subscribe_webhook(self, url, types=None, after=None):
        """Deliver the caller's feed (``types`` only, if given) to ``url`` from position ``after``
        (default: from now). The reply holds the signing ``secret``, shown this once."""
        return handlers.subscribe_webhook(self.db, self.caller.require(), url, types, after, utcnow(),
                                          self.hooks.settings)

    @rpc(roles=FEED_ROLES)
    def list_webhooks(self):
        """The caller's webhooks: URL, types, cursor, delivered, pending and dead-lettered counts (no secret)."""
        return handlers.list_webhooks(self.db, self.caller.require())

    @rpc(roles=FEED_ROLES)
    def unsubscribe_webhook(self, subscription_id):
        return handlers.unsubscribe_webhook(self.db, self.caller.require(), subscription_id)

    @rpc(roles=FEED_ROLES)
    def webhook_dead_letters(self, subscription_id, limit=100):
        """The deliveries given up after the bound of attempts, oldest first."""
        return handlers.webhook_dead_letters(self.db, self.caller.require(), subscription_id, limit)

    @rpc(roles=FEED_ROLES)
    def replay_webhook(self, subscription_id, after):
        """Deliver again every event after position ``after``, dead letters among them."""
        return handlers.replay_webhook(self.db, self.caller.require(), subscription_id, after, utcnow())

    @WebhookTimer.decorator
    def deliver_webhooks(self):
        handlers.deliver_webhooks(self.db, self.hooks.post, self.hooks.settings, utcnow)

    # --- inzage ------------------------------------------------------------------------------

    @rpc(roles=(KLANTMANAGER,))
    def inzage(self, candidate_id):
        """Everything reporting holds on one person (the stored events naming them), for the
        organisation that registered them: ``{"service": "reporting", "records": {"events": [...]}}``."""
        return handlers.inzage(self.db, self.caller.require(), candidate_id, self._registered_by)

    def _registered_by(self, candidate_id):
        """Who registered a candidate, asked of candidates (``custodian``) with the caller's own
        credential: the caller when it did, else None."""
        try:
            return self.candidates.custodian(candidate_id).get("registered_by")
        except (NotFound, Forbidden):
            return None
