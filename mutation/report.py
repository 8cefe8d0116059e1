"""The survival rate of the last `mutmut run`, per module and in all, and its survivors.

A mutant survives when the tests that reach its function still pass; one that no selected test
reaches ("no tests") counts as a survivor too: nothing would notice it. Killed, timed-out and
type-check-caught mutants count as caught.

    python -m mutation.report [--out mutation/results.md]
"""

from __future__ import annotations

import argparse
import json
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

from mutmut.stats import status_by_exit_code

MUTANTS = Path("mutants")
SURVIVING = {"survived", "no tests", "suspicious"}
CAUGHT = {"killed", "timeout", "caught by type check", "segfault"}


def statuses(mutants: Path = MUTANTS) -> dict[str, dict[str, str]]:
    """Each mutated module's mutants and their status, from mutmut's .meta files."""
    found = {}
    for meta in sorted(mutants.rglob("*.py.meta")):
        codes = json.loads(meta.read_text())["exit_code_by_key"]
        module = meta.relative_to(mutants).as_posix().removesuffix(".meta")
        found[module] = {name: status_by_exit_code[code] for name, code in codes.items()}
    return found


def rate(counts: Counter[str]) -> str:
    judged = sum(counts[s] for s in SURVIVING | CAUGHT)
    survived = sum(counts[s] for s in SURVIVING)
    return f"{100 * survived / judged:.1f}%" if judged else "-"


def measured_at(mutants: Path = MUTANTS) -> str:
    """The commit the mutants were made from, as mutmut recorded it."""
    stats = mutants / "mutmut-stats.json"
    commit = json.loads(stats.read_text()).get("git_commit") if stats.exists() else None
    return f"commit {commit[:7]}" if commit else "an unknown commit"


def report(found: dict[str, dict[str, str]], origin: str = "") -> str:
    total: Counter[str] = Counter()
    lines = [
        "| module | mutants | caught | survived | no tests | not run | survival |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for module, mutants in found.items():
        counts = Counter(mutants.values())
        total += counts
        lines.append(_row(module, counts))
    lines.append(_row("**all**", total))
    survivors = [f"- `{name}` ({status})" for m in found.values() for name, status in m.items() if status in SURVIVING]
    head = f"Python mutants: {sum(total.values())}, survival rate {rate(total)}" + (f" ({origin})" if origin else "")
    return "\n".join([head, "", *lines, "", f"Survivors ({len(survivors)}):", *survivors, ""])


def _row(module: str, counts: Counter[str]) -> str:
    caught = sum(counts[s] for s in CAUGHT)
    not_run = counts["not checked"] + counts["skipped"] + counts["check was interrupted by user"]
    cells = [module, sum(counts.values()), caught, counts["survived"] + counts["suspicious"], counts["no tests"]]
    return "| " + " | ".join(str(c) for c in [*cells, not_run, rate(counts)]) + " |"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m mutation.report", description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, help="also write the report (Markdown) here")
    args = parser.parse_args(argv)
    found = statuses()
    if not found:
        parser.error("no mutmut results under mutants/: run `make mutants` (or `mutmut run`) first")
    text = report(found, f"mutants of {measured_at()}")
    table, _, survivors = text.partition("\nSurvivors")
    print(table)
    if args.out:
        args.out.write_text(text)
        print(f"Survivors{survivors.splitlines()[0]} listed in {args.out}; `.venv/bin/mutmut show <name>` shows one")
    else:
        print(f"Survivors{survivors}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
