"""Entry point: `python flows/train_churn_model.py [AS_OF]` trains a churn model version."""

import sys
from datetime import date

from churnmesh.orchestration.flows import train_churn_model

if __name__ == "__main__":
    train_churn_model(date.fromisoformat(sys.argv[1]) if len(sys.argv) > 1 else None)
