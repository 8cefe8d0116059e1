"""BG/NBD and Gamma-Gamma against the published CDNOW results, and their predictions (as the
warehouse model stores them, rounded)."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from datetime import date, timedelta
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest
from scipy.special import hyp2f1

from churnmesh.scoring.clv import (
    BgNbd,
    GammaGamma,
    RfmSummary,
    bgnbd_log_likelihood,
    bgnbd_log_likelihood_gradient,
    customer_lifetime_value,
    fit_bgnbd,
    fit_gamma_gamma,
    gamma_gamma_log_likelihood,
    gamma_gamma_log_likelihood_gradient,
    rfm_summary,
)
from churnmesh.scoring.scores import clv_predictions
from tests.helpers import CDNOW, CDNOW_CLV_FIT
from tests.test_money_and_exports import synthetic_purchases

CALIBRATION_END = pd.Timestamp("1997-09-30")
HOLDOUT_END = pd.Timestamp("1998-06-30")


@pytest.fixture(scope="module")
def cdnow() -> pd.DataFrame:
    frame = pd.read_csv(
        CDNOW,
        sep=r"\s+",
        header=None,
        names=["id", "sample_id", "date", "cds", "amount"],
        dtype={"id": str, "date": str},
    )
    return frame.assign(date=pd.to_datetime(frame["date"], format="%Y%m%d"))


def test_cli_reproduces_the_published_cdnow_parameters() -> None:
    result = subprocess.run(
        [str(Path(sys.executable).parent / "churnmesh"), *CDNOW_CLV_FIT, "--time-unit", "weeks"],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    fitted = json.loads(result.stdout)
    assert fitted["customers"] == 2357
    bgnbd, spend = fitted["bgnbd"], fitted["gamma_gamma"]
    # Fader, Hardie & Lee (2005): r=0.243, alpha=4.414, a=0.793, b=2.426, LL=-9582.4
    assert bgnbd["r"] == pytest.approx(0.243, abs=0.0005)
    assert bgnbd["alpha"] == pytest.approx(4.414, abs=0.001)
    assert bgnbd["a"] == pytest.approx(0.793, abs=0.0005)
    assert bgnbd["b"] == pytest.approx(2.426, abs=0.001)
    assert bgnbd["log_likelihood"] == pytest.approx(-9582.4, abs=0.05)
    # Fader & Hardie (2013): p=6.25, q=3.74, gamma=15.44
    assert spend["p"] == pytest.approx(6.25, abs=0.005)
    assert spend["q"] == pytest.approx(3.74, abs=0.005)
    assert spend["gamma"] == pytest.approx(15.44, abs=0.01)


def test_the_fits_in_process_reproduce_the_published_cdnow_parameters(cdnow: pd.DataFrame) -> None:
    summary = rfm_summary(cdnow, "id", "date", "amount", CALIBRATION_END, "weeks")
    bgnbd, spend = fit_bgnbd(summary), fit_gamma_gamma(summary)
    assert (bgnbd.r, bgnbd.alpha, bgnbd.a, bgnbd.b) == pytest.approx((0.243, 4.414, 0.793, 2.426), abs=0.001)
    assert bgnbd.log_likelihood == pytest.approx(-9582.4, abs=0.05)
    assert (spend.p, spend.q, spend.gamma) == pytest.approx((6.25, 3.74, 15.44), abs=0.01)


def test_gamma_gamma_fits_only_repeat_customers_with_positive_spend(cdnow: pd.DataFrame) -> None:
    """A customer whose repeat purchases were all free (or who never came back) adds nothing to
    the spend model; one who spent under a dollar a purchase counts like any other."""
    summary = rfm_summary(cdnow, "id", "date", "amount", CALIBRATION_END, "weeks")
    frame = summary.frame
    reference = fit_gamma_gamma(summary)
    free = frame.iloc[:1].assign(frequency=3, monetary_value=0.0).rename(lambda _: "free")
    one_time = frame.iloc[:1].assign(frequency=0, monetary_value=25.0).rename(lambda _: "once")
    padded = fit_gamma_gamma(RfmSummary(pd.concat([frame, free, one_time])))
    assert (padded.p, padded.q, padded.gamma) == pytest.approx((reference.p, reference.q, reference.gamma), rel=1e-9)
    cheap = frame.iloc[:1].assign(frequency=1, monetary_value=0.5).rename(lambda _: "cheap")
    with_cheap = fit_gamma_gamma(RfmSummary(pd.concat([frame, cheap])))
    assert with_cheap.log_likelihood != pytest.approx(reference.log_likelihood, abs=1e-6)


def test_holdout_purchases_are_forecast_overall_and_by_frequency(cdnow: pd.DataFrame) -> None:
    summary = rfm_summary(cdnow, "id", "date", "amount", CALIBRATION_END, "weeks")
    model = fit_bgnbd(summary)
    f = summary.frame
    weeks = (HOLDOUT_END - CALIBRATION_END).days / 7
    predicted = pd.Series(model.expected_purchases(weeks, f["frequency"], f["recency"], f["T"]), index=f.index)
    holdout = cdnow[(cdnow["date"] > CALIBRATION_END) & (cdnow["date"] <= HOLDOUT_END)]
    actual = holdout.groupby("id")["date"].nunique().reindex(f.index, fill_value=0)
    # Measured: 1,653 repeat purchases predicted for the 39 holdout weeks against 1,882 made (-12%).
    assert predicted.sum() == pytest.approx(actual.sum(), rel=0.15)
    buckets = f["frequency"].clip(upper=7)
    by_bucket = pd.DataFrame({"predicted": predicted, "actual": actual}).groupby(buckets).mean()
    # The paper's conditional expectations track the holdout within a few tenths of a purchase.
    assert (by_bucket["predicted"] - by_bucket["actual"]).abs().max() < 0.6
    assert by_bucket["predicted"].is_monotonic_increasing


def test_predictions_are_well_behaved(cdnow: pd.DataFrame) -> None:
    summary = rfm_summary(cdnow, "id", "date", "amount", CALIBRATION_END, "weeks")
    predictions = customer_lifetime_value(fit_bgnbd(summary), fit_gamma_gamma(summary), summary, 365, 0.10)
    assert predictions["p_alive"].between(0, 1).all()
    assert (predictions.loc[predictions["frequency"] == 0, "p_alive"] == 1).all()
    assert (predictions["clv"] >= 0).all() and np.isfinite(predictions["clv"]).all()
    undiscounted = customer_lifetime_value(fit_bgnbd(summary), fit_gamma_gamma(summary), summary, 365, 0.0)
    assert (undiscounted["clv"] >= predictions["clv"] - 1e-9).all()


def test_extreme_histories_stay_finite() -> None:
    model = BgNbd(r=0.24, alpha=4.4, a=0.79, b=2.4, log_likelihood=0.0)
    x = np.array([0, 1, 500, 5000])
    t_x = np.array([0.0, 0.001, 1000.0, 9000.0])
    T = np.array([0.001, 5000.0, 1000.0, 9000.0])
    assert np.isfinite(model.p_alive(x, t_x, T)).all()
    assert np.isfinite(model.expected_purchases(52.0, x, t_x, T)).all()


def test_unreadable_rows_are_reported_not_dropped(tmp_path: Path) -> None:
    log = tmp_path / "tx.csv"
    log.write_text("customer,day,amount\nA,2024-01-01,10\nA,2024-02-30,12\nB,2024-01-05,abc\n")
    result = subprocess.run(
        [
            str(Path(sys.executable).parent / "churnmesh"),
            "clv",
            "fit",
            str(log),
            "--customer-col",
            "customer",
            "--date-col",
            "day",
            "--amount-col",
            "amount",
            "--calibration-end",
            "2024-03-01",
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert result.returncode == 2
    assert "2 row(s) with a missing customer, an unreadable date or amount" in result.stderr


# ---- small cases computed by hand from the papers' formulas (plain arithmetic, no log space) ----
R, ALPHA, A, B = 0.5, 3.0, 0.8, 2.5


def _bgnbd_likelihood_by_hand(x: int, t_x: float, T: float) -> float:
    """Fader, Hardie & Lee (2005), eq. 6."""

    def beta(p: float, q: float) -> float:
        return math.gamma(p) * math.gamma(q) / math.gamma(p + q)

    common = math.gamma(R + x) * ALPHA**R / math.gamma(R)
    stays = beta(A, B + x) / beta(A, B) * common / (ALPHA + T) ** (R + x)
    leaves = beta(A + 1, B + x - 1) / beta(A, B) * common / (ALPHA + t_x) ** (R + x) if x > 0 else 0.0
    return stays + leaves


@pytest.mark.parametrize(("x", "t_x", "T"), [(0, 0.0, 10.0), (1, 4.0, 10.0), (3, 7.5, 12.0)])
def test_bgnbd_likelihood_matches_a_hand_computation(x: int, t_x: float, T: float) -> None:
    expected = math.log(_bgnbd_likelihood_by_hand(x, t_x, T))
    got = bgnbd_log_likelihood(np.array([R, ALPHA, A, B]), np.array([x]), np.array([t_x]), np.array([T]))
    assert got == pytest.approx(expected, rel=1e-10)


def test_p_alive_matches_a_hand_computation() -> None:
    model = BgNbd(R, ALPHA, A, B, 0.0)
    x, t_x, T = 3, 7.5, 12.0
    by_hand = 1 / (1 + A / (B + x - 1) * ((ALPHA + T) / (ALPHA + t_x)) ** (R + x))
    assert model.p_alive(np.array([x]), np.array([t_x]), np.array([T]))[0] == pytest.approx(by_hand, rel=1e-12)
    assert model.p_alive(np.array([0]), np.array([0.0]), np.array([T]))[0] == 1.0


def test_expected_purchases_over_a_short_time_are_rate_times_survival() -> None:
    """For small t, E[Y(t)] -> t x P(alive) x E[lambda | history] = t x P(alive) x (r + x) / (alpha + T)."""
    model = BgNbd(R, ALPHA, A, B, 0.0)
    x, t_x, T, t = 3, 7.5, 12.0, 1e-4
    limit = t * model.p_alive(np.array([x]), np.array([t_x]), np.array([T]))[0] * (R + x) / (ALPHA + T)
    assert model.expected_purchases(t, np.array([x]), np.array([t_x]), np.array([T]))[0] == pytest.approx(
        limit, rel=1e-3
    )


def test_gamma_gamma_matches_a_hand_computation() -> None:
    p, q, gamma, x, m = 6.0, 3.5, 15.0, 2, 40.0
    by_hand = (
        math.gamma(p * x + q)
        / (math.gamma(p * x) * math.gamma(q))
        * gamma**q
        * m ** (p * x - 1)
        * x ** (p * x)
        / (gamma + m * x) ** (p * x + q)
    )
    got = gamma_gamma_log_likelihood(np.array([p, q, gamma]), np.array([float(x)]), np.array([m]))
    assert got == pytest.approx(math.log(by_hand), rel=1e-10)
    spend = GammaGamma(p, q, gamma, 0.0)
    weight = (q - 1) / (p * x + q - 1)  # Fader & Hardie (2013): a weighted mean of population and customer
    expected = weight * p * gamma / (q - 1) + (1 - weight) * m
    assert spend.expected_spend(np.array([x]), np.array([m]))[0] == pytest.approx(expected, rel=1e-12)


def test_a_short_history_without_dropouts_gives_finite_positive_predictions() -> None:
    """Six weeks in which nobody leaves push b towards infinity; predictions must stay sane."""
    rng = np.random.default_rng(9)
    rows = [
        (f"c{c}", pd.Timestamp("2024-01-01") + pd.Timedelta(days=int(d)), 20.0 + 5 * rng.random())
        for c in range(150)
        for d in np.sort(rng.choice(42, size=1 + rng.poisson(2), replace=False))
    ]
    transactions = pd.DataFrame(rows, columns=["customer", "date", "amount"])
    summary = rfm_summary(transactions, "customer", "date", "amount", pd.Timestamp("2024-02-11"))
    predictions = customer_lifetime_value(fit_bgnbd(summary), fit_gamma_gamma(summary), summary, 365, 0.1)
    assert np.isfinite(predictions[["expected_purchases", "clv"]].to_numpy()).all()
    assert (predictions["expected_purchases"] > 0).all() and (predictions["clv"] > 0).all()
    assert predictions["expected_purchases"].max() < 365  # at most a purchase day per day


@pytest.mark.parametrize("params", [(0.2426, 4.4136, 0.7929, 2.4259), (3.56, 10.1, 0.245, 5.0), (1.0, 2.0, 1.5, 0.5)])
def test_expected_purchases_equal_the_papers_closed_form(params: tuple[float, float, float, float]) -> None:
    """Fader, Hardie & Lee (2005), eq. 10, with the Gaussian hypergeometric function."""
    r, alpha, a, b = params
    x = np.array([0.0, 1, 2, 5, 20])
    t_x = np.array([0.0, 3.0, 8.0, 30.0, 37.0])
    T = np.array([30.0, 20.0, 10.0, 38.0, 38.0])
    t = 39.0
    model = BgNbd(r, alpha, a, b, 0.0)
    hyp = hyp2f1(r + x, b + x, a + b + x - 1, t / (alpha + T + t))
    closed = (a + b + x - 1) / (a - 1) * (1 - ((alpha + T) / (alpha + T + t)) ** (r + x) * hyp)
    closed = closed * model.p_alive(x, t_x, T)
    np.testing.assert_allclose(model.expected_purchases(t, x, t_x, T), closed, rtol=1e-9)


def _central_difference(function, params: np.ndarray, step: float = 1e-6) -> np.ndarray:  # type: ignore[no-untyped-def]
    """Numerical gradient, each parameter moved by a relative step."""
    gradient = np.empty_like(params)
    for i in range(len(params)):
        h = step * params[i]
        up, down = params.copy(), params.copy()
        up[i] += h
        down[i] -= h
        gradient[i] = (function(up) - function(down)) / (2 * h)
    return gradient


@pytest.mark.parametrize("params", [(0.243, 4.414, 0.793, 2.426), (3.5, 40.0, 0.2, 60.0), (0.05, 0.5, 4.0, 0.7)])
def test_bgnbd_gradient_matches_finite_differences(cdnow: pd.DataFrame, params: tuple[float, ...]) -> None:
    f = rfm_summary(cdnow, "id", "date", "amount", CALIBRATION_END, "weeks").frame
    x, t_x, T = (f[c].to_numpy(float) for c in ("frequency", "recency", "T"))
    point = np.array(params)
    numeric = _central_difference(lambda p: bgnbd_log_likelihood(p, x, t_x, T), point)
    np.testing.assert_allclose(bgnbd_log_likelihood_gradient(point, x, t_x, T), numeric, rtol=1e-5, atol=1e-3)


@pytest.mark.parametrize("params", [(6.25, 3.74, 15.44), (1.2, 9.0, 300.0), (40.0, 1.5, 2.0)])
def test_gamma_gamma_gradient_matches_finite_differences(cdnow: pd.DataFrame, params: tuple[float, ...]) -> None:
    f = rfm_summary(cdnow, "id", "date", "amount", CALIBRATION_END, "weeks").frame
    repeaters = f[f["frequency"] > 0]
    x, m_x = repeaters["frequency"].to_numpy(float), repeaters["monetary_value"].to_numpy(float)
    point = np.array(params)
    numeric = _central_difference(lambda p: gamma_gamma_log_likelihood(p, x, m_x), point)
    np.testing.assert_allclose(gamma_gamma_log_likelihood_gradient(point, x, m_x), numeric, rtol=1e-5, atol=1e-3)


@pytest.mark.filterwarnings("ignore:invalid value:RuntimeWarning")
def test_a_fit_that_cannot_compute_the_likelihood_fails_instead_of_returning_a_model() -> None:
    """Spend that is not a positive number makes every Gamma-Gamma likelihood undefined."""
    frame = pd.DataFrame(
        {"frequency": [2.0, 3.0], "recency": [5.0, 6.0], "T": [10.0, 10.0], "monetary_value": [np.inf, np.inf]}
    )
    with pytest.raises(ValueError, match="cannot be computed"):
        fit_gamma_gamma(RfmSummary(frame))


PRECISION = {
    "p_alive": 6,
    "expected_purchases": 6,
    "expected_spend_per_purchase_usd": 4,
    "predicted_order_clv_usd": 2,
    "predicted_subscription_clv_usd": 2,
    "predicted_clv_usd": 2,
}


def test_clv_predictions_round_each_figure_to_its_own_precision(tmp_path: Path) -> None:
    """Customers of whom half stopped buying months ago (so P(alive) falls below 1), some paying a
    subscription: every figure is rounded to its decimals and the data needs each last decimal."""
    as_of = date(2024, 12, 31)
    purchases = synthetic_purchases(np.random.default_rng(11), 60, as_of)
    ids = purchases["customer_id"].unique()
    stopped = purchases["customer_id"].isin(ids[::2])
    purchases.loc[stopped, "order_date"] = purchases.loc[stopped, "order_date"] - timedelta(days=400)
    customers = pd.DataFrame({"customer_id": ids, "mrr_usd": [9.99 if i % 3 == 0 else 0.0 for i in range(len(ids))]})
    con = duckdb.connect(str(tmp_path / "orders.duckdb"))
    try:
        con.execute("CREATE TABLE orders AS SELECT *, 'purchase' AS order_type FROM purchases")
        got = clv_predictions(lambda sql: con.execute(sql).df(), "orders", customers, as_of, 365, 0.1)
    finally:
        con.close()
    for column, digits in PRECISION.items():
        values = got[column].dropna().astype(float)
        assert (values == values.round(digits)).all(), f"{column} is not rounded to {digits} decimals"
        assert (values != values.round(digits - 1)).any(), f"no {column} uses its decimal {digits}: weak test data"


def _purchases(rows: list[tuple[str, str, float]]) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=["customer", "at", "amount"])
    return frame.assign(at=pd.to_datetime(frame["at"]))


def test_the_summary_counts_repeat_days_up_to_and_including_the_calibration_end() -> None:
    """Two purchases on one day are one (amounts added); a purchase on the calibration end counts,
    one after it does not; spend is the mean of the repeat days only, 0 without a repeat."""
    purchases = _purchases(
        [
            ("A", "2024-01-01 09:00", 10.0),
            ("A", "2024-01-01 17:00", 5.0),  # same day: one purchase of 15
            ("A", "2024-01-08 10:00", 20.0),
            ("A", "2024-01-15 23:00", 40.0),  # on the calibration end: counts
            ("A", "2024-01-16 00:00", 99.0),  # after it: does not
            ("B", "2024-01-08 12:00", 7.0),  # one purchase: no repeat
        ]
    )
    summary = rfm_summary(purchases, "customer", "at", "amount", pd.Timestamp("2024-01-15 23:59"), "days").frame
    assert summary.loc["A"].to_dict() == {"frequency": 2, "recency": 14.0, "T": 14.0, "monetary_value": 30.0}
    assert summary.loc["B"].to_dict() == {"frequency": 0, "recency": 0.0, "T": 7.0, "monetary_value": 0.0}
    weeks = rfm_summary(purchases, "customer", "at", "amount", pd.Timestamp("2024-01-15 23:59"), "weeks").frame
    assert weeks.loc["A", "T"] == 2.0 and weeks.loc["B", "T"] == 1.0
    counted = rfm_summary(purchases, "customer", "at", None, pd.Timestamp("2024-01-15 23:59"), "days").frame
    assert list(counted["monetary_value"]) == [0.0, 0.0]  # without amounts: purchase counts only


def test_the_summary_and_the_fit_refuse_what_they_cannot_use() -> None:
    purchases = _purchases([("A", "2024-01-01", 10.0), ("A", "2024-01-08", 20.0)])
    with pytest.raises(ValueError, match=r"^time unit must be one of \['days', 'weeks'\]$"):
        rfm_summary(purchases, "customer", "at", "amount", pd.Timestamp("2024-02-01"), "months")
    with pytest.raises(ValueError, match=r"^no transactions on or before the calibration end 2023-12-31$"):
        rfm_summary(purchases, "customer", "at", "amount", pd.Timestamp("2023-12-31"))
    newcomers = rfm_summary(
        _purchases([("A", "2024-01-08", 1.0), ("B", "2024-01-08", 2.0)]),
        "customer",
        "at",
        "amount",
        pd.Timestamp("2024-01-08"),
    )
    nothing = r"^every customer's first purchase is on the calibration end: nothing to fit$"
    with pytest.raises(ValueError, match=nothing):
        fit_bgnbd(newcomers)
    lone = rfm_summary(
        _purchases([("A", "2024-01-01", 1.0), ("A", "2024-01-05", 3.0)]),
        "customer",
        "at",
        None,
        pd.Timestamp("2024-01-08"),
    )
    with pytest.raises(
        ValueError, match=r"^Gamma-Gamma needs at least two customers with repeat purchases and positive spend$"
    ):
        fit_gamma_gamma(lone)
    one_day_old = rfm_summary(
        _purchases([("A", "2024-01-07", 1.0), ("B", "2024-01-08", 2.0)]),
        "customer",
        "at",
        "amount",
        pd.Timestamp("2024-01-08"),
        "days",
    )
    assert np.isfinite(fit_bgnbd(one_day_old).log_likelihood)  # one customer a day old is enough to fit


@pytest.mark.parametrize("horizon_days", [30, 90, 360])
def test_a_horizon_of_whole_30_day_steps_discounts_exactly_that_many_steps(
    cdnow: pd.DataFrame, horizon_days: int
) -> None:
    summary = rfm_summary(cdnow, "id", "date", "amount", CALIBRATION_END, "weeks")
    bgnbd, spend = fit_bgnbd(summary), fit_gamma_gamma(summary)
    f = summary.frame.head(50)
    one = RfmSummary(f)
    got = customer_lifetime_value(bgnbd, spend, one, horizon_days, 0.10)
    steps = np.arange(1, horizon_days // 30 + 1) * 30.0
    x, t_x, T = (f[c].to_numpy(float) for c in ("frequency", "recency", "T"))
    cumulative = np.stack([bgnbd.expected_purchases(s / 7, x, t_x, T) for s in steps])
    per_step = np.diff(cumulative, axis=0, prepend=0.0)
    discount = (1.10 ** (-steps / 365))[:, None]
    expected = (per_step * discount).sum(axis=0) * spend.expected_spend(x, f["monetary_value"].to_numpy(float))
    np.testing.assert_allclose(got["clv"].to_numpy(float), expected, rtol=1e-9)
    np.testing.assert_allclose(got["p_alive"].to_numpy(float), bgnbd.p_alive(x, t_x, T), rtol=1e-12)


def test_each_fit_stops_at_the_maximum_of_its_likelihood(cdnow: pd.DataFrame) -> None:
    """The published figures have three decimals; the fit itself must go further: at the fitted
    parameters the log-likelihood's gradient (per customer, in log-parameters) vanishes, and no
    nearby point is more likely."""
    f = rfm_summary(cdnow, "id", "date", "amount", CALIBRATION_END, "weeks").frame
    bgnbd, spend = fit_bgnbd(RfmSummary(f)), fit_gamma_gamma(RfmSummary(f))
    x, t_x, T = (f[c].to_numpy(float) for c in ("frequency", "recency", "T"))
    point = np.array([bgnbd.r, bgnbd.alpha, bgnbd.a, bgnbd.b])
    gradient = bgnbd_log_likelihood_gradient(point, x, t_x, T) * point / len(x)
    assert np.abs(gradient).max() < 1e-6
    repeat = (f["frequency"] > 0) & (f["monetary_value"] > 0)
    xs, ms = f.loc[repeat, "frequency"].to_numpy(float), f.loc[repeat, "monetary_value"].to_numpy(float)
    spend_point = np.array([spend.p, spend.q, spend.gamma])
    assert np.abs(gamma_gamma_log_likelihood_gradient(spend_point, xs, ms) * spend_point / len(xs)).max() < 1e-6
    assert spend.log_likelihood == pytest.approx(gamma_gamma_log_likelihood(spend_point, xs, ms), rel=1e-12)
    for step in np.eye(4) * 1e-4:
        for sign in (1, -1):
            assert bgnbd_log_likelihood(point * np.exp(sign * step), x, t_x, T) <= bgnbd.log_likelihood + 1e-9
