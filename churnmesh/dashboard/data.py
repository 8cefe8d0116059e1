"""What the dashboard reads: the latest publication (publication.py), never the warehouse.

The dashboard reads the publication through one read-only connection per publication (a cursor
of it per question, since Streamlit runs each session in its own thread). A refresh never waits
on it: it writes a new file and renames it over the old one, which this connection keeps reading
until it is released. Results are cached by the publication's identity (its inode and
modification time): a page re-renders from memory until a refresh swaps a new publication in,
and the first render after that reads the new one. Frames are cached as shared objects, not
copies (a copy of the 100,000-row customer frame costs more than reading it): callers never
change a frame in place.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import duckdb
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


@st.cache_resource(max_entries=2, show_spinner=False, on_release=lambda con: con.close())
def _connection(published: Version) -> duckdb.DuckDBPyConnection:
    """The publication's connection; the oldest is closed once two newer publications were read."""
    return duckdb.connect(published[0], read_only=True)


@st.cache_resource(max_entries=512, show_spinner=False)
def frame(published: Version, sql: str, params: tuple[object, ...] = ()) -> pd.DataFrame:
    """A query's result as a DataFrame, shared: never change it in place. `sql` is the dashboard's
    own text; values are bound."""
    with _connection(published).cursor() as cursor:
        return cursor.execute(sql, list(params)).to_arrow_table().to_pandas()


@st.cache_data(max_entries=512, show_spinner=False)
def ask(published: Version, question: str, *args: Any) -> dict[str, Any]:
    """One of answers.py's questions, by name (the MCP server asks the same ones)."""
    function: Callable[..., dict[str, Any]] = getattr(answers, question)
    with _connection(published).cursor() as cursor:
        return function(cursor, *args)


def rows(answer: dict[str, Any]) -> pd.DataFrame:
    return pd.DataFrame(answer["rows"])


def published_file() -> Path:
    return published_path(data_paths())
