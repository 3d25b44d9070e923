"""Template filters and globals shared by every page."""
from __future__ import annotations

from datetime import datetime

from ..formats import ISO, human_bytes


def human_size(n: int | None) -> str:
    """1536 -> '1.5 KB' (nothing for an unknown size)."""
    return "" if n is None else human_bytes(n)


def human_duration(seconds: float | None) -> str:
    """75.2 -> '1:15'."""
    if seconds is None:
        return ""
    s = int(round(seconds))
    h, rest = divmod(s, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


def human_date(iso: str | None) -> str:
    """'2024-07-01T12:03:11Z' -> '1 July 2024, 12:03'."""
    if not iso:
        return ""
    try:
        dt = datetime.strptime(iso, ISO)
    except ValueError:
        return iso
    return f"{dt.day} {dt:%B %Y, %H:%M}"


def month_heading(iso: str | None) -> str:
    """'2024-07-01T12:03:11Z' -> 'July 2024'."""
    if not iso:
        return "Undated"
    try:
        return datetime.strptime(iso[:7], "%Y-%m").strftime("%B %Y")
    except ValueError:
        return "Undated"


def init_app(app) -> None:
    """Register the filters."""
    app.add_template_filter(human_size, "size")
    app.add_template_filter(human_duration, "duration")
    app.add_template_filter(human_date, "date")
    app.add_template_filter(month_heading, "month")
