"""Helpers shared by the benchmark scripts (timing, peak memory, tables)."""

from __future__ import annotations

import datetime as _dt
import os
import platform
import resource
import sys
import time
from contextlib import contextmanager

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "src"))  # run from a checkout


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far (MB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def machine() -> str:
    import jax

    dev = jax.devices()[0]
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    return (f"{platform.node()} | {os.cpu_count()} CPUs | JAX {jax.__version__} on "
            f"{dev.platform}:{getattr(dev, 'device_kind', dev)} | load avg {load:.1f} | "
            f"{_dt.datetime.now().isoformat(timespec='minutes')}")


@contextmanager
def timer(out: dict, key: str):
    t0 = time.perf_counter()
    yield
    out[key] = time.perf_counter() - t0


def table(rows: list[dict], cols: list[tuple[str, str]]) -> str:
    """A Markdown table: ``cols`` = [(key, format spec)]."""
    head = "| " + " | ".join(k for k, _ in cols) + " |"
    sep = "|" + "|".join("---" for _ in cols) + "|"
    body = ["| " + " | ".join(format(r[k], f) if isinstance(r.get(k), int | float) else
                              str(r.get(k, "")) for k, f in cols) + " |" for r in rows]
    return "\n".join([head, sep, *body])
