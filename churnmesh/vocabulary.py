"""Names and formats shared across churnmesh, in a module light enough for the command line to
check a value without loading the contracts (pandera), the generator (numpy) or the models (scipy)."""

from __future__ import annotations

from datetime import date

# The landing sources, in dependency order: profiles before the facts that reference them.
# contracts.py gives each its contract and checks that it declares these names in this order.
SOURCE_NAMES = (
    "customers",
    "financial_profiles",
    "subscriptions",
    "orders",
    "loyalty_balances",
    "support_tickets",
    "device_sessions",
)

# Regular expressions end in \Z: `$` would accept a trailing newline. Digits are [0-9]:
# `\d` also matches non-ASCII digits such as full-width ones.
CUSTOMER_ID = r"C[0-9]{7}\Z"
PRODUCT_ID = r"P[0-9]{3}\Z"
EMAIL = r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}\Z"
APP_VERSION = r"[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}\Z"

# The generator's calendar. The end is its fixed "today": results never depend on the clock.
GENERATOR_START = date(2024, 1, 1)
GENERATOR_END = date(2025, 12, 31)

# The time units the CLV models count in, in days.
TIME_UNIT_DAYS = {"days": 1.0, "weeks": 7.0}

# Campaign name -> its eligibility flag in marts.mart_customer_360 (defined there).
CAMPAIGNS = {
    "retention": "eligible_retention_campaign",
    "onboarding": "eligible_onboarding_campaign",
    "premium": "eligible_premium_campaign",
}
# The rfm_segment values of marts.mart_customer_segments (its accepted_values audit lists them too).
RFM_SEGMENTS = (
    "champions",
    "loyal",
    "potential_loyalist",
    "new",
    "at_risk",
    "cant_lose",
    "hibernating",
    "lost",
    "no_purchase_yet",
)
