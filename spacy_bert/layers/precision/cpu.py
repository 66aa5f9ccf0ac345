"""The CPU's feature flags, read once (what `auto` and the int8 options decide from)."""
from __future__ import annotations

import functools
from pathlib import Path
from typing import FrozenSet

__all__ = ["cpu_flags"]


@functools.lru_cache(maxsize=1)
def cpu_flags(path: str = "/proc/cpuinfo") -> FrozenSet[str]:
    """The CPU's feature flags (first `flags` line of /proc/cpuinfo), read once; empty where
    there is no such file (then `auto` relies on torch's CPU capability)."""
    try:
        text = Path(path).read_text(encoding="utf-8", errors="replace")
    except OSError:
        return frozenset()
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() in ("flags", "Features"):
            return frozenset(value.split())
    return frozenset()
