"""CPU placement for the broker benchmarks: the consumer on one core, the rest elsewhere.

On a machine with several CPUs the consumer under test (raw client or Herald)
gets the first one to itself and the broker and publisher share the others, so
that each figure is one busy core's worth.
"""

from __future__ import annotations

import os

CPUS = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
CONSUMER_CPUS = set(CPUS[:1]) if len(CPUS) > 1 else set()
OTHER_CPUS = set(CPUS[1:]) if len(CPUS) > 1 else set()


def pin(pid: int | None, cpus: set[int]) -> None:
    """Pin process ``pid`` (0: this one) to ``cpus`` when there is more than one CPU."""
    if pid is not None and cpus:
        os.sched_setaffinity(pid, cpus)
