"""What the machine was doing while a benchmark ran: the load average and the share of
CPU time the hypervisor gave to other guests (steal). On a shared host steal slows every
figure of a run alike; the ratios against a baseline measured in the same run less so."""

from __future__ import annotations

import os


def load() -> str:
    return "load average " + " ".join(f"{x:.2f}" for x in os.getloadavg())


def cpu_ticks() -> list[int]:
    """The machine's CPU time counters (/proc/stat; empty where there is none)."""
    try:
        with open("/proc/stat") as stat:
            return [int(v) for v in stat.readline().split()[1:9]]
    except OSError:
        return []


def stolen(before: list[int], after: list[int]) -> str:
    """The steal share between two ``cpu_ticks`` readings."""
    if not before or not after:
        return "CPU stolen by the host: unknown"
    delta = [b - a for a, b in zip(before, after, strict=True)]
    return f"CPU stolen by the host: {100 * delta[7] / max(sum(delta), 1):.1f}%"
