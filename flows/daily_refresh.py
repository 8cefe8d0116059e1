"""Entry point: `python flows/daily_refresh.py [AS_OF]` runs the daily refresh (default: the data watermark)."""

import sys
from datetime import date

from churnmesh.orchestration.flows import daily_refresh

if __name__ == "__main__":
    daily_refresh(date.fromisoformat(sys.argv[1]) if len(sys.argv) > 1 else None)
