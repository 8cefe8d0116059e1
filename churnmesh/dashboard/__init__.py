"""`churnmesh dashboard`: the Streamlit app on 127.0.0.1 (app.py, views.py)."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from churnmesh.settings import data_paths

APP = Path(__file__).with_name("app.py")
# Each page: its script (relative to app.py), title, icon and URL path (the first is the home page).
PAGES = (
    ("screens/overview.py", "Overview", ":material/dashboard:", ""),
    ("screens/segments.py", "Segments", ":material/pie_chart:", "segments"),
    ("screens/customer_360.py", "Customer 360", ":material/person_search:", "customer-360"),
    ("screens/churn_risk.py", "Churn risk", ":material/warning:", "churn-risk"),
    ("screens/cohorts.py", "Cohorts", ":material/grid_on:", "cohorts"),
    ("screens/support.py", "Support", ":material/support_agent:", "support"),
    ("screens/campaign.py", "Campaign simulator", ":material/campaign:", "campaign"),
)


def streamlit_command(port: int) -> list[str]:
    return [
        sys.executable,
        "-m",
        "streamlit",
        "run",
        str(APP),
        "--server.address=127.0.0.1",
        f"--server.port={port}",
        "--server.headless=true",
        "--server.fileWatcherType=none",
        "--browser.gatherUsageStats=false",
        "--client.toolbarMode=viewer",
        "--global.developmentMode=false",
    ]


def cmd_dashboard(args: argparse.Namespace) -> int:
    paths = data_paths()
    env = os.environ | {"CHURNMESH_DATA_DIR": str(paths.root)}
    print(f"dashboard on http://127.0.0.1:{args.port} (data: {paths.root}); Ctrl-C stops it", flush=True)
    # Streamlit takes this process's place: Ctrl-C and a stop signal reach it directly, and no
    # child outlives the command.
    command = streamlit_command(args.port)
    os.execve(command[0], command, env)
