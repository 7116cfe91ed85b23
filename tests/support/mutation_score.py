"""The mutation score per package from mutmut's results in mutants/; exits 1 when one is under the bar.

`python -m tests.support.mutation_score [--by-module] [--bar 80]`, run by `just mutate` after `mutmut run`.
A mutant counts as killed when a test failed on it or it timed out (an endless loop is caught, too);
it counts against the score when it survived or no test reached it. Mutants not checked yet (a run
filtered to one package, or interrupted) are left out, and a package with none checked is reported
as not run rather than failed.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from pathlib import Path

KILLED = {1: "killed", 3: "killed", 36: "timeout", 24: "timeout", -24: "timeout", 152: "timeout", 255: "timeout"}
MISSED = {0: "survived", 5: "no tests", 33: "no tests"}
IGNORED = {34: "skipped", 37: "caught by type check"}


def status(exit_code: int | None) -> str:
    """mutmut's name for a mutant's exit code (None: not checked yet)."""
    if exit_code is None:
        return "not checked"
    return KILLED.get(exit_code) or MISSED.get(exit_code) or IGNORED.get(exit_code) or "suspicious"


def tally(mutants: Path, depth: int) -> dict[str, Counter[str]]:
    """Counts of mutant statuses per source package (`depth` 1: `domain`; 2: `domain.session`...)."""
    counts: dict[str, Counter[str]] = {}
    for meta in sorted(mutants.rglob("*.py.meta")):
        parts = meta.relative_to(mutants).with_suffix("").with_suffix("").parts
        name = ".".join(parts[:depth])
        for code in json.loads(meta.read_text())["exit_code_by_key"].values():
            counts.setdefault(name, Counter())[status(code)] += 1
    return counts


def score(counts: Counter[str]) -> float | None:
    """Percentage of checked mutants killed; None when none was checked."""
    killed = counts["killed"] + counts["timeout"]
    checked = killed + counts["survived"] + counts["no tests"] + counts["suspicious"]
    return None if checked == 0 else 100.0 * killed / checked


def report(counts: dict[str, Counter[str]], bar: float) -> list[str]:
    """One line per package; the names of those under `bar` are returned."""
    under = []
    print(f"{'package':32} {'score':>7} {'killed':>7} {'timeout':>7} {'survived':>8} {'no tests':>8} {'unchecked':>9}")
    for name, c in sorted(counts.items()):
        value = score(c)
        shown = "not run" if value is None else f"{value:.1f}%"
        print(
            f"{name:32} {shown:>7} {c['killed']:7} {c['timeout']:7} {c['survived']:8} {c['no tests']:8}"
            f" {c['not checked']:9}"
        )
        if value is not None and value < bar:
            under.append(name)
    return under


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--mutants", type=Path, default=Path("mutants"), help="mutmut's working copy")
    parser.add_argument("--bar", type=float, default=80.0, help="the least score per package, in percent")
    parser.add_argument("--by-module", action="store_true", help="one line per module instead of per package")
    args = parser.parse_args(argv)
    if not args.mutants.is_dir():
        print(f"no {args.mutants}/ here: run `just mutate` (mutmut run) first", file=sys.stderr)
        return 2
    under = report(tally(args.mutants, depth=99 if args.by_module else 1), args.bar)
    if under and not args.by_module:
        print(f"under {args.bar:.0f}% killed: {', '.join(under)} (survivors: `mutmut results`, `mutmut show NAME`)")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
