"""Distances, "who is within reach" through a spatial index, and the region hierarchy.

Reach queries never build an all-pairs distance matrix: points become 3-D unit vectors in a
``cKDTree`` and a great-circle radius in km becomes the equivalent chord length, so the tree
returns exactly the pairs within reach (chord length is monotone in arc length).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray
from scipy.spatial import cKDTree

from linkage.scenario.vocabulary import LEVEL_RANK

EARTH_RADIUS_KM = 6371.0088  # IUGG mean radius
# half the Earth's circumference: no two points are farther apart along the surface
MAX_SURFACE_KM = float(np.pi * EARTH_RADIUS_KM)

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]
BoolArray = NDArray[np.bool_]


def haversine_km(lat1: ArrayLike, lon1: ArrayLike, lat2: ArrayLike, lon2: ArrayLike) -> FloatArray:
    """Great-circle distance in km, element-wise with numpy broadcasting."""
    p1 = np.radians(np.asarray(lat1, dtype=float))
    p2 = np.radians(np.asarray(lat2, dtype=float))
    dp = p2 - p1
    dl = np.radians(np.asarray(lon2, dtype=float) - np.asarray(lon1, dtype=float))
    a = np.sin(dp / 2) ** 2 + np.cos(p1) * np.cos(p2) * np.sin(dl / 2) ** 2
    # clip: rounding can push a just above 1 for antipodal points
    return np.asarray(2 * EARTH_RADIUS_KM * np.arcsin(np.sqrt(np.clip(a, 0.0, 1.0))), dtype=float)


def unit_vectors(lat: ArrayLike, lon: ArrayLike) -> FloatArray:
    """Points on the unit sphere, shape (n, 3)."""
    phi = np.radians(np.asarray(lat, dtype=float))
    lam = np.radians(np.asarray(lon, dtype=float))
    cos_phi = np.cos(phi)
    return np.column_stack((cos_phi * np.cos(lam), cos_phi * np.sin(lam), np.sin(phi)))


def chord_for_km(km: ArrayLike) -> FloatArray:
    """Chord length on the unit sphere of a great-circle arc of ``km`` kilometres."""
    arc = np.minimum(np.asarray(km, dtype=float), MAX_SURFACE_KM) / EARTH_RADIUS_KM
    return np.asarray(2 * np.sin(arc / 2), dtype=float)


def km_for_chord(chord: ArrayLike) -> FloatArray:
    """Great-circle km of a unit-sphere chord (inverse of ``chord_for_km``)."""
    c = np.clip(np.asarray(chord, dtype=float) / 2, 0.0, 1.0)
    return np.asarray(2 * EARTH_RADIUS_KM * np.arcsin(c), dtype=float)


def whole_km(km: ArrayLike) -> IntArray:
    """Distance cost in whole km, rounded half up (NaN counts as 0)."""
    return np.floor(np.nan_to_num(np.asarray(km, dtype=float), nan=0.0) + 0.5).astype(np.int64)


def region_coords(
    regions: pd.DataFrame, codes: ArrayLike | Sequence[object]
) -> tuple[FloatArray, FloatArray]:
    """Latitude and longitude of each region code (NaN for a code not in ``regions``)."""
    pos = pd.Index(regions["code"].to_numpy()).get_indexer(pd.Index(np.asarray(codes, object)))
    lat = np.where(pos >= 0, regions["lat"].to_numpy(dtype=float)[np.maximum(pos, 0)], np.nan)
    lon = np.where(pos >= 0, regions["lon"].to_numpy(dtype=float)[np.maximum(pos, 0)], np.nan)
    return lat, lon


class PointIndex:
    """A spatial index over points given by lat/lon (degrees); NaN points are never in reach."""

    def __init__(self, lat: ArrayLike, lon: ArrayLike) -> None:
        lat_a = np.asarray(lat, dtype=float)
        lon_a = np.asarray(lon, dtype=float)
        self.size = len(lat_a)
        ok = ~(np.isnan(lat_a) | np.isnan(lon_a))
        self._positions = np.flatnonzero(ok).astype(np.int64)
        self._tree = cKDTree(unit_vectors(lat_a[ok], lon_a[ok]))

    def within_km(
        self, lat: ArrayLike, lon: ArrayLike, km: ArrayLike
    ) -> tuple[IntArray, IntArray, FloatArray]:
        """Every (query, indexed point) pair within ``km`` (a scalar or one radius per query).

        Returns query positions, indexed-point positions and great-circle distances in km,
        sorted by query then indexed point.
        """
        lat_q = np.asarray(lat, dtype=float)
        lon_q = np.asarray(lon, dtype=float)
        radius = np.broadcast_to(np.asarray(km, dtype=float), lat_q.shape)
        ok = ~(np.isnan(lat_q) | np.isnan(lon_q) | np.isnan(radius))
        empty = (np.empty(0, np.int64), np.empty(0, np.int64), np.empty(0, float))
        if not ok.any() or len(self._positions) == 0:
            return empty
        q_pos = np.flatnonzero(ok).astype(np.int64)
        chords = chord_for_km(radius[ok])
        query_tree = cKDTree(unit_vectors(lat_q[ok], lon_q[ok]))
        # one tree-against-tree sweep at the largest radius, then each query's own radius;
        # the small slack keeps pairs exactly at the limit despite floating-point chords
        slack = 1e-12
        coo = query_tree.sparse_distance_matrix(
            self._tree, float(chords.max()) + slack, output_type="ndarray"
        )
        qi = coo["i"].astype(np.int64)
        pj = coo["j"].astype(np.int64)
        chord = coo["v"].astype(float)
        keep = chord <= chords[qi] + slack
        qi, pj, chord = qi[keep], pj[keep], chord[keep]
        dist = km_for_chord(chord)
        order = np.lexsort((pj, qi))
        return q_pos[qi[order]], self._positions[pj[order]], dist[order]


def pairs_within_km(
    lat_a: ArrayLike, lon_a: ArrayLike, lat_b: ArrayLike, lon_b: ArrayLike, km: ArrayLike
) -> tuple[IntArray, IntArray, FloatArray]:
    """Pairs (i in a, j in b) within ``km`` (scalar or one radius per a-point), with distances."""
    return PointIndex(lat_b, lon_b).within_km(lat_a, lon_a, km)


class Hierarchy:
    """The region tree as arrays: ancestors at a level and containment, vectorised.

    Built once from the regions table (``code, level, parent``); every query walks parents as
    whole arrays, at most one step per level (five levels), never one Python step per region.
    """

    def __init__(self, regions: pd.DataFrame) -> None:
        self.codes = pd.Index(regions["code"].astype(object).to_numpy())
        parent_codes = regions["parent"].astype(object).to_numpy()
        self.parent = self.codes.get_indexer(pd.Index(parent_codes)).astype(np.int64)
        self.rank = regions["level"].map(LEVEL_RANK).fillna(-1).to_numpy(dtype=np.int64)
        self.depth = len(LEVEL_RANK)

    def positions(self, codes: ArrayLike | Sequence[object]) -> IntArray:
        """Row positions of the codes (-1 when unknown)."""
        values = np.asarray(codes, dtype=object)
        return self.codes.get_indexer(pd.Index(values)).astype(np.int64)

    def ancestor_positions(self, positions: IntArray, level: str) -> IntArray:
        """Position of each region's ancestor at ``level`` (itself if at that level; else -1)."""
        want = LEVEL_RANK[level]
        current = np.asarray(positions, dtype=np.int64).copy()
        result = np.full(len(current), -1, dtype=np.int64)
        for _ in range(self.depth + 1):
            alive = current >= 0
            if not alive.any():
                break
            hit = np.zeros(len(current), dtype=bool)
            hit[alive] = self.rank[current[alive]] == want
            result[hit] = current[hit]
            # stop walking once found, or once above the wanted level
            done = hit.copy()
            done[alive] |= self.rank[current[alive]] < want
            current = np.where(alive & ~done, self.parent[np.maximum(current, 0)], -1)
        return result

    def ancestor_at(self, codes: ArrayLike | Sequence[object], level: str) -> NDArray[np.object_]:
        """For every code, its ancestor's code at ``level`` (itself at that level; None if none)."""
        pos = self.ancestor_positions(self.positions(codes), level)
        out = np.full(len(pos), None, dtype=object)
        found = pos >= 0
        out[found] = self.codes.to_numpy()[pos[found]]
        return out

    def is_within(
        self, codes: ArrayLike | Sequence[object], areas: ArrayLike | Sequence[object]
    ) -> BoolArray:
        """Element-wise: is region ``codes[i]`` the region ``areas[i]`` or inside it."""
        current = self.positions(codes)
        area = self.positions(areas)
        inside = np.zeros(len(current), dtype=bool)
        for _ in range(self.depth + 1):
            alive = (current >= 0) & ~inside
            if not alive.any():
                break
            inside |= alive & (current == area) & (area >= 0)
            current = np.where(alive & ~inside, self.parent[np.maximum(current, 0)], -1)
        return inside


def ancestor_at(regions: pd.DataFrame, level: str) -> pd.Series:
    """For every region code (the index), its ancestor's code at ``level`` (None if none)."""
    tree = Hierarchy(regions)
    return pd.Series(
        tree.ancestor_at(regions["code"].to_numpy(), level),
        index=pd.Index(regions["code"].to_numpy(), name="code"),
        name=level,
        dtype=object,
    )


def is_within(
    regions: pd.DataFrame, codes: ArrayLike | Sequence[object], areas: ArrayLike | Sequence[object]
) -> BoolArray:
    """Element-wise: is region ``codes[i]`` the region ``areas[i]`` or one of its descendants."""
    return Hierarchy(regions).is_within(codes, areas)
