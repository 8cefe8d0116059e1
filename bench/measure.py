"""Timing and memory measurement for the benchmark phases."""

from __future__ import annotations

import math
import resource
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

STATUS = Path("/proc/self/status")


def resident_bytes() -> int:
    """Current resident set size; falls back to the peak where /proc is missing."""
    try:
        for line in STATUS.read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return peak_resident_bytes()


def peak_resident_bytes() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


class MemorySampler:
    """Samples the resident set every 20 ms on a thread; DuckDB's memory is in this process too."""

    def __init__(self, interval: float = 0.02) -> None:
        self.interval = interval
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, resident_bytes())
            self._stop.wait(self.interval)

    def __enter__(self) -> MemorySampler:
        self.peak = resident_bytes()
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, resident_bytes())


@dataclass
class Phase:
    name: str
    seconds: float = 0.0
    rss_at_start_mb: float = 0.0
    peak_rss_mb: float = 0.0
    details: dict[str, object] = field(default_factory=dict)


@contextmanager
def phase(name: str, phases: dict[str, Phase]) -> Iterator[Phase]:
    record = Phase(name, rss_at_start_mb=round(resident_bytes() / 2**20, 1))
    print(f"[bench] {name} ...", flush=True)
    started = time.perf_counter()
    with MemorySampler() as sampler:
        yield record
    record.seconds = round(time.perf_counter() - started, 3)
    record.peak_rss_mb = round(sampler.peak / 2**20, 1)
    phases[name] = record
    print(f"[bench] {name}: {record.seconds:.1f} s, peak {record.peak_rss_mb:,.0f} MB", flush=True)


def percentile(values: list[float], share: float) -> float:
    """Nearest-rank percentile (no interpolation: a reported p95 is a measured value)."""
    ordered = sorted(values)
    rank = max(1, math.ceil(share * len(ordered)))
    return ordered[rank - 1]
