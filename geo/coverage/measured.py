"""What speed tests say of a village's mobile connectivity: its measured class.

The tests are the ``speed_tile`` (Ookla's tiles) and ``speed_test`` (single tests) rows linked
to the village (:func:`geo.queries.speed_measurements`). Only the newest year of them counts:
those taken within :data:`WINDOW_DAYS` of the village's newest (a tile by its quarter's first
day), so a run a quarter later reads the new quarter with the three before it.

Each test is given a technology class: its own ``technology`` when the export names it, else
by its download speed (:func:`speed_class`): at least :data:`KBPS_4G` is ``4G``, at least
:data:`KBPS_3G` ``3G only``, less ``2G only``. The thresholds sit below what each technology
delivers to a phone (LTE ordinarily tens of Mbit/s, HSPA one to a few, EDGE at most about
200 kbit/s), so a slow test on a 4G network may read as ``3G only``. A tile counts as its
number of tests. The measured class is then the best class at least half of the tests reach
(it or better), as :func:`geo.coverage.register.model_class` does with people.

Tests only show where there is signal, and people test where they have it: no number of tests
makes a village a blank spot, and a village without tests has no measured class.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

from geo.coverage.model import TECHNOLOGY_CODES

MAJORITY = 0.5
"""Share of a village's people, area or tests a technology must reach to be its class."""
WINDOW_DAYS = 365
KBPS_4G = 5_000.0
KBPS_3G = 500.0
_CLASS = {4: "4G", 3: "4G", 2: "3G only", 1: "2G only"}
"""A technology code's connectivity class (5G counts as 4G: the classes stop there)."""
MEASURED_COLUMNS = [
    "code",
    "measured_class",
    "measured_code",
    "measured_tests",
    "measured_download_kbps",
    "measured_period",
    "measured_sources",
]


def reach_class(shares: dict[int, float]) -> str:
    """The best class whose reach (its technology or better) has :data:`MAJORITY` of the shares.

    ``shares`` maps technology codes (:data:`~geo.coverage.model.TECHNOLOGY_CODES`) to shares
    of people, area or tests; what no technology reaches makes up the rest. ``blank spot``
    when no technology reaches half.
    """
    reach = 0.0
    for code in sorted(TECHNOLOGY_CODES.values(), reverse=True):
        reach += shares.get(code, 0.0)
        if reach >= MAJORITY - 1e-9:
            return _CLASS[code]
    return "blank spot"


def speed_class(download_kbps: float) -> int:
    """The technology code (:data:`~geo.coverage.model.TECHNOLOGY_CODES`) a speed stands for."""
    if download_kbps >= KBPS_4G:
        return TECHNOLOGY_CODES["4G"]
    if download_kbps >= KBPS_3G:
        return TECHNOLOGY_CODES["3G"]
    return TECHNOLOGY_CODES["2G"]


def village_measurements(measurements: pd.DataFrame) -> pd.DataFrame:
    """Per village with tests: the shares of tests per technology code and what they were.

    ``measurements`` as :func:`geo.queries.speed_measurements` returns them. Columns:
    :data:`MEASURED_COLUMNS`: ``measured_class`` (:func:`reach_class` of the tests),
    ``measured_code`` ``{technology code: share of tests}``,
    ``measured_download_kbps`` the median download speed of the tests (a tile's average
    standing for each of its tests), ``measured_period`` the dates (``2024-07-01..2024-09-30``)
    and ``measured_sources`` the sources read.
    """
    if measurements.empty:
        return pd.DataFrame(columns=MEASURED_COLUMNS)
    frame = measurements.copy()
    frame["taken_on"] = pd.to_datetime(frame["taken_on"])
    frame["code"] = [
        TECHNOLOGY_CODES[t] if isinstance(t, str) and t in TECHNOLOGY_CODES else speed_class(d)
        for t, d in zip(frame["technology"], frame["download_kbps"].fillna(0.0), strict=True)
    ]
    rows = []
    for village, group in frame.groupby("village_code", sort=True):
        dated = group["taken_on"].dropna()
        if len(dated):
            since = dated.max() - pd.Timedelta(days=WINDOW_DAYS)
            group = group[group["taken_on"].isna() | (group["taken_on"] > since)]
        weights = group["tests"].to_numpy(dtype=float)
        total = float(weights.sum())
        shares = group.groupby("code")["tests"].sum() / total
        by_code = {int(c): float(v) for c, v in shares.items()}
        rows.append(
            {
                "code": village,
                "measured_class": reach_class(by_code),
                "measured_code": by_code,
                "measured_tests": int(total),
                "measured_download_kbps": _weighted_median(
                    group["download_kbps"].to_numpy(dtype=float), weights
                ),
                "measured_period": _period(group),
                "measured_sources": sorted(set(group["source"])),
            }
        )
    return pd.DataFrame(rows, columns=MEASURED_COLUMNS)


def _weighted_median(values: np.ndarray, weights: np.ndarray) -> float:
    """The value half of the weight lies at or below (NaN values and their weights left out)."""
    known = ~np.isnan(values)
    values, weights = values[known], weights[known]
    if not len(values):
        return float("nan")
    order = np.argsort(values, kind="stable")
    cumulative = np.cumsum(weights[order])
    return float(values[order][np.searchsorted(cumulative, cumulative[-1] / 2.0)])


def _period(group: pd.DataFrame) -> str | None:
    """The first and last day the tests were taken (a tile: its whole quarter)."""
    dated = group.dropna(subset=["taken_on"])
    if dated.empty:
        return None
    ends = [
        t + pd.DateOffset(months=3) - pd.Timedelta(days=1) if kind == "tile" else t
        for t, kind in zip(dated["taken_on"], dated["kind"], strict=True)
    ]
    first: dt.date = dated["taken_on"].min().date()
    return f"{first.isoformat()}..{max(ends).date().isoformat()}"
