"""A screening worker's cyclic collector: its tables frozen, no collection mid-row, cycles still collected."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

from needlescreen.worker_gc import FIRST_GENERATION

_PROBE = textwrap.dedent(
    """
    import gc, json
    from needlescreen.worker_gc import settle_worker_gc

    class Node:
        pass

    default = gc.get_threshold()
    settle_worker_gc()
    settled = gc.get_threshold()
    frozen = gc.get_freeze_count()
    # Short-lived containers, freed by reference counting, as a screening's are: the collector does not start.
    before = gc.get_stats()[0]["collections"]
    for _ in range(200):
        row = [{"k": [1, 2]} for _ in range(2_000)]  # 4,000 containers alive at once, as in a screening
        del row
    quiet = gc.get_stats()[0]["collections"] - before
    # Reference cycles that outlive their rows: the collector still starts, and frees them.
    for _ in range(settled[0] + 1_000):
        a, b = Node(), Node()
        a.other, b.other = b, a
    del a, b
    alive = sum(1 for o in gc.get_objects() if type(o) is Node)
    print(json.dumps({"default": default, "settled": settled, "frozen": frozen, "quiet": quiet, "alive": alive}))
    """
)


def test_a_settled_worker_freezes_its_tables_and_keeps_the_collector_out_of_its_rows() -> None:
    out = subprocess.run([sys.executable, "-c", _PROBE], capture_output=True, text=True, check=True).stdout
    got = json.loads(out)
    assert got["settled"] == [FIRST_GENERATION, *got["default"][1:]]
    assert got["frozen"] > 1_000  # every module and table loaded so far
    assert got["quiet"] == 0
    # 51,000 cycles were made; the collector ran when they passed the threshold, so most are gone.
    assert got["alive"] < FIRST_GENERATION
