"""Entry point: `python flows/run_audits.py [AS_OF]` runs every audit against the prod tables."""

import sys
from datetime import date

from churnmesh.orchestration.flows import run_audits_flow

if __name__ == "__main__":
    run_audits_flow(date.fromisoformat(sys.argv[1]) if len(sys.argv) > 1 else None)
