"""Day-by-day simulation of a customer base.

Each customer has latent traits (purchase rate, spend tier, session and ticket rates, a baseline
dropout hazard). Every day, the alive customers order, browse and open tickets; profiles, plans
and app versions change. The dropout hazard is the sum of causes a retention team can observe:

- support friction: recent tickets, weighted up when CSAT was low;
- a defective app release: tickets it caused, like friction, but attributed to the release;
- auto-renew switched off, or a plan cancelled by the customer;
- disengagement: activity decays for weeks before the customer leaves;
- a baseline with no observable cause.

A customer who drops out silently stops buying. The day and the cause that was drawn are kept as
the ground truth, which is written apart from the landing files and never ingested.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from churnmesh.generator.reference import (
    EMAIL_DOMAINS,
    FIRST_NAMES_FEMALE,
    FIRST_NAMES_MALE,
    LAST_NAMES,
    AppRelease,
    Reference,
)
from churnmesh.vocabulary import SOURCE_NAMES

DRIVERS = ("baseline", "support_friction", "app_release_defect", "auto_renew_off", "plan_cancelled", "disengagement")
DEVICES = ("mobile", "desktop", "tablet")
GENDERS = np.array(["female", "male", "non_binary", "undisclosed"], dtype=object)
STATUS_ACTIVE, STATUS_PAUSED, STATUS_CANCELLED = 0, 1, 2
SUBSCRIPTION_STATUS = np.array(["active", "paused", "cancelled"], dtype=object)
LOYALTY_TIER_FLOORS = (0, 1_000, 5_000, 15_000)
LOYALTY_TIERS = np.array(["bronze", "silver", "gold", "platinum"], dtype=object)

# Daily hazard weights of each observable cause (see the module docstring).
HAZARD_SUPPORT = 0.004
HAZARD_RELEASE = 0.004
HAZARD_RENEW_OFF = 0.0025
HAZARD_PLAN_CANCELLED = 0.006
HAZARD_DISENGAGED_PER_DAY = 0.0004
FRUSTRATION_DECAY = float(np.exp(-1 / 45))
DISENGAGED_DECAY_DAYS = 25.0
# Weekday factors, Monday first: weekends shop and browse more.
ORDER_WEEKDAY = np.array([0.90, 0.92, 0.95, 0.98, 1.05, 1.20, 1.10])
SESSION_WEEKDAY = np.array([0.95, 0.95, 0.97, 0.98, 1.00, 1.10, 1.12])


@dataclass
class IdCounters:
    """Running id sequences, shared across chunks so ids are unique in the whole dataset."""

    subscription: int = 0
    order: int = 0
    ticket: int = 0
    session: int = 0

    def take(self, name: str, count: int) -> np.ndarray:
        first = getattr(self, name)
        setattr(self, name, first + count)
        return np.arange(first + 1, first + count + 1, dtype=np.int64)


@dataclass
class Buffer:
    """Column arrays appended day by day, joined once at the end."""

    parts: dict[str, list[np.ndarray]] = field(default_factory=dict)

    def add(self, **columns: np.ndarray) -> None:
        for name, values in columns.items():
            self.parts.setdefault(name, []).append(np.asarray(values))

    def frame(self) -> pd.DataFrame:
        return pd.DataFrame({name: np.concatenate(chunks) for name, chunks in self.parts.items()})


def _seconds(rng: np.random.Generator, size: int, peak_hour: float = 19.0) -> np.ndarray:
    """Time of day in seconds, clustered around an evening peak."""
    hours = rng.normal(peak_hour, 4.0, size) % 24
    return (hours * 3600).astype(np.int64)


class ChunkSimulation:
    """Simulates `n` customers (global indices `first_index`..) over `days` days."""

    def __init__(
        self,
        ref: Reference,
        releases: tuple[AppRelease, ...],
        start: pd.Timestamp,
        days: int,
        first_index: int,
        n: int,
        rng: np.random.Generator,
        ids: IdCounters,
        session_rate_scale: float = 1.0,
    ) -> None:
        self.ref, self.releases, self.start, self.days = ref, releases, start, days
        self.session_rate_scale = session_rate_scale
        self.n, self.rng, self.ids = n, rng, ids
        self.gid = np.arange(first_index, first_index + n, dtype=np.int64)
        self.release_days = np.array([r.day for r in releases])
        self.defective = np.array([r.defective for r in releases])
        self._init_products()
        self._init_traits()
        self.out = {name: Buffer() for name in (*SOURCE_NAMES, "refunds")}

    # ---- set-up -------------------------------------------------------------------------------
    def _init_products(self) -> None:
        products = self.ref.products
        cats = self.ref.categories
        self.cat_index = {c: i for i, c in enumerate(cats)}
        codes = products["category"].map(self.cat_index).to_numpy()
        self.cat_offset = np.searchsorted(codes, np.arange(len(cats)))
        self.cat_count = np.bincount(codes, minlength=len(cats))
        self.product_price = products["list_price_usd"].to_numpy(float)
        self.root_cause_p = self.ref.root_causes.assign(
            w=np.where(
                self.ref.root_causes["root_cause"] == "release_regression", 0.0, 1.0 / self.ref.root_causes["severity"]
            )
        )["w"].to_numpy()
        self.root_cause_p = self.root_cause_p / self.root_cause_p.sum()
        plans = self.ref.plans
        self.plan_period = plans["billing_period_days"].to_numpy(int)
        self.plan_p = np.array([0.30, 0.12, 0.22, 0.10, 0.16, 0.10])[: len(plans)]
        self.plan_p = self.plan_p / self.plan_p.sum()
        w = self.ref.regions["weight"].to_numpy(float)
        self.region_p = w / w.sum()

    def _init_traits(self) -> None:
        rng, n, days = self.rng, self.n, self.days
        existing = rng.random(n) < 0.30
        u = rng.random(n)
        # New signups: half uniform over the window, half growing towards its end.
        new_day = np.where(rng.random(n) < 0.5, u * days, np.sqrt(u) * days).astype(np.int64)
        self.signup_day = np.where(existing, -rng.integers(1, 731, n), np.minimum(new_day, days - 1))
        self.signup_sec = _seconds(rng, n, 14.0)
        self.alive = np.ones(n, bool)
        self.dropout_day = np.full(n, -1, np.int64)
        self.driver = np.full(n, -1, np.int64)
        # Purchase rate (orders/day) and spend: heterogeneous across customers (BG/NBD-like).
        self.lam = rng.gamma(0.9, (1 / 35) / 0.9, n)
        self.income = np.round(rng.lognormal(np.log(55_000), 0.6, n), 2)
        income_rank = pd.Series(self.income).rank(pct=True).to_numpy()
        self.spend_tier = np.digitize(income_rank + rng.normal(0, 0.2, n), [0.5, 0.85])
        self.qty_mean = rng.gamma(2.0, 0.15, n)
        self.fav_cat = rng.choice(len(self.cat_count), n, p=self._category_weights())
        self.sess_rate = rng.gamma(1.5, 0.2 / 1.5, n) * self.session_rate_scale
        self.tkt_rate = rng.gamma(2.0, (1 / 220) / 2.0, n)
        self.h_base = rng.lognormal(np.log(1 / 2500), 0.7, n)
        self.device = rng.choice(3, n, p=[0.55, 0.35, 0.10])
        self.os_pick = rng.integers(0, 60, n)
        self.app_idx = np.searchsorted(self.release_days, 0, side="right") - 1 - rng.integers(0, 2, n)
        self.app_idx = np.maximum(self.app_idx, 0)
        self.city = rng.choice(len(self.region_p), n, p=self.region_p)
        self.opt_in = rng.random(n) < 0.62
        self.credit = np.clip(rng.normal(690, 70, n) + (income_rank - 0.5) * 80, 300, 850).astype(np.int64)
        self.frustr_other = np.zeros(n)
        self.frustr_release = np.zeros(n)
        self.diseng_start = np.full(n, -1, np.int64)
        self.sub_id = np.full(n, -1, np.int64)
        self.sub_plan = np.zeros(n, np.int64)
        self.sub_status = np.full(n, -1, np.int64)
        self.sub_start = np.zeros(n, np.int64)
        self.sub_end = np.full(n, -1, np.int64)
        self.sub_renewal = np.full(n, -1, np.int64)
        self.sub_auto = np.zeros(n, bool)
        self.cancelled_by_customer = np.zeros(n, bool)
        self.points = np.where(existing, rng.gamma(1.2, 600, n), 0).astype(np.int64)
        self.lifetime_points = self.points.copy()
        self.loyalty_changed = np.zeros(n, bool)
        self._init_identity(existing)

    def _category_weights(self) -> np.ndarray:
        w = np.linspace(1.6, 0.6, len(self.cat_count))
        return w / w.sum()

    def _init_identity(self, existing: np.ndarray) -> None:
        rng, n = self.rng, self.n
        self.gender = GENDERS[rng.choice(4, n, p=[0.48, 0.47, 0.02, 0.03])]
        female = rng.random(n) < np.where(self.gender == "female", 0.97, np.where(self.gender == "male", 0.03, 0.5))
        first_f = np.array(FIRST_NAMES_FEMALE, dtype=object)[rng.integers(0, len(FIRST_NAMES_FEMALE), n)]
        first_m = np.array(FIRST_NAMES_MALE, dtype=object)[rng.integers(0, len(FIRST_NAMES_MALE), n)]
        self.first_name = np.where(female, first_f, first_m)
        self.last_name = np.array(LAST_NAMES, dtype=object)[rng.integers(0, len(LAST_NAMES), n)]
        domain = np.array(EMAIL_DOMAINS, dtype=object)[rng.integers(0, len(EMAIL_DOMAINS), n)]
        local = (pd.Series(self.first_name) + "." + pd.Series(self.last_name)).str.normalize("NFKD")
        local = local.str.encode("ascii", "ignore").str.decode("ascii").str.lower().str.replace("'", "")
        self.email = (local + pd.Series(self.gid + 1).astype(str) + "@" + pd.Series(domain)).to_numpy(object)
        age_days = rng.integers(18 * 365, 80 * 365, n)
        self.dob_day = self.signup_day - age_days
        self.dob_missing = rng.random(n) < 0.03
        self.gender = np.where(rng.random(n) < 0.02, None, self.gender)
        self.income = np.where(rng.random(n) < 0.05, np.nan, self.income)
        self.existing = existing

    # ---- the day loop -------------------------------------------------------------------------
    def run(self) -> dict[str, pd.DataFrame]:
        for day in range(self.days):
            self._day(day)
        return {name: buf.frame() for name, buf in self.out.items() if buf.parts}

    def _day(self, d: int) -> None:
        rng = self.rng
        appearing = (self.signup_day == d) | ((self.signup_day < 0) & (d == 0))
        if appearing.any():
            self._appear(d, np.flatnonzero(appearing))
        active = np.flatnonzero((self.signup_day <= d) & self.alive & ~appearing)
        sub_changed = np.zeros(self.n, bool)
        sub_changed[appearing & (self.sub_id >= 0)] = True
        u = rng.random(active.size)
        self._profile_events(d, active, u)
        self._subscription_events(d, active, u, sub_changed)
        self._upgrade_apps(d, active)
        self._activity(d)
        self._scheduled_renewals(d, sub_changed)
        self._dropouts(d, active, sub_changed)
        changed = np.flatnonzero(sub_changed & (self.sub_id >= 0))
        if changed.size:
            self._emit_subscriptions(d, changed)
        # One balance snapshot per customer and day, after the day's orders and redemptions.
        balances = np.flatnonzero(self.loyalty_changed)
        if balances.size:
            self._emit_loyalty(d, balances)
            self.loyalty_changed[balances] = False
        self.frustr_other *= FRUSTRATION_DECAY
        self.frustr_release *= FRUSTRATION_DECAY

    def _appear(self, d: int, idx: np.ndarray) -> None:
        rng = self.rng
        self._emit_customers(d, idx)
        self._emit_financial(d, idx, self.signup_day[idx])
        with_sub = idx[rng.random(idx.size) < 0.5]
        if with_sub.size:
            # Customers who predate the window may have subscribed any day since they signed up.
            earlier = rng.integers(np.minimum(self.signup_day[with_sub], -1), 0)
            start = np.where(self.existing[with_sub], earlier, d)
            self._start_subscriptions(with_sub, start, d)
        self.loyalty_changed[idx[self.points[idx] > 0]] = True

    def _profile_events(self, d: int, idx: np.ndarray, u: np.ndarray) -> None:
        rng = self.rng
        moves = idx[u < 1 / 1800]
        opt_out = idx[(u >= 1 / 1800) & (u < 1 / 1800 + 1 / 2500) & self.opt_in[idx]]
        opt_in = idx[(u >= 1 / 1800 + 1 / 2500) & (u < 1 / 1800 + 1 / 2500 + 1 / 5000) & ~self.opt_in[idx]]
        if moves.size:
            destination = rng.choice(len(self.region_p), moves.size, p=self.region_p)
            # A move changes the city: drawing the current one moves to the next on the list.
            stays = destination == self.city[moves]
            destination[stays] = (destination[stays] + 1) % len(self.region_p)
            self.city[moves] = destination
        self.opt_in[opt_out] = False
        self.opt_in[opt_in] = True
        changed = np.union1d(np.union1d(moves, opt_out), opt_in)
        if changed.size:
            self._emit_customers(d, changed)
        lo = 1 / 1800 + 1 / 2500 + 1 / 5000
        fin = idx[(u >= lo) & (u < lo + 1 / 365)]
        if fin.size:
            self.income[fin] = np.round(self.income[fin] * rng.lognormal(0.02, 0.08, fin.size), 2)
            self.credit[fin] = np.clip(self.credit[fin] + rng.normal(0, 25, fin.size), 300, 850).astype(np.int64)
            self._emit_financial(d, fin, np.full(fin.size, d))
        lo += 1 / 365
        onset = idx[(u >= lo) & (u < lo + 1 / 1500) & (self.diseng_start[idx] < 0)]
        self.diseng_start[onset] = d

    def _subscription_events(self, d: int, idx: np.ndarray, u: np.ndarray, changed: np.ndarray) -> None:
        rng = self.rng
        base = 1 / 1800 + 1 / 2500 + 1 / 5000 + 1 / 365 + 1 / 1500
        v = (u - base) / (1 - base)  # the rest of the same draw, rescaled: events are exclusive
        status = self.sub_status[idx]
        frustration = self.frustr_other[idx] + self.frustr_release[idx]
        none = (status < 0) | (status == STATUS_CANCELLED)
        new = idx[none & (v >= 0) & (v < 1 / 800)]
        if new.size:
            self._start_subscriptions(new, np.full(new.size, d), d)
            changed[new] = True
        active = status == STATUS_ACTIVE
        p_off = 1 / 1000 + 0.002 * frustration
        p_cancel = 1 / 2000 + 0.002 * frustration
        w = rng.random(idx.size)
        renew_off = idx[active & self.sub_auto[idx] & (w < p_off)]
        self.sub_auto[renew_off] = False
        cancel = idx[active & (w >= p_off) & (w < p_off + p_cancel)]
        self.sub_status[cancel] = STATUS_CANCELLED
        self.sub_end[cancel] = np.maximum(self.sub_renewal[cancel], d)
        self.cancelled_by_customer[cancel] = True
        monthly = self.plan_period[self.sub_plan[idx]] <= 31
        pause = idx[active & monthly & (w >= p_off + p_cancel) & (w < p_off + p_cancel + 1 / 4000)]
        self.sub_status[pause] = STATUS_PAUSED
        self.sub_renewal[pause] = d + rng.integers(30, 91, pause.size)
        for group in (renew_off, cancel, pause):
            changed[group] = True

    def _start_subscriptions(self, idx: np.ndarray, start: np.ndarray, d: int) -> None:
        rng = self.rng
        self.sub_id[idx] = self.ids.take("subscription", idx.size)
        self.sub_plan[idx] = rng.choice(len(self.plan_p), idx.size, p=self.plan_p)
        self.sub_status[idx] = STATUS_ACTIVE
        self.sub_start[idx] = start
        self.sub_end[idx] = -1
        period = self.plan_period[self.sub_plan[idx]]
        periods_done = np.maximum(0, (d - start) // period)
        self.sub_renewal[idx] = start + (periods_done + 1) * period
        self.sub_auto[idx] = rng.random(idx.size) < 0.85
        self.cancelled_by_customer[idx] = False

    def _scheduled_renewals(self, d: int, changed: np.ndarray) -> None:
        due = np.flatnonzero((self.sub_renewal == d) & (self.sub_status >= 0) & (self.sub_status != STATUS_CANCELLED))
        if not due.size:
            return
        paused = due[self.sub_status[due] == STATUS_PAUSED]
        self.sub_status[paused] = STATUS_ACTIVE
        self.sub_renewal[paused] = d + self.plan_period[self.sub_plan[paused]]
        renewing = due[self.sub_status[due] == STATUS_ACTIVE]
        renewing = renewing[~np.isin(renewing, paused)]
        auto = renewing[self.sub_auto[renewing]]
        lapse = renewing[~self.sub_auto[renewing]]
        self.sub_renewal[auto] = d + self.plan_period[self.sub_plan[auto]]
        self.sub_status[lapse] = STATUS_CANCELLED
        self.sub_end[lapse] = d
        changed[due] = True

    def _upgrade_apps(self, d: int, idx: np.ndarray) -> None:
        latest = np.searchsorted(self.release_days, d, side="right") - 1
        behind = idx[self.app_idx[idx] < latest]
        upgrade = behind[self.rng.random(behind.size) < 0.10]
        self.app_idx[upgrade] = latest

    def _engagement(self, d: int, idx: np.ndarray) -> np.ndarray:
        since = d - self.diseng_start[idx]
        return np.where(self.diseng_start[idx] >= 0, np.exp(-since / DISENGAGED_DECAY_DAYS), 1.0)

    def _activity(self, d: int) -> None:
        rng = self.rng
        date = self.start + pd.Timedelta(days=d)
        weekday = date.weekday()
        doy = date.dayofyear
        season = 1.0 + 0.35 * np.exp(-(((doy - 335) / 20.0) ** 2)) - 0.08 * np.exp(-(((doy - 210) / 25.0) ** 2))
        signed = np.flatnonzero(self.signup_day <= d)
        alive = self.alive[signed]
        eng = self._engagement(d, signed)
        n_orders = rng.poisson(self.lam[signed] * eng * alive * ORDER_WEEKDAY[weekday] * season)
        # Customers who left still open the app now and then; they no longer buy.
        sess_level = np.where(alive, eng, 0.05)
        n_sessions = rng.poisson(self.sess_rate[signed] * sess_level * SESSION_WEEKDAY[weekday])
        on_defect = self.defective[self.app_idx[signed]] & (self.device[signed] != 1)
        n_tickets = rng.poisson(self.tkt_rate[signed] * alive)
        n_release_tickets = rng.poisson(0.05 * on_defect * alive)
        if n_orders.any():
            self._orders(d, np.repeat(signed, n_orders))
        if n_sessions.any():
            self._sessions(d, np.repeat(signed, n_sessions))
        if n_tickets.any() or n_release_tickets.any():
            self._tickets(d, np.repeat(signed, n_tickets), np.repeat(signed, n_release_tickets))

    def _pick_device(self, cust: np.ndarray) -> np.ndarray:
        other = self.rng.integers(0, 3, cust.size)
        return np.where(self.rng.random(cust.size) < 0.75, self.device[cust], other)

    def _orders(self, d: int, cust: np.ndarray) -> None:
        rng, m = self.rng, cust.size
        cat = np.where(
            rng.random(m) < 0.6, self.fav_cat[cust], rng.choice(len(self.cat_count), m, p=self._category_weights())
        )
        tier = self.spend_tier[cust]
        pos = rng.beta(np.array([1.0, 2.0, 3.0])[tier], np.array([3.0, 2.0, 1.0])[tier])
        product = self.cat_offset[cat] + np.minimum(
            (pos * self.cat_count[cat]).astype(np.int64), self.cat_count[cat] - 1
        )
        qty = 1 + rng.poisson(self.qty_mean[cust])
        discount = rng.choice([0.0, 0.1, 0.2], m, p=[0.8, 0.15, 0.05])
        price = np.round(self.product_price[product] * (1 - discount), 2)
        device = self._pick_device(cust)
        channel = np.where(
            device == 1, rng.choice([0, 2, 3], m, p=[0.9, 0.08, 0.02]), np.where(rng.random(m) < 0.7, 1, 0)
        )
        amount = qty * price
        points = np.floor(amount).astype(np.int64)
        ids = self.ids.take("order", m)
        secs = _seconds(rng, m)
        self.out["orders"].add(
            order_id=ids,
            cust=cust,
            day=np.full(m, d),
            secs=secs,
            product=product,
            qty=qty,
            price=price,
            device=device,
            channel=channel,
            city=self.city[cust],
            points=points,
        )
        refund = rng.random(m) < 0.04
        if refund.any():
            self.out["refunds"].add(
                original=ids[refund],
                cust=cust[refund],
                day=d + rng.integers(3, 22, refund.sum()),
                secs=_seconds(rng, int(refund.sum()), 12.0),
                product=product[refund],
                qty=-qty[refund],
                price=price[refund],
                device=device[refund],
                city=self.city[cust[refund]],
            )
        self._earn_points(d, cust, points)

    def _earn_points(self, d: int, cust: np.ndarray, points: np.ndarray) -> None:
        buyers, inverse = np.unique(cust, return_inverse=True)
        earned = np.bincount(inverse, weights=points).astype(np.int64)
        self.points[buyers] += earned
        self.lifetime_points[buyers] += earned
        redeem = buyers[(self.points[buyers] >= 2_500) & (self.rng.random(buyers.size) < 0.3)]
        self.points[redeem] -= 2_000
        self.loyalty_changed[buyers] = True

    def _sessions(self, d: int, cust: np.ndarray) -> None:
        rng, m = self.rng, cust.size
        device = self._pick_device(cust)
        app = np.where(device == 1, -1, self.app_idx[cust])
        crashy = (app >= 0) & self.defective[np.maximum(app, 0)]
        minutes = rng.lognormal(np.log(6.0), 0.9, m) * np.where(crashy, 0.5, 1.0)
        pages = 1 + rng.poisson(minutes * 0.8)
        events = pages * 3 + rng.poisson(2.0, m)
        self.out["device_sessions"].add(
            session_id=self.ids.take("session", m),
            cust=cust,
            day=np.full(m, d),
            secs=_seconds(rng, m, 20.0),
            duration=np.maximum(1, (minutes * 60).astype(np.int64)),
            device=device,
            app=app,
            pages=pages,
            events=events,
        )

    def _tickets(self, d: int, cust: np.ndarray, release_cust: np.ndarray) -> None:
        rng = self.rng
        causes = self.ref.root_causes
        release_cause = int(np.flatnonzero(causes["root_cause"].to_numpy() == "release_regression")[0])
        cause = np.concatenate(
            [
                rng.choice(len(self.root_cause_p), cust.size, p=self.root_cause_p),
                np.full(release_cust.size, release_cause),
            ]
        )
        cust = np.concatenate([cust, release_cust])
        m = cust.size
        severity = causes["severity"].to_numpy()[cause]
        median_minutes = np.array([0, 60, 360, 1440, 2880])[severity]
        minutes = np.maximum(1, rng.lognormal(np.log(median_minutes), 1.0)).astype(np.int64)
        hours = minutes / 60
        csat = np.clip(
            np.round(5.2 - 0.7 * np.log2(1 + hours / 4) - 0.35 * (severity - 1) + rng.normal(0, 0.8, m)), 1, 5
        )
        answered = rng.random(m) < 0.9
        is_release = cause == release_cause
        bad = answered & (csat <= 2)
        weight = np.where(bad, 1.0, 0.25)
        np.add.at(self.frustr_other, cust[~is_release], weight[~is_release])
        np.add.at(self.frustr_release, cust[is_release], weight[is_release])
        product_related = np.isin(causes["issue_type"].to_numpy()[cause], ["delivery", "product"])
        fav = self.fav_cat[cust]
        product = np.where(product_related, self.cat_offset[fav] + rng.integers(0, 8, m) % self.cat_count[fav], -1)
        app = np.where(self.device[cust] == 1, -1, self.app_idx[cust])
        self.out["support_tickets"].add(
            ticket_id=self.ids.take("ticket", m),
            cust=cust,
            day=np.full(m, d),
            secs=_seconds(rng, m, 13.0),
            minutes=minutes,
            csat=np.where(answered, csat, np.nan).astype(float),
            cause=cause,
            channel=rng.choice(4, m, p=[0.35, 0.35, 0.15, 0.15]),
            product=product,
            app=app,
            pending=rng.random(m) < 0.3,
        )

    def _dropouts(self, d: int, idx: np.ndarray, changed: np.ndarray) -> None:
        rng = self.rng
        has_active_sub = self.sub_status[idx] == STATUS_ACTIVE
        diseng_days = np.where(self.diseng_start[idx] >= 0, np.minimum(d - self.diseng_start[idx], 90), 0)
        components = np.stack(
            [
                self.h_base[idx],
                HAZARD_SUPPORT * self.frustr_other[idx],
                HAZARD_RELEASE * self.frustr_release[idx],
                HAZARD_RENEW_OFF * (has_active_sub & ~self.sub_auto[idx]),
                HAZARD_PLAN_CANCELLED * self.cancelled_by_customer[idx],
                HAZARD_DISENGAGED_PER_DAY * diseng_days,
            ]
        )
        hazard = np.minimum(components.sum(axis=0), 0.5)
        leaving = rng.random(idx.size) < -np.expm1(-hazard)
        if not leaving.any():
            return
        who = idx[leaving]
        shares = components[:, leaving] / components[:, leaving].sum(axis=0)
        cumulative = shares.cumsum(axis=0)
        self.driver[who] = (rng.random(who.size) > cumulative).sum(axis=0)
        self.alive[who] = False
        self.dropout_day[who] = d
        # A leaving subscriber switches auto-renew off; the plan lapses at the next renewal.
        leaving_subs = who[
            (self.sub_status[who] >= 0) & (self.sub_status[who] != STATUS_CANCELLED) & self.sub_auto[who]
        ]
        self.sub_auto[leaving_subs] = False
        changed[leaving_subs] = True

    # ---- emission of landing rows -------------------------------------------------------------
    def _emit_customers(self, d: int, idx: np.ndarray) -> None:
        self.out["customers"].add(
            cust=idx,
            day=np.full(idx.size, d),
            city=self.city[idx].copy(),
            opt_in=self.opt_in[idx].copy(),
            change_secs=_seconds(self.rng, idx.size, 12.0),
        )

    def _emit_financial(self, d: int, idx: np.ndarray, effective_day: np.ndarray) -> None:
        self.out["financial_profiles"].add(
            cust=idx,
            day=np.full(idx.size, d),
            effective=effective_day,
            income=self.income[idx].copy(),
            credit=self.credit[idx].copy(),
        )

    def _emit_loyalty(self, d: int, idx: np.ndarray) -> None:
        tier = np.digitize(self.lifetime_points[idx], LOYALTY_TIER_FLOORS[1:])
        self.out["loyalty_balances"].add(cust=idx, day=np.full(idx.size, d), points=self.points[idx].copy(), tier=tier)

    def _emit_subscriptions(self, d: int, idx: np.ndarray) -> None:
        self.out["subscriptions"].add(
            sub_id=self.sub_id[idx].copy(),
            cust=idx,
            day=np.full(idx.size, d),
            plan=self.sub_plan[idx].copy(),
            status=self.sub_status[idx].copy(),
            start=self.sub_start[idx].copy(),
            end=self.sub_end[idx].copy(),
            renewal=self.sub_renewal[idx].copy(),
            auto=self.sub_auto[idx].copy(),
        )

    def truth(self) -> pd.DataFrame:
        return pd.DataFrame(
            {
                "customer_id": customer_ids(self.gid),
                "signup_date": self.start + pd.to_timedelta(self.signup_day, unit="D"),
                "dropout_date": pd.Series(self.start + pd.to_timedelta(self.dropout_day, unit="D")).where(
                    self.dropout_day >= 0
                ),
                "dropout_driver": pd.Series(np.array(DRIVERS, dtype=object)[np.maximum(self.driver, 0)]).where(
                    self.driver >= 0
                ),
                "disengaged_from": pd.Series(self.start + pd.to_timedelta(self.diseng_start, unit="D")).where(
                    self.diseng_start >= 0
                ),
                "purchase_rate_per_day": np.round(self.lam, 6),
                "spend_tier": self.spend_tier,
                "baseline_hazard_per_day": np.round(self.h_base, 8),
            }
        )


def customer_ids(gid: np.ndarray) -> np.ndarray:
    return ("C" + pd.Series(gid + 1).astype(str).str.zfill(7)).to_numpy(object)


def chunk_bounds(total: int, chunk_size: int) -> Iterator[tuple[int, int]]:
    for first in range(0, total, chunk_size):
        yield first, min(chunk_size, total - first)
