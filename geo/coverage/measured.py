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
    standing for each of its tests), ``measured_period`` the dates (``2024-07-01..2024-09-30``;
    undated tests count but give no date) and ``measured_sources`` the sources read.
    Vectorised over villages: a national register has ~80,000 villages.
    """
    if measurements.empty:
        return pd.DataFrame(columns=MEASURED_COLUMNS)
    frame = measurements.copy()
    frame["taken_on"] = pd.to_datetime(frame["taken_on"])
    frame["tests"] = frame["tests"].astype("int64")
    by_technology = frame["technology"].map(TECHNOLOGY_CODES)
    by_speed = np.where(
        frame["download_kbps"] >= KBPS_4G,
        TECHNOLOGY_CODES["4G"],
        np.where(frame["download_kbps"] >= KBPS_3G, TECHNOLOGY_CODES["3G"], TECHNOLOGY_CODES["2G"]),
    )
    frame["code"] = by_technology.fillna(pd.Series(by_speed, index=frame.index)).astype("int64")
    newest = frame.groupby("village_code")["taken_on"].transform("max")
    frame = frame[
        frame["taken_on"].isna()
        | newest.isna()
        | (frame["taken_on"] > newest - pd.Timedelta(days=WINDOW_DAYS))
    ]
    villages = frame.groupby("village_code", sort=True)
    totals = villages["tests"].sum()
    shares = frame.groupby(["village_code", "code"])["tests"].sum().div(totals, level=0).unstack()
    codes = [int(c) for c in shares.columns]
    by_code = [
        {c: float(v) for c, v in zip(codes, row, strict=True) if v > 0}
        for row in shares.reindex(totals.index).fillna(0.0).to_numpy()
    ]
    tiles = frame["kind"] == "tile"
    ends = frame["taken_on"].where(
        ~tiles, frame["taken_on"] + pd.DateOffset(months=3) - pd.Timedelta(days=1)
    )
    first, last = villages["taken_on"].min(), ends.groupby(frame["village_code"]).max()
    out = pd.DataFrame({"code": totals.index})
    out["measured_class"] = [reach_class(shares) for shares in by_code]
    out["measured_code"] = by_code
    out["measured_tests"] = totals.to_numpy()
    out["measured_download_kbps"] = _weighted_medians(frame).reindex(totals.index).to_numpy()
    out["measured_period"] = [
        None if pd.isna(a) else f"{a.date().isoformat()}..{b.date().isoformat()}"
        for a, b in zip(first.reindex(totals.index), last.reindex(totals.index), strict=True)
    ]
    # each village's distinct sources, split from one sorted array (a group apply per village
    # of ~80,000 took seconds)
    pairs = frame[["village_code", "source"]].drop_duplicates()
    pairs = pairs.sort_values(["village_code", "source"], kind="stable")
    names, starts = np.unique(pairs["village_code"].to_numpy(dtype=object), return_index=True)
    split = np.split(pairs["source"].to_numpy(dtype=object), starts[1:])
    sources = dict(zip(names.tolist(), (list(part) for part in split), strict=True))
    out["measured_sources"] = [sources[v] for v in totals.index]
    return out[MEASURED_COLUMNS]


def _weighted_medians(frame: pd.DataFrame) -> pd.Series:
    """Per village, the download speed half of its tests lie at or below (NaN speeds left out)."""
    known = frame.dropna(subset=["download_kbps"]).sort_values(
        ["village_code", "download_kbps"], kind="stable"
    )
    cumulative = known.groupby("village_code")["tests"].cumsum()
    half = known.groupby("village_code")["tests"].transform("sum") / 2.0
    reached = known[cumulative >= half]
    return reached.groupby("village_code")["download_kbps"].first().astype(float)
