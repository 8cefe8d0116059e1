"""The written contract of every landing source, one pandera `DataFrameModel` each.

A contract states, per column: its type (how the text in a file is parsed), whether it may be
empty, and its ranges, accepted values and formats. `Config.unique` is the key that must be
unique within one file. Each contract also refuses events dated after the file's business date
(the date in its name). Column order in a contract is the column order the
generator writes.

The generator, the ingestion and the warehouse's raw tables all read these classes; nothing else
lists the columns of a source.

Personal data is classified here too, once, in each field's metadata (`pii`, a `Pii` class); the
class decides where a column may go. Everything else reads the classification from here: the
warehouse audit that keeps personal data out of the marts (macros/privacy.py,
audits/no_pii_columns.sql), the tests, and the campaign export, the one path that joins contact
details back to customers.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from functools import cached_property

import pandas as pd
import pandera.pandas as pa
from pandera.typing import Series

from churnmesh.vocabulary import APP_VERSION, CUSTOMER_ID, EMAIL, PRODUCT_ID, SOURCE_NAMES

# ISO 3166-1 alpha-2, officially assigned codes.
ISO_COUNTRIES = frozenset(
    """AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ BA BB BD BE BF BG BH BI BJ BL BM BN BO BQ
    BR BS BT BV BW BY BZ CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ DE DJ DK DM
    DO DZ EC EE EG EH ER ES ET FI FJ FK FM FO FR GA GB GD GE GF GG GH GI GL GM GN GP GQ GR GS
    GT GU GW GY HK HM HN HR HT HU ID IE IL IM IN IO IQ IR IS IT JE JM JO JP KE KG KH KI KM KN
    KP KR KW KY KZ LA LB LC LI LK LR LS LT LU LV LY MA MC MD ME MF MG MH MK ML MM MN MO MP MQ
    MR MS MT MU MV MW MX MY MZ NA NC NE NF NG NI NL NO NP NR NU NZ OM PA PE PF PG PH PK PL PM
    PN PR PS PT PW PY QA RE RO RS RU RW SA SB SC SD SE SG SH SI SJ SK SL SM SN SO SR SS ST SV
    SX SY SZ TC TD TF TG TH TJ TK TL TM TN TO TR TT TV TW TZ UA UG UM US UY UZ VA VC VE VG VI
    VN VU WF WS YE YT ZA ZM ZW""".split()
)

GENDERS = ("female", "male", "non_binary", "undisclosed")
DEVICE_TYPES = ("mobile", "desktop", "tablet")
ORDER_CHANNELS = ("web", "app", "marketplace", "phone")
ORDER_TYPES = ("purchase", "refund")
LOYALTY_TIERS = ("bronze", "silver", "gold", "platinum")
SUBSCRIPTION_STATUSES = ("active", "cancelled", "paused")
TICKET_STATUSES = ("open", "pending", "closed")
TICKET_CHANNELS = ("email", "chat", "phone", "in_app")


class Pii(StrEnum):
    """How a column can identify a person, and so where it may go."""

    # Names: single out a person on their own.
    DIRECT_IDENTIFIER = "direct_identifier"
    # Email (and phone or postal address, should a source add them): single out and reach a person.
    CONTACT = "contact"
    # Date of birth: with a town and a gender it singles out most people. Marts get an age band.
    QUASI_IDENTIFIER = "quasi_identifier"
    # Income, credit score: a person's financial standing.
    FINANCIAL = "financial"
    # Notes, ticket bodies, comments: can carry anything a person wrote. No source has one yet.
    FREE_TEXT = "free_text"
    # Gender, city, country: coarse quasi-identifiers, kept for segments and regional figures.
    DEMOGRAPHIC = "demographic"
    # customer_id: the business's opaque surrogate key. It carries nothing personal and leads back
    # to a person only through the contact data, which the marts do not carry.
    PSEUDONYM = "pseudonym"

    @property
    def allowed_in_marts(self) -> bool:
        """The marts (what BI tools read) carry pseudonymous, coarse data only."""
        return self in (Pii.DEMOGRAPHIC, Pii.PSEUDONYM)


def _pii(kind: Pii) -> dict[str, object]:
    return {"pii": kind}


EARLIEST_DATE = pd.Timestamp("1900-01-01")
LATEST_DATE = pd.Timestamp("2200-01-01")


def _date(pii: Pii | None = None, **kwargs: object) -> object:
    """A calendar date column, written as YYYY-MM-DD."""
    metadata = {"kind": "date", **(_pii(pii) if pii else {})}
    return pa.Field(metadata=metadata, ge=EARLIEST_DATE, le=LATEST_DATE, **kwargs)


def _timestamp(**kwargs: object) -> object:
    """A timestamp column, written as ISO 8601 (YYYY-MM-DD HH:MM:SS)."""
    return pa.Field(metadata={"kind": "datetime"}, ge=EARLIEST_DATE, le=LATEST_DATE, **kwargs)


class SourceContract(pa.DataFrameModel):
    """Columns every contract validates: the business date of the file the row came from."""

    file_date: Series[pd.Timestamp] = pa.Field(alias="_file_date", metadata={"kind": "lineage"})

    class Config:
        strict = False
        coerce = False


def _customer_id() -> object:
    return pa.Field(str_matches=CUSTOMER_ID, metadata=_pii(Pii.PSEUDONYM))


def _not_after_file_date(df: pd.DataFrame, column: str) -> Series[bool]:
    """A row may not describe an event after the end of its file's business day."""
    return df[column].isna() | (df[column] < df["_file_date"] + pd.Timedelta(days=1))


class Customers(SourceContract):
    customer_id: Series[pd.StringDtype] = _customer_id()
    first_name: Series[pd.StringDtype] = pa.Field(
        str_length={"min_value": 1, "max_value": 100}, metadata=_pii(Pii.DIRECT_IDENTIFIER)
    )
    last_name: Series[pd.StringDtype] = pa.Field(
        str_length={"min_value": 1, "max_value": 100}, metadata=_pii(Pii.DIRECT_IDENTIFIER)
    )
    email: Series[pd.StringDtype] = pa.Field(
        str_matches=EMAIL, str_length={"max_value": 254}, metadata=_pii(Pii.CONTACT)
    )
    gender: Series[pd.StringDtype] = pa.Field(isin=GENDERS, nullable=True, metadata=_pii(Pii.DEMOGRAPHIC))
    date_of_birth: Series[pd.Timestamp] = _date(nullable=True, pii=Pii.QUASI_IDENTIFIER)
    signup_datetime: Series[pd.Timestamp] = _timestamp()
    city: Series[pd.StringDtype] = pa.Field(
        str_length={"min_value": 1, "max_value": 100}, metadata=_pii(Pii.DEMOGRAPHIC)
    )
    country: Series[pd.StringDtype] = pa.Field(isin=ISO_COUNTRIES, metadata=_pii(Pii.DEMOGRAPHIC))
    marketing_opt_in: Series[pd.BooleanDtype] = pa.Field()
    # When the profile last changed: tells a genuine change back to an earlier state (a new
    # version) from a replay of an old row (a duplicate).
    updated_at: Series[pd.Timestamp] = _timestamp()

    class Config:
        unique = ["customer_id"]

    @pa.dataframe_check(error="signup_datetime is after the file's date")
    def signup_not_in_future(cls, df: pd.DataFrame) -> Series[bool]:
        return _not_after_file_date(df, "signup_datetime")

    @pa.dataframe_check(error="updated_at is after the file's date")
    def update_not_in_future(cls, df: pd.DataFrame) -> Series[bool]:
        return _not_after_file_date(df, "updated_at")

    @pa.dataframe_check(error="updated_at is before signup_datetime")
    def updated_after_signup(cls, df: pd.DataFrame) -> Series[bool]:
        return df["updated_at"] >= df["signup_datetime"]

    @pa.dataframe_check(error="date_of_birth is not before signup_datetime")
    def born_before_signup(cls, df: pd.DataFrame) -> Series[bool]:
        return df["date_of_birth"].isna() | (df["date_of_birth"] < df["signup_datetime"])


class FinancialProfiles(SourceContract):
    customer_id: Series[pd.StringDtype] = _customer_id()
    profile_effective_date: Series[pd.Timestamp] = _date()
    income_usd: Series[float] = pa.Field(ge=0, le=100_000_000, nullable=True, metadata=_pii(Pii.FINANCIAL))
    credit_score: Series[pd.Int64Dtype] = pa.Field(ge=300, le=850, nullable=True, metadata=_pii(Pii.FINANCIAL))

    class Config:
        unique = ["customer_id", "profile_effective_date"]

    @pa.dataframe_check(error="profile_effective_date is after the file's date")
    def effective_not_in_future(cls, df: pd.DataFrame) -> Series[bool]:
        return _not_after_file_date(df, "profile_effective_date")


class Orders(SourceContract):
    order_id: Series[pd.StringDtype] = pa.Field(str_matches=r"O[0-9]{9}\Z")
    customer_id: Series[pd.StringDtype] = _customer_id()
    order_datetime: Series[pd.Timestamp] = _timestamp()
    order_type: Series[pd.StringDtype] = pa.Field(isin=ORDER_TYPES)
    original_order_id: Series[pd.StringDtype] = pa.Field(str_matches=r"O[0-9]{9}\Z", nullable=True)
    product_id: Series[pd.StringDtype] = pa.Field(str_matches=PRODUCT_ID)
    product_category: Series[pd.StringDtype] = pa.Field(str_matches=r"[a-z_]{1,40}\Z")
    quantity: Series[pd.Int64Dtype] = pa.Field(ge=-1000, le=1000)
    unit_price_usd: Series[float] = pa.Field(ge=0, le=100_000)
    device_type: Series[pd.StringDtype] = pa.Field(isin=DEVICE_TYPES)
    order_channel: Series[pd.StringDtype] = pa.Field(isin=ORDER_CHANNELS)
    city: Series[pd.StringDtype] = pa.Field(
        str_length={"min_value": 1, "max_value": 100}, metadata=_pii(Pii.DEMOGRAPHIC)
    )
    country: Series[pd.StringDtype] = pa.Field(isin=ISO_COUNTRIES, metadata=_pii(Pii.DEMOGRAPHIC))
    loyalty_points_earned: Series[pd.Int64Dtype] = pa.Field(ge=0, le=1_000_000)

    class Config:
        unique = ["order_id"]

    @pa.dataframe_check(error="order_datetime is after the file's date")
    def order_not_in_future(cls, df: pd.DataFrame) -> Series[bool]:
        return _not_after_file_date(df, "order_datetime")

    @pa.dataframe_check(error="quantity must be positive for a purchase and negative for a refund")
    def quantity_sign_matches_type(cls, df: pd.DataFrame) -> Series[bool]:
        purchase = df["order_type"] == "purchase"
        return (purchase & (df["quantity"] > 0)) | (~purchase & (df["quantity"] < 0))

    @pa.dataframe_check(error="a refund must name its original_order_id")
    def refund_names_original(cls, df: pd.DataFrame) -> Series[bool]:
        return (df["order_type"] != "refund") | df["original_order_id"].notna()


class LoyaltyBalances(SourceContract):
    customer_id: Series[pd.StringDtype] = _customer_id()
    snapshot_date: Series[pd.Timestamp] = _date()
    points_balance: Series[pd.Int64Dtype] = pa.Field(ge=0, le=100_000_000)
    loyalty_tier: Series[pd.StringDtype] = pa.Field(isin=LOYALTY_TIERS)

    class Config:
        unique = ["customer_id", "snapshot_date"]

    @pa.dataframe_check(error="snapshot_date is after the file's date")
    def snapshot_not_in_future(cls, df: pd.DataFrame) -> Series[bool]:
        return _not_after_file_date(df, "snapshot_date")


class Subscriptions(SourceContract):
    subscription_id: Series[pd.StringDtype] = pa.Field(str_matches=r"S[0-9]{8}\Z")
    customer_id: Series[pd.StringDtype] = _customer_id()
    plan_id: Series[pd.StringDtype] = pa.Field(str_matches=r"PL[0-9]{2}\Z")
    plan_name: Series[pd.StringDtype] = pa.Field(str_length={"min_value": 1, "max_value": 100})
    status: Series[pd.StringDtype] = pa.Field(isin=SUBSCRIPTION_STATUSES)
    start_date: Series[pd.Timestamp] = _date()
    end_date: Series[pd.Timestamp] = _date(nullable=True)
    renewal_date: Series[pd.Timestamp] = _date(nullable=True)
    is_auto_renew: Series[pd.BooleanDtype] = pa.Field()

    class Config:
        unique = ["subscription_id"]

    @pa.dataframe_check(error="start_date is after the file's date")
    def start_not_in_future(cls, df: pd.DataFrame) -> Series[bool]:
        return _not_after_file_date(df, "start_date")

    @pa.dataframe_check(error="end_date is before start_date")
    def ends_after_start(cls, df: pd.DataFrame) -> Series[bool]:
        return df["end_date"].isna() | (df["end_date"] >= df["start_date"])

    @pa.dataframe_check(error="a cancelled subscription must have an end_date")
    def cancelled_has_end(cls, df: pd.DataFrame) -> Series[bool]:
        return (df["status"] != "cancelled") | df["end_date"].notna()


class SupportTickets(SourceContract):
    ticket_id: Series[pd.StringDtype] = pa.Field(str_matches=r"T[0-9]{8}\Z")
    customer_id: Series[pd.StringDtype] = _customer_id()
    opened_datetime: Series[pd.Timestamp] = _timestamp()
    closed_datetime: Series[pd.Timestamp] = _timestamp(nullable=True)
    status: Series[pd.StringDtype] = pa.Field(isin=TICKET_STATUSES)
    channel: Series[pd.StringDtype] = pa.Field(isin=TICKET_CHANNELS)
    issue_type: Series[pd.StringDtype] = pa.Field(str_matches=r"[a-z_]{1,40}\Z")
    root_cause: Series[pd.StringDtype] = pa.Field(str_matches=r"[a-z_]{1,40}\Z", nullable=True)
    product_id: Series[pd.StringDtype] = pa.Field(str_matches=PRODUCT_ID, nullable=True)
    app_version: Series[pd.StringDtype] = pa.Field(str_matches=APP_VERSION, nullable=True)
    resolution_time_minutes: Series[pd.Int64Dtype] = pa.Field(ge=0, le=525_600, nullable=True)
    csat_score: Series[pd.Int64Dtype] = pa.Field(ge=1, le=5, nullable=True)

    class Config:
        unique = ["ticket_id"]

    @pa.dataframe_check(error="opened_datetime is after the file's date")
    def opened_not_in_future(cls, df: pd.DataFrame) -> Series[bool]:
        return _not_after_file_date(df, "opened_datetime")

    @pa.dataframe_check(error="closed_datetime is after the file's date")
    def closed_not_in_future(cls, df: pd.DataFrame) -> Series[bool]:
        return _not_after_file_date(df, "closed_datetime")

    @pa.dataframe_check(error="closed_datetime is before opened_datetime")
    def closed_after_opened(cls, df: pd.DataFrame) -> Series[bool]:
        return df["closed_datetime"].isna() | (df["closed_datetime"] >= df["opened_datetime"])

    @pa.dataframe_check(error="a closed ticket must have a closed_datetime")
    def closed_has_timestamp(cls, df: pd.DataFrame) -> Series[bool]:
        return (df["status"] != "closed") | df["closed_datetime"].notna()


class DeviceSessions(SourceContract):
    session_id: Series[pd.StringDtype] = pa.Field(str_matches=r"E[0-9]{10}\Z")
    customer_id: Series[pd.StringDtype] = _customer_id()
    session_start_ts: Series[pd.Timestamp] = _timestamp()
    session_end_ts: Series[pd.Timestamp] = _timestamp()
    device_type: Series[pd.StringDtype] = pa.Field(isin=DEVICE_TYPES)
    os_version: Series[pd.StringDtype] = pa.Field(str_length={"min_value": 1, "max_value": 40})
    app_version: Series[pd.StringDtype] = pa.Field(str_matches=APP_VERSION, nullable=True)
    pages_viewed: Series[pd.Int64Dtype] = pa.Field(ge=0, le=100_000)
    events_fired: Series[pd.Int64Dtype] = pa.Field(ge=0, le=1_000_000)

    class Config:
        unique = ["session_id"]

    @pa.dataframe_check(error="session_start_ts is after the file's date")
    def start_not_in_future(cls, df: pd.DataFrame) -> Series[bool]:
        return _not_after_file_date(df, "session_start_ts")

    @pa.dataframe_check(error="session_end_ts is before session_start_ts")
    def ends_after_start(cls, df: pd.DataFrame) -> Series[bool]:
        return df["session_end_ts"] >= df["session_start_ts"]


@dataclass(frozen=True)
class Column:
    name: str
    kind: str  # str | int | float | bool | date | datetime
    nullable: bool
    pii: Pii | None = None  # None: nothing personal


@dataclass(frozen=True)
class Source:
    """A landing source: its name (folder and raw table) and its contract. `event_column` dates
    the event a row records, for sources whose rows are events (a row dated well before its file
    is late data). State exports (profiles, subscriptions, tickets, loyalty snapshots) are re-sent
    as they change and feed full models, which take them in on the next run."""

    name: str
    contract: type[SourceContract]
    event_column: str | None = None

    @cached_property  # building the pandera schema is slow, and ingestion asks per file
    def columns(self) -> tuple[Column, ...]:
        schema = self.contract.to_schema()
        return tuple(
            Column(name, _kind(col), bool(col.nullable), (col.metadata or {}).get("pii"))
            for name, col in schema.columns.items()
            if not name.startswith("_")
        )

    @cached_property
    def column_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)

    @property
    def required_columns(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns if not c.nullable)

    @property
    def key(self) -> tuple[str, ...]:
        return tuple(self.contract.Config.unique)


def _kind(column: pa.Column) -> str:
    declared = (column.metadata or {}).get("kind")
    if declared:
        return str(declared)
    dtype = str(column.dtype).lower()
    for marker, kind in (("int", "int"), ("float", "float"), ("bool", "bool")):
        if marker in dtype:
            return kind
    return "str"


# Dependency order: profiles before the facts that reference them.
SOURCES: tuple[Source, ...] = (
    Source("customers", Customers),
    Source("financial_profiles", FinancialProfiles),
    Source("subscriptions", Subscriptions),
    Source("orders", Orders, event_column="order_datetime"),
    Source("loyalty_balances", LoyaltyBalances),
    Source("support_tickets", SupportTickets),
    Source("device_sessions", DeviceSessions, event_column="session_start_ts"),
)
SOURCES_BY_NAME = {s.name: s for s in SOURCES}
if tuple(SOURCES_BY_NAME) != SOURCE_NAMES:
    raise RuntimeError(f"the contracts declare {tuple(SOURCES_BY_NAME)}; vocabulary.SOURCE_NAMES says {SOURCE_NAMES}")


def pii_columns() -> dict[str, Pii]:
    """Every classified column name across the sources and its class. A name means one thing
    everywhere (city is a city in profiles and in orders), so one name has one class."""
    result: dict[str, Pii] = {}
    for source in SOURCES:
        for column in source.columns:
            if column.pii is None:
                continue
            if result.setdefault(column.name, column.pii) is not column.pii:
                raise ValueError(f"{column.name} is classified both {result[column.name]} and {column.pii}")
    return result


def pii_kept_out_of_marts() -> tuple[str, ...]:
    """The column names no mart may carry, sorted."""
    return tuple(sorted(name for name, kind in pii_columns().items() if not kind.allowed_in_marts))
