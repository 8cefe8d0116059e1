"""Mark the surviving mutants of the last `mutmut run` for another run.

mutmut keeps each mutant's verdict in mutants/**/*.meta and re-tests a mutant only when its
function changes; a test added to kill survivors does not change their functions. This resets
the verdict of every survivor (survived, no tests, suspicious) to "not checked", so the next
`mutmut run` tests exactly those again, with the tests as they are now (new tests are mapped to
the functions they reach by mutmut's incremental stats). Killed mutants keep their verdict.

    python -m mutation.retest [PATTERN]    # PATTERN: a module prefix, e.g. churnmesh.scoring
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from pathlib import Path

from mutmut.stats import status_by_exit_code

from mutation.report import MUTANTS, SURVIVING


def reset_survivors(mutants: Path = MUTANTS, prefix: str = "") -> int:
    """Survivors whose name starts with `prefix` back to "not checked"; returns how many."""
    count = 0
    for meta in sorted(mutants.rglob("*.py.meta")):
        data = json.loads(meta.read_text())
        codes = data["exit_code_by_key"]
        reset = [k for k, code in codes.items() if k.startswith(prefix) and status_by_exit_code[code] in SURVIVING]
        if reset:
            codes.update(dict.fromkeys(reset))
            meta.write_text(json.dumps(data, indent=4))
            count += len(reset)
    return count


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("prefix", nargs="?", default="", help="only mutants of modules starting with this")
    args = parser.parse_args(argv)
    print(f"{reset_survivors(prefix=args.prefix)} surviving mutants will be tested again by the next mutmut run")


if __name__ == "__main__":
    main()
