"""The one way a duration is written: 45s, 2m05s, 1h03m; "-" when unknown."""
from __future__ import annotations


def format_duration(s) -> str:
    if s is None or s != s:
        return "-"
    s = int(round(s))
    return f"{s // 3600}h{s // 60 % 60:02d}m" if s >= 3600 else f"{s // 60}m{s % 60:02d}s" if s >= 60 else f"{s}s"
