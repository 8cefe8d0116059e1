"""Entry point: `python flows/backfill.py START END [MODEL ...]` fills missing intervals through SQLMesh."""

import sys
from datetime import date

from churnmesh.orchestration.flows import backfill_flow

if __name__ == "__main__":
    backfill_flow(date.fromisoformat(sys.argv[1]), date.fromisoformat(sys.argv[2]), sys.argv[3:] or None)
