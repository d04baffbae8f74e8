"""Accuracy and speed of the rule classifier on tests/data/labelled_incidents.toml.

Prints a per-category accuracy table, the overall figure, and the time per classification
as a ratio to a trivial function timed in the same run (so the figure travels between machines).

    .venv/bin/python bench/bench_classifier.py
"""

from __future__ import annotations

import sys
import time
import tomllib
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from server.models import Category  # noqa: E402
from server.triage.classifier import RuleClassifier, TriageConfig  # noqa: E402
from server.triage.facts import IncidentFacts  # noqa: E402

LABELLED = ROOT / "tests" / "data" / "labelled_incidents.toml"
ROUNDS = 30
REPEATS = 5


def load() -> list[tuple[dict[str, Any], IncidentFacts]]:
    rows = tomllib.loads(LABELLED.read_text(encoding="utf-8"))["incident"]
    return [
        (row, IncidentFacts(**{k: v for k, v in row.items() if k not in ("id", "category", "hard")})) for row in rows
    ]


def per_call_seconds(function: Callable[[IncidentFacts], object], incidents: list[IncidentFacts]) -> float:
    """Best of REPEATS runs of ROUNDS passes over the set, per call."""
    best = float("inf")
    for _ in range(REPEATS):
        start = time.perf_counter()
        for _ in range(ROUNDS):
            for facts in incidents:
                function(facts)
        best = min(best, time.perf_counter() - start)
    return best / (ROUNDS * len(incidents))


def baseline(facts: IncidentFacts) -> Category:
    """A trivial classifier: one lower-cased substring test."""
    return Category.disk if "space" in facts.error.lower() else Category.application


def main() -> None:
    started = time.perf_counter()
    classifier = RuleClassifier.from_config(TriageConfig())
    build = time.perf_counter() - started
    data = load()

    totals: Counter[str] = Counter()
    correct: Counter[str] = Counter()
    hard_total = hard_correct = 0
    misses: list[str] = []
    for row, facts in data:
        verdict = classifier.classify(facts)
        totals[row["category"]] += 1
        ok = verdict.category.value == row["category"]
        correct[row["category"]] += ok
        if row.get("hard"):
            hard_total += 1
            hard_correct += ok
        if not ok:
            misses.append(
                f"  {row['id']:<8} labelled {row['category']:<11} got {verdict.category.value:<11} "
                f"({verdict.explanation[:70]})"
            )

    print(f"classifier: rules ({len(classifier.rules)} rules, compiled in {build * 1000:.1f} ms)")
    print(f"labelled set: {LABELLED.relative_to(ROOT)} ({len(data)} incidents, {hard_total} marked hard)\n")
    print(f"{'category':<12} {'n':>3} {'correct':>7} {'accuracy':>9}")
    for category in Category:
        n = totals[category.value]
        print(f"{category.value:<12} {n:>3} {correct[category.value]:>7} {correct[category.value] / n:>9.1%}")
    overall = sum(correct.values())
    print(f"{'overall':<12} {len(data):>3} {overall:>7} {overall / len(data):>9.1%}")
    print(f"{'hard cases':<12} {hard_total:>3} {hard_correct:>7} {hard_correct / hard_total:>9.1%}")
    if misses:
        print("\nmisses:")
        print("\n".join(misses))

    incidents = [facts for _, facts in data]
    rules_time = per_call_seconds(classifier.classify, incidents)
    base_time = per_call_seconds(baseline, incidents)
    print(
        f"\ntime per classification: {rules_time * 1e6:.1f} us; trivial baseline {base_time * 1e6:.2f} us; "
        f"ratio {rules_time / base_time:.0f}x"
    )
    print("REPORTED: classifier accuracy and time per classification (no pass/miss target)")


if __name__ == "__main__":
    main()
