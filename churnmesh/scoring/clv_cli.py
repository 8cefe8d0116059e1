"""`churnmesh clv fit`: BG/NBD + Gamma-Gamma on any transaction log."""

from __future__ import annotations

import argparse
import json

import pandas as pd

from churnmesh.scoring.clv import customer_lifetime_value, fit_bgnbd, fit_gamma_gamma, rfm_summary
from churnmesh.settings import business_definitions


def read_transactions(args: argparse.Namespace) -> pd.DataFrame:
    sep = r"\s+" if args.sep == "whitespace" else args.sep
    try:
        frame = pd.read_csv(args.file, sep=sep, header=None if args.no_header else "infer", dtype=str)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ValueError(f"{args.file} is not a transaction file ({first_line})") from None
    frame.columns = [str(c) for c in frame.columns]
    missing = [c for c in (args.customer_col, args.date_col, args.amount_col) if c not in frame.columns]
    if missing:
        raise ValueError(f"column(s) not in {args.file}: {', '.join(missing)} (columns: {', '.join(frame.columns)})")
    dates = pd.to_datetime(frame[args.date_col], format=args.date_format or "ISO8601", errors="coerce")
    amounts = pd.to_numeric(frame[args.amount_col], errors="coerce")
    bad = dates.isna() | amounts.isna() | frame[args.customer_col].isna()
    if bad.any():
        first = int(bad.idxmax())
        raise ValueError(
            f"{int(bad.sum())} row(s) with a missing customer, an unreadable date or amount; "
            f"first at data row {first + 1}: {frame.iloc[first].to_dict()}"
        )
    return pd.DataFrame({"customer": frame[args.customer_col], "date": dates, "amount": amounts})


def cmd_fit(args: argparse.Namespace) -> int:
    calibration_end = pd.Timestamp(args.calibration_end)
    transactions = read_transactions(args)
    summary = rfm_summary(transactions, "customer", "date", "amount", calibration_end, args.time_unit)
    bgnbd = fit_bgnbd(summary)
    spend = fit_gamma_gamma(summary)
    definitions = business_definitions()
    result = {
        "customers": len(summary.frame),
        "calibration_end": str(calibration_end.date()),
        "time_unit": args.time_unit,
        "bgnbd": {
            "r": bgnbd.r,
            "alpha": bgnbd.alpha,
            "a": bgnbd.a,
            "b": bgnbd.b,
            "log_likelihood": bgnbd.log_likelihood,
        },
        "gamma_gamma": {
            "p": spend.p,
            "q": spend.q,
            "gamma": spend.gamma,
            "log_likelihood": spend.log_likelihood,
            "customers_fitted": int((summary.frame["frequency"] > 0).sum()),
        },
        "clv_horizon_days": definitions["clv_horizon_days"],
        "clv_annual_discount_rate": definitions["clv_annual_discount_rate"],
    }
    if args.out:
        predictions = customer_lifetime_value(
            bgnbd,
            spend,
            summary,
            int(definitions["clv_horizon_days"]),
            float(definitions["clv_annual_discount_rate"]),
            args.time_unit,
        )
        predictions.rename_axis("customer").to_csv(args.out)
        result["predictions"] = str(args.out)
    print(json.dumps(result, indent=2))
    return 0
