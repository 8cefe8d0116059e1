"""`churnmesh export campaign`: contact details of a segment's consenting customers, as CSV."""

from __future__ import annotations

import argparse

from churnmesh.privacy.export import export_campaign
from churnmesh.settings import data_paths


def cmd_export(args: argparse.Namespace) -> int:
    result = export_campaign(data_paths(), args.segment, args.out, args.as_of)
    print(
        f"{result.customers:,} customers of {result.segment} (marts as of {result.marts_as_of}, consent as of "
        f"{result.as_of}) written to {result.path}; {result.without_consent:,} left out without marketing consent"
    )
    return 0
