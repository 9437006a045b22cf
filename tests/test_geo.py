"""Distances, reach through the spatial index, and the region hierarchy."""

from __future__ import annotations

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from linkage.geo import (
    Hierarchy,
    PointIndex,
    ancestor_at,
    chord_for_km,
    haversine_km,
    is_within,
    km_for_chord,
    pairs_within_km,
)


def test_haversine_known_distance() -> None:
    """Beijing–Shanghai is about 1,067 km; a point is 0 km from itself; arrays broadcast."""
    d = haversine_km(39.9042, 116.4074, 31.2304, 121.4737)
    assert abs(float(d) - 1067) < 3
    same = haversine_km([30.0, 40.0], [100.0, 110.0], [30.0, 40.0], [100.0, 110.0])
    assert np.allclose(same, 0.0)
    assert haversine_km(np.zeros(5), np.zeros(5), 0.0, 1.0).shape == (5,)


def test_chord_round_trip() -> None:
    """Converting km to a unit-sphere chord and back returns the same distance."""
    km = np.array([0.0, 1.0, 50.0, 600.0, 3000.0, 15000.0])
    assert np.allclose(km_for_chord(chord_for_km(km)), km, atol=1e-6)


@settings(max_examples=40, deadline=None, derandomize=True)
@given(
    st.integers(0, 40),
    st.integers(0, 40),
    st.floats(1.0, 2500.0),
    st.integers(0, 2**31 - 1),
)
def test_within_km_matches_brute_force(n_a: int, n_b: int, km: float, seed: int) -> None:
    """The spatial index returns exactly the pairs a full distance matrix finds within reach."""
    rng = np.random.default_rng(seed)
    lat_a, lon_a = rng.uniform(18, 50, n_a), rng.uniform(75, 135, n_a)
    lat_b, lon_b = rng.uniform(18, 50, n_b), rng.uniform(75, 135, n_b)
    i, j, d = pairs_within_km(lat_a, lon_a, lat_b, lon_b, km)
    full = haversine_km(lat_a[:, None], lon_a[:, None], lat_b[None, :], lon_b[None, :])
    # points within a rounding error of the radius may fall either way
    clear = np.abs(full - km) > 1e-6
    expected = {(a, b) for a, b in zip(*np.nonzero((full <= km) & clear), strict=True)}
    got = set(zip(i.tolist(), j.tolist(), strict=True))
    assert expected <= got
    assert all(not clear[a, b] or full[a, b] <= km for a, b in got)
    assert np.allclose(d, full[i, j], atol=1e-6)


def test_within_km_per_query_radius_and_missing_points() -> None:
    """Each query may carry its own radius; points without coordinates are never in reach."""
    index = PointIndex([31.0, 31.0, np.nan], [111.0, 112.0, 111.0])
    q, p, d = index.within_km([31.0, 31.0], [111.0, 111.0], [10.0, 200.0])
    assert list(zip(q.tolist(), p.tolist(), strict=True)) == [(0, 0), (1, 0), (1, 1)]
    assert abs(d[2] - haversine_km(31.0, 111.0, 31.0, 112.0)) < 1e-6
    q, p, _ = index.within_km([np.nan], [111.0], 500.0)
    assert len(q) == 0


def hierarchy_regions() -> pd.DataFrame:
    rows = [
        ("410000", "河南省", "province", None),
        ("410100", "郑州市", "city", "410000"),
        ("410102", "中原区", "county", "410100"),
        ("410102001", "林山寨街道", "township", "410102"),
        ("410102001001", "某社区", "village", "410102001"),
        ("410103", "二七区", "county", "410100"),
        ("630000", "青海省", "province", None),
    ]
    return pd.DataFrame(rows, columns=["code", "name", "level", "parent"])


def test_ancestor_at_each_level() -> None:
    """Every region maps to its ancestor at a level, itself at that level, None above it."""
    regions = hierarchy_regions()
    province = ancestor_at(regions, "province")
    assert province["410102001001"] == "410000"
    assert province["630000"] == "630000"
    county = ancestor_at(regions, "county")
    assert county["410102001001"] == "410102"
    assert county["410102"] == "410102"
    assert county["410100"] is None
    tree = Hierarchy(regions)
    assert list(tree.ancestor_at(["410102001", "nope"], "city")) == ["410100", None]


def test_is_within() -> None:
    """A region is inside itself and its ancestors, not inside siblings or other provinces."""
    regions = hierarchy_regions()
    codes = ["410102001001", "410102001001", "410102", "410103", "410102", "unknown"]
    areas = ["410102", "410000", "410102", "410102", "630000", "410000"]
    assert is_within(regions, codes, areas).tolist() == [True, True, True, False, False, False]
