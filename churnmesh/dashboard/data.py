"""What the dashboard reads: the latest publication (publication.py), never the warehouse.

Each read opens the publication read-only, runs one question and closes it, so the dashboard
holds no file a refresh needs. Results are cached by the publication's identity (its inode and
modification time): a page re-renders from memory until a refresh swaps a new publication in,
and the first render after that reads the new one.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
import streamlit as st

from churnmesh import answers
from churnmesh.publication import published_path
from churnmesh.settings import data_paths

Version = tuple[str, int, int]


def version() -> Version:
    """The identity of the publication in use; FileNotFoundError while there is none."""
    path = published_path(data_paths())
    stat = path.stat()
    return str(path), stat.st_ino, stat.st_mtime_ns


@st.cache_data(max_entries=512, show_spinner=False)
def frame(published: Version, sql: str, params: tuple[object, ...] = ()) -> pd.DataFrame:
    """A query's result as a DataFrame. `sql` is the dashboard's own text; values are bound."""
    import duckdb

    con = duckdb.connect(published[0], read_only=True)
    try:
        return con.execute(sql, list(params)).df()
    finally:
        con.close()


@st.cache_data(max_entries=512, show_spinner=False)
def ask(published: Version, question: str, *args: Any) -> dict[str, Any]:
    """One of answers.py's questions, by name (the MCP server asks the same ones)."""
    import duckdb

    function: Callable[..., dict[str, Any]] = getattr(answers, question)
    con = duckdb.connect(published[0], read_only=True)
    try:
        return function(con, *args)
    finally:
        con.close()


def rows(answer: dict[str, Any]) -> pd.DataFrame:
    return pd.DataFrame(answer["rows"])


def published_file() -> Path:
    return published_path(data_paths())
