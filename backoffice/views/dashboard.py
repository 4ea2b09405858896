"""The incident dashboard: top-ups per channel per hour, the review queue, open
cases, the damage estimate, compensation paid, switch states and running jobs.

Charts are drawn here as inline SVG geometry (no script, no CDN: CSP is 'self'),
each with a title, a description and the same numbers in a table. The page
refreshes itself with a meta refresh, which CSP allows, and can be told not to.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from django.http import HttpRequest, HttpResponse
from django.urls import NoReverseMatch, URLPattern, path, reverse
from django.utils import timezone
from django.utils.translation import gettext
from django.views.decorators.http import require_GET

from ..selectors.dashboard import (
    TOPUP_WINDOW_HOURS,
    TopupHours,
    compensation_totals,
    damage_estimate,
    hunts_running,
    mass_resets_running,
    open_cases_by_status,
    switch_states,
    topups_per_channel_per_hour,
)
from ..selectors.review import review_queue_counts
from .base import staff_page, staff_render

VIEW_PERMISSION = "backoffice.view_case"
REFRESH_SECONDS = 60
# Okabe-Ito colours (told apart with colour-blindness) and a dash pattern each, so
# a series is also recognisable in greyscale.
SERIES_STYLES = [("#0072B2", ""), ("#D55E00", "8 4"), ("#009E73", "2 3"), ("#CC79A7", "10 3 2 3"), ("#E69F00", "4 4"), ("#56B4E9", "1 2")]
# The ?metric= values and the ChannelSeries field each one charts.
METRICS = {"count": "counts", "yen": "yen"}


@dataclass(frozen=True)
class Tick:
    pos: float
    label: str
    sub: str = ""


@dataclass(frozen=True)
class Line:
    label: str
    colour: str
    dash: str
    points: str
    total: int
    now: int


@dataclass(frozen=True)
class LineChart:
    width: int
    height: int
    left: int
    right: int
    top: int
    bottom: int
    font: int
    x_ticks: list[Tick]
    y_ticks: list[Tick]
    lines: list[Line]
    empty: bool

    @property
    def y_label_x(self) -> int:
        return self.left - 6

    @property
    def x_label_y(self) -> int:
        return self.bottom + self.font + 4

    @property
    def x_sub_y(self) -> int:
        return self.bottom + 2 * self.font + 6


@dataclass(frozen=True)
class Bar:
    label: str
    value: int
    shown: str
    label_y: float
    bar_y: float
    bar_width: float
    value_y: float

    @property
    def value_x(self) -> float:
        return self.bar_width + 6


@dataclass(frozen=True)
class BarChart:
    width: int
    height: int
    font: int
    bar_height: int
    bar_max: int
    bars: list[Bar]


def nice_ceiling(value: int) -> tuple[int, int]:
    """A round top for the y axis and its tick step (1, 2 or 5 times a power of ten), about four steps."""
    if value <= 0:
        return 4, 1
    raw = value / 4
    magnitude = 10 ** math.floor(math.log10(raw)) if raw >= 1 else 1
    step = next(m * magnitude for m in (1, 2, 5, 10) if m * magnitude >= raw)
    return step * math.ceil(value / step), step


def _short_number(value: int) -> str:
    if value >= 1_000_000:
        return f"{value / 1_000_000:.1f}M".replace(".0M", "M")
    if value >= 10_000:
        return f"{value / 1_000:.0f}k"
    return f"{value:,}"


def line_chart(
    hours: Sequence[datetime],
    series: Sequence[tuple[str, Sequence[int]]],
    *,
    width: int,
    height: int,
    font: int,
    label_every: int,
    left: int,
) -> LineChart:
    """Geometry of a line chart over hour buckets: polylines, axis ticks and labels."""
    right, top, bottom = width - 12, 12, height - font * 3
    top_value, step = nice_ceiling(max((max(values, default=0) for _label, values in series), default=0))
    n = max(len(hours) - 1, 1)

    def x(i: int) -> float:
        return round(left + (right - left) * i / n, 1)

    def y(v: int) -> float:
        return round(bottom - (bottom - top) * v / top_value, 1)

    x_ticks = []
    for i, hour in enumerate(hours):
        local = timezone.localtime(hour)
        if local.hour % label_every == 0:
            x_ticks.append(Tick(x(i), f"{local:%H}:00", f"{local:%m/%d}" if local.hour == 0 else ""))
    y_ticks = [Tick(y(v), _short_number(v)) for v in range(0, top_value + 1, step)]
    lines = []
    for k, (label, values) in enumerate(series):
        colour, dash = SERIES_STYLES[k % len(SERIES_STYLES)]
        points = " ".join(f"{x(i)},{y(v)}" for i, v in enumerate(values))
        lines.append(Line(label, colour, dash, points, sum(values), values[-1] if values else 0))
    empty = all(v == 0 for _label, values in series for v in values)
    return LineChart(width, height, left, right, top, bottom, font, x_ticks, y_ticks, lines, empty)


def bar_chart(rows: Sequence[tuple[str, int, str]], *, width: int = 360, font: int = 14) -> BarChart:
    """Horizontal bars, each label above its bar so long (Japanese) labels never squeeze the bars.

    ``rows`` are (label, value, value as shown).
    """
    bar_height, gap = 18, 12
    value_room = font * 6
    bar_max = width - value_room
    largest = max((value for _l, value, _s in rows), default=0)
    bars = []
    y = 0.0
    for label, value, shown in rows:
        label_y = y + font
        bar_y = label_y + 6
        bar_width = round(bar_max * value / largest, 1) if largest else 0.0
        bar_width = max(bar_width, 2.0 if value else 0.0)
        bars.append(Bar(label, value, shown, label_y, bar_y, bar_width, bar_y + bar_height - 4))
        y = bar_y + bar_height + gap
    return BarChart(width, int(y), font, bar_height, bar_max, bars)


def _url(*candidates: tuple[str, Sequence[Any]]) -> str:
    """The first of the named pages that exists, or "" (other incident pages are optional here)."""
    for name, args in candidates:
        try:
            return reverse(name, args=list(args))
        except NoReverseMatch:
            continue
    return ""


def _topup_desc(topups: TopupHours, metric: str) -> str:
    start, end = (timezone.localtime(h) for h in (topups.hours[0], topups.hours[-1]))
    parts = [gettext("From %(start)s to %(end)s.") % {"start": f"{start:%m/%d %H:00}", "end": f"{end:%m/%d %H:00}"}]
    for s in topups.series:
        values = getattr(s, METRICS[metric])
        peak = max(range(len(values)), key=values.__getitem__)
        figures = {
            "label": s.label,
            "total": f"{sum(values):,}",
            "peak": f"{values[peak]:,}",
            "at": f"{timezone.localtime(topups.hours[peak]):%m/%d %H:00}",
        }
        if metric == "yen":
            parts.append(gettext("%(label)s: ¥%(total)s in all, at most ¥%(peak)s in an hour (%(at)s).") % figures)
        else:
            parts.append(gettext("%(label)s: %(total)s in all, at most %(peak)s in an hour (%(at)s).") % figures)
    return " ".join(parts)


def _topup_charts(topups: TopupHours, metric: str) -> dict[str, Any]:
    field = METRICS[metric]
    series = [(s.label, getattr(s, field)) for s in topups.series]
    wide_left = 64 if metric == "yen" else 48
    return {
        "desc": _topup_desc(topups, metric),
        "wide": line_chart(topups.hours, series, width=960, height=340, font=13, label_every=6, left=wide_left),
        "narrow": line_chart(topups.hours, series, width=360, height=300, font=13, label_every=12, left=wide_left),
        "rows": [
            {"hour": hour, "values": [getattr(s, field)[i] for s in topups.series], "total": total}
            for i, (hour, total) in reversed(list(enumerate(zip(topups.hours, topups.hour_totals(field), strict=True))))
        ],
    }


@require_GET
@staff_page(VIEW_PERMISSION)
def dashboard(request: HttpRequest) -> HttpResponse:
    user = request.user
    metric = request.GET.get("metric", "count")
    if metric not in METRICS:
        metric = "count"
    refresh = request.GET.get("refresh") != "0"
    context: dict[str, Any] = {
        "metric": metric,
        "metric_urls": {m: "?" + urlencode({"metric": m, **({} if refresh else {"refresh": "0"})}) for m in METRICS},
        "refresh": refresh,
        "refresh_toggle_url": "?" + urlencode({"metric": metric, **({"refresh": "0"} if refresh else {})}),
        "refresh_seconds": REFRESH_SECONDS,
        "generated_at": timezone.localtime(),
        "window_hours": TOPUP_WINDOW_HOURS,
        "console_url": _url(("admin:incident_console", ())) if user.has_perm("wallet.view_channelswitch") else "",
    }
    if user.has_perm("wallet.view_topup"):
        topups = topups_per_channel_per_hour()
        context["topups"] = topups
        context["topup_chart"] = _topup_charts(topups, metric)
    if user.has_perm("wallet.view_riskdecision"):
        queue = review_queue_counts()
        context["queue"] = queue
        context["queue_url"] = _url(("admin:incident_review", ()))
        context["queue_chart"] = bar_chart(
            [
                (gettext("Held payments and top-ups"), queue["decisions"], f"{queue['decisions']:,}"),
                (gettext("Customer reports"), queue["reports"], f"{queue['reports']:,}"),
                (gettext("Hunt hits"), queue["hunt_hits"], f"{queue['hunt_hits']:,}"),
            ]
        )
    cases = open_cases_by_status()
    context["cases"] = cases
    context["cases_total"] = sum(n for _s, _l, n in cases)
    context["cases_url"] = _url(("admin:incident_case_list", ()))
    context["cases_chart"] = bar_chart([(label, n, f"{n:,}") for _status, label, n in cases])
    context["damage"] = damage_estimate()
    if context["damage"].latest_hunt is not None and user.has_perm("backoffice.view_hunt"):
        hunt = context["damage"].latest_hunt
        context["latest_hunt_url"] = _url(("admin:incident_hunt_detail", (hunt.pk,)), ("admin:incident_hunt_list", ()))
    if user.has_perm("backoffice.view_compensation"):
        context["compensation"] = compensation_totals()
        context["compensation_url"] = _url(("admin:incident_compensation_list", ()))
        if user.has_perm("backoffice.report_compensation"):
            context["compensation_report_url"] = _url(("admin:incident_compensation_report", ()))
    if user.has_perm("wallet.view_channelswitch"):
        context["switches"] = switch_states()
        context["switches_off"] = sum(1 for s in context["switches"] if not s.enabled)
    jobs = []
    if user.has_perm("backoffice.view_hunt"):
        for hunt in hunts_running():
            jobs.append(
                {
                    "kind": gettext("Look-back hunt"),
                    "name": str(hunt),
                    "state": hunt.get_state_display(),
                    "percent": hunt.percent_done,
                    "detail": gettext("%(done)s of %(total)s slices") % {"done": hunt.steps_done, "total": hunt.steps_total},
                    "by": hunt.created_by,
                    "href": _url(("admin:incident_hunt_detail", (hunt.pk,)), ("admin:incident_hunt_list", ())),
                }
            )
    if user.has_perm("backoffice.view_massreset"):
        for reset in mass_resets_running():
            jobs.append(
                {
                    "kind": gettext("Mass password reset"),
                    "name": f"#{reset.pk}",
                    "state": reset.get_state_display(),
                    "percent": reset.percent_done,
                    "detail": gettext("%(done)s of about %(total)s accounts")
                    % {"done": f"{reset.accounts_reset:,}", "total": f"{reset.accounts_estimated:,}"},
                    "by": reset.created_by,
                    "href": _url(("admin:incident_mass_reset_detail", (reset.pk,)), ("admin:incident_mass_reset_list", ())),
                }
            )
    context["may_see_jobs"] = user.has_perm("backoffice.view_hunt") or user.has_perm("backoffice.view_massreset")
    context["jobs"] = jobs
    return staff_render(request, "admin/backoffice/dashboard/dashboard.html", context, title=gettext("Incident dashboard"))


urlpatterns: list[URLPattern] = [path("dashboard/", dashboard, name="incident_dashboard")]
