"""healer serve settles the interpreter before it serves: start-up frozen, fewer collections, quicker switches."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

PROBE = """
import gc, json, sys
from server.common.heap import settle_for_serving
before = {"threshold": gc.get_threshold()[0], "frozen": gc.get_freeze_count(), "switch": sys.getswitchinterval()}
settle_for_serving()
after = {"threshold": gc.get_threshold()[0], "frozen": gc.get_freeze_count(), "switch": sys.getswitchinterval()}
print(json.dumps([before, after]))
"""


def test_settling_freezes_start_up_and_tunes_the_interpreter() -> None:
    # In a process of its own: the settings are the whole interpreter's.
    done = subprocess.run([sys.executable, "-c", PROBE], cwd=ROOT, capture_output=True, text=True, check=True)
    before, after = json.loads(done.stdout)
    assert before["frozen"] == 0 and before["threshold"] < 10_000  # CPython's defaults differ by version
    assert after["threshold"] == 10_000
    assert after["frozen"] > 1_000  # what the imports built is out of the collector's way
    assert after["switch"] == 0.0005
