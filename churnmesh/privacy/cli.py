"""`churnmesh export campaign`: contact details of a segment's consenting customers, as CSV."""

from __future__ import annotations

import argparse

from churnmesh import parameters
from churnmesh.privacy.export import CAMPAIGNS, RFM_SEGMENTS, export_campaign, segment
from churnmesh.settings import data_paths


def add_parser(sub: argparse._SubParsersAction) -> None:
    export = sub.add_parser("export", help="exports that carry personal data (read-only on the warehouse)")
    export_sub = export.add_subparsers(dest="export_command", required=True)
    campaign = export_sub.add_parser(
        "campaign",
        help="names and emails of a segment's customers who consent to marketing, as CSV",
        description=(
            "Customers of a campaign (its eligibility flag in marts.mart_customer_360) or of an RFM segment, "
            "with marketing consent in their latest profile on or before the export date."
        ),
    )
    campaign.add_argument(
        "--segment",
        required=True,
        type=parameters.argument_type(segment, "segment"),
        help=f"a campaign ({', '.join(CAMPAIGNS)}) or an RFM segment ({', '.join(RFM_SEGMENTS)})",
    )
    campaign.add_argument(
        "--out",
        required=True,
        type=parameters.argument_type(parameters.output_file, "out"),
        help="the CSV file to write (replaced whole)",
    )
    campaign.add_argument(
        "--as-of",
        type=parameters.argument_type(parameters.iso_date, "date"),
        help="the export date whose marketing consent counts (default: the date the marts describe)",
    )


def cmd_export(args: argparse.Namespace) -> int:
    result = export_campaign(data_paths(), args.segment, args.out, args.as_of)
    print(
        f"{result.customers:,} customers of {result.segment} (marts as of {result.marts_as_of}, consent as of "
        f"{result.as_of}) written to {result.path}; {result.without_consent:,} left out without marketing consent"
    )
    return 0
