"""Entry point of the daily refresh deployment: the flow lives in the churnmesh package."""

from churnmesh.orchestration.flows import daily_refresh

if __name__ == "__main__":
    daily_refresh()
