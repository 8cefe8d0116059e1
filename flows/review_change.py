"""Entry point: `python flows/review_change.py [ENVIRONMENT]` plans into an environment and diffs its marts."""

import sys

from churnmesh.orchestration.flows import review_change_flow

if __name__ == "__main__":
    print(review_change_flow(sys.argv[1] if len(sys.argv) > 1 else "dev"), end="")
