"""Turns simulated events into landing rows: one table of text columns per source, in the
contract's column order, plus `_file_day` (the day whose export file carries the row)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from churnmesh.contracts import SOURCES_BY_NAME
from churnmesh.generator.reference import OS_BY_DEVICE
from churnmesh.generator.simulate import (
    DEVICES,
    LOYALTY_TIERS,
    SUBSCRIPTION_STATUS,
    ChunkSimulation,
    customer_ids,
)

CHANNELS = np.array(["web", "app", "marketplace", "phone"], dtype=object)
TICKET_CHANNELS = np.array(["email", "chat", "phone", "in_app"], dtype=object)
Columns = dict[str, np.ndarray]


def _ids(prefix: str, numbers: np.ndarray, width: int) -> np.ndarray:
    return (prefix + pd.Series(numbers).astype(str).str.zfill(width)).to_numpy(object)


class FrameBuilder:
    def __init__(self, sim: ChunkSimulation, events: dict[str, pd.DataFrame]) -> None:
        self.sim, self.events = sim, events
        self.day0 = np.datetime64(sim.start.date(), "D")

    def date(self, day: np.ndarray) -> np.ndarray:
        return self.day0 + day.astype("timedelta64[D]")

    def timestamp(self, day: np.ndarray, secs: np.ndarray) -> np.ndarray:
        return self.date(day).astype("datetime64[s]") + secs.astype("timedelta64[s]")

    def cid(self, cust: np.ndarray) -> np.ndarray:
        return customer_ids(self.sim.gid[cust])

    def build(self) -> dict[str, Columns]:
        makers = {
            "customers": self.customers,
            "financial_profiles": self.financial_profiles,
            "subscriptions": self.subscriptions,
            "orders": self.orders,
            "loyalty_balances": self.loyalty_balances,
            "support_tickets": self.support_tickets,
            "device_sessions": self.device_sessions,
        }
        return {name: make(self.events[name]) for name, make in makers.items() if name in self.events}

    def customers(self, e: pd.DataFrame) -> Columns:
        s, c = self.sim, e["cust"].to_numpy()
        regions = s.ref.regions
        dob = np.where(s.dob_missing[c], np.datetime64("NaT"), self.date(s.dob_day[c]))
        return {
            "customer_id": self.cid(c),
            "first_name": s.first_name[c],
            "last_name": s.last_name[c],
            "email": s.email[c],
            "gender": s.gender[c],
            "date_of_birth": dob.astype("datetime64[D]"),
            "signup_datetime": self.timestamp(s.signup_day[c], s.signup_sec[c]),
            "city": regions["city"].to_numpy(object)[e["city"]],
            "country": regions["country"].to_numpy(object)[e["city"]],
            "marketing_opt_in": e["opt_in"].to_numpy(),
            "updated_at": self._updated_at(e, c),
            "_file_day": e["day"].to_numpy(),
        }

    def _updated_at(self, e: pd.DataFrame, c: np.ndarray) -> np.ndarray:
        """The signup time for a new profile; the time of the change for a later version."""
        s = self.sim
        signup = self.timestamp(s.signup_day[c], s.signup_sec[c])
        changed = self.timestamp(e["day"].to_numpy(), e["change_secs"].to_numpy())
        first_export = e["day"].to_numpy() == np.maximum(s.signup_day[c], 0)
        return np.where(first_export, signup, np.maximum(changed, signup))

    def financial_profiles(self, e: pd.DataFrame) -> Columns:
        return {
            "customer_id": self.cid(e["cust"].to_numpy()),
            "profile_effective_date": self.date(e["effective"].to_numpy()),
            "income_usd": e["income"].to_numpy(),
            "credit_score": e["credit"].to_numpy(),
            "_file_day": e["day"].to_numpy(),
        }

    def subscriptions(self, e: pd.DataFrame) -> Columns:
        plans = self.sim.ref.plans
        status = e["status"].to_numpy()
        end = np.where(e["end"] >= 0, self.date(e["end"].to_numpy()), np.datetime64("NaT"))
        renewal = np.where(status == 2, np.datetime64("NaT"), self.date(e["renewal"].to_numpy()))
        return {
            "subscription_id": _ids("S", e["sub_id"].to_numpy(), 8),
            "customer_id": self.cid(e["cust"].to_numpy()),
            "plan_id": plans["plan_id"].to_numpy(object)[e["plan"]],
            "plan_name": plans["plan_name"].to_numpy(object)[e["plan"]],
            "status": SUBSCRIPTION_STATUS[status],
            "start_date": self.date(e["start"].to_numpy()),
            "end_date": end.astype("datetime64[D]"),
            "renewal_date": renewal.astype("datetime64[D]"),
            "is_auto_renew": e["auto"].to_numpy(),
            "_file_day": e["day"].to_numpy(),
        }

    def orders(self, e: pd.DataFrame) -> Columns:
        products = self.sim.ref.products
        refunds = self.events.get("refunds")
        purchases = e.assign(original=-1, kind="purchase")
        if refunds is not None:
            refunds = refunds[refunds["day"] < self.sim.days].copy()
            refunds["order_id"] = self.sim.ids.take("order", len(refunds))
            refunds["kind"], refunds["points"] = "refund", 0
            refunds["channel"] = np.where(refunds["device"] == 1, 0, 1)
            e = pd.concat([purchases, refunds], ignore_index=True)
        else:
            e = purchases
        product = e["product"].to_numpy()
        return {
            "order_id": _ids("O", e["order_id"].to_numpy(), 9),
            "customer_id": self.cid(e["cust"].to_numpy()),
            "order_datetime": self.timestamp(e["day"].to_numpy(), e["secs"].to_numpy()),
            "order_type": e["kind"].to_numpy(object),
            "original_order_id": np.where(e["original"] >= 0, _ids("O", e["original"].to_numpy(), 9), None),
            "product_id": products["product_id"].to_numpy(object)[product],
            "product_category": products["category"].to_numpy(object)[product],
            "quantity": e["qty"].to_numpy(),
            "unit_price_usd": e["price"].to_numpy(),
            "device_type": np.array(DEVICES, dtype=object)[e["device"]],
            "order_channel": CHANNELS[e["channel"]],
            "city": self.sim.ref.regions["city"].to_numpy(object)[e["city"]],
            "country": self.sim.ref.regions["country"].to_numpy(object)[e["city"]],
            "loyalty_points_earned": e["points"].to_numpy(),
            "_file_day": e["day"].to_numpy(),
        }

    def loyalty_balances(self, e: pd.DataFrame) -> Columns:
        return {
            "customer_id": self.cid(e["cust"].to_numpy()),
            "snapshot_date": self.date(e["day"].to_numpy()),
            "points_balance": e["points"].to_numpy(),
            "loyalty_tier": LOYALTY_TIERS[e["tier"]],
            "_file_day": e["day"].to_numpy(),
        }

    def support_tickets(self, e: pd.DataFrame) -> Columns:
        causes, products, versions = self.sim.ref.root_causes, self.sim.ref.products, self._versions()
        opened = self.timestamp(e["day"].to_numpy(), e["secs"].to_numpy())
        closed = opened + e["minutes"].to_numpy().astype("timedelta64[m]")
        close_day = (closed.astype("datetime64[D]") - self.day0).astype(np.int64)
        same_day = close_day == e["day"].to_numpy()
        # A ticket closed on the day it opened is exported once, closed; a longer one is
        # exported when opened and again, as a new version, on the day it closes.
        opening = ~same_day
        closing = close_day < self.sim.days
        rows = np.concatenate([np.flatnonzero(opening), np.flatnonzero(closing)])
        is_closed = np.concatenate([np.zeros(opening.sum(), bool), np.ones(closing.sum(), bool)])
        r = e.iloc[rows]
        status = np.where(is_closed, "closed", np.where(r["pending"], "pending", "open")).astype(object)
        product, app = r["product"].to_numpy(), r["app"].to_numpy()
        return {
            "ticket_id": _ids("T", r["ticket_id"].to_numpy(), 8),
            "customer_id": self.cid(r["cust"].to_numpy()),
            "opened_datetime": opened[rows],
            "closed_datetime": np.where(is_closed, closed[rows], np.datetime64("NaT")),
            "status": status,
            "channel": TICKET_CHANNELS[r["channel"]],
            "issue_type": causes["issue_type"].to_numpy(object)[r["cause"]],
            "root_cause": causes["root_cause"].to_numpy(object)[r["cause"]],
            "product_id": np.where(product >= 0, products["product_id"].to_numpy(object)[np.maximum(product, 0)], None),
            "app_version": np.where(app >= 0, versions[np.maximum(app, 0)], None),
            "resolution_time_minutes": np.where(is_closed, r["minutes"].to_numpy(float), np.nan),
            "csat_score": np.where(is_closed, r["csat"].to_numpy(), np.nan),
            "_file_day": np.where(is_closed, close_day[rows], r["day"].to_numpy()),
        }

    def device_sessions(self, e: pd.DataFrame) -> Columns:
        start = self.timestamp(e["day"].to_numpy(), e["secs"].to_numpy())
        device, app = e["device"].to_numpy(), e["app"].to_numpy()
        pick = self.sim.os_pick[e["cust"].to_numpy()]
        os_version = np.empty(len(e), dtype=object)
        for code, name in enumerate(DEVICES):
            mask = device == code
            options = np.array(OS_BY_DEVICE[name], dtype=object)
            os_version[mask] = options[pick[mask] % len(options)]
        return {
            "session_id": _ids("E", e["session_id"].to_numpy(), 10),
            "customer_id": self.cid(e["cust"].to_numpy()),
            "session_start_ts": start,
            "session_end_ts": start + e["duration"].to_numpy().astype("timedelta64[s]"),
            "device_type": np.array(DEVICES, dtype=object)[device],
            "os_version": os_version,
            "app_version": np.where(app >= 0, self._versions()[np.maximum(app, 0)], None),
            "pages_viewed": e["pages"].to_numpy(),
            "events_fired": e["events"].to_numpy(),
            "_file_day": e["day"].to_numpy(),
        }

    def _versions(self) -> np.ndarray:
        return np.array([r.version for r in self.sim.releases], dtype=object)


def to_text_table(source: str, columns: Columns) -> tuple[pa.Table, np.ndarray]:
    """Render every contract column as text, exactly as an export file would carry it."""
    names = SOURCES_BY_NAME[source].column_names
    arrays = []
    for name in names:
        values = columns[name]
        if values.dtype.kind == "f":
            values = np.round(values, 2)
        array = pa.array(values, from_pandas=True)
        arrays.append(pc.cast(array, pa.string()))
    return pa.Table.from_arrays(arrays, names=list(names)), np.asarray(columns["_file_day"], dtype=np.int64)
