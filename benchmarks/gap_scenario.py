"""Turn an OR-Library generalised assignment instance into a linkage pairing scenario.

agents → sending organizations with pairing capacity b[i]; jobs → county targets needing one
partner; every (i, j) a listed candidate (``pair_overrides`` action ``prefer``) with load a[i][j]
and score −c[i][j] (min form) or c[i][j] (max form). The pairing stage first minimises the
shortfall (0 on these feasible instances) and then maximises the score, so its score equals
−(optimal cost) for ``min`` and the optimal profit for ``max``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd

from linkage.scenario.core import Scenario


def read_orlib(path: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(c, a, b): cost/profit m×n, resource m×n, capacity m, from whitespace-separated integers."""
    numbers = np.array(path.read_text().split(), dtype=np.int64)
    m, n = int(numbers[0]), int(numbers[1])
    c = numbers[2 : 2 + m * n].reshape(m, n)
    a = numbers[2 + m * n : 2 + 2 * m * n].reshape(m, n)
    b = numbers[2 + 2 * m * n : 2 + 2 * m * n + m]
    if len(b) != m:
        raise ValueError(f"{path}: expected {2 + 2 * m * n + m} numbers, found {len(numbers)}")
    return c, a, b


def gap_scenario(
    path: Path,
    sense: Literal["min", "max"] = "min",
    *,
    time_limit_s: float = 60,
    workers: int = 2,
    method: str = "auto",
) -> Scenario:
    c, a, b = read_orlib(path)
    m, n = c.shape
    province, city = "100000", "100100"
    counties = [str(200000 + j) for j in range(n)]
    regions = pd.DataFrame(
        {
            "code": [province, city, *counties],
            "name": ["GAP 省", "GAP 市", *[f"任务 {j + 1}" for j in range(n)]],
            "level": ["province", "city", *["county"] * n],
            "parent": ["", province, *[city] * n],
            "key_assistance": ["false", "false", *["true"] * n],
        }
    )
    agents = [f"A{i:03d}" for i in range(m)]
    organizations = pd.DataFrame(
        {
            "id": agents,
            "name": [f"机构 {i + 1}" for i in range(m)],
            "region": province,
            "pairing_capacity": b.astype(str),
        }
    )
    ii, jj = np.meshgrid(np.arange(m), np.arange(n), indexing="ij")
    score = -c if sense == "min" else c
    overrides = pd.DataFrame(
        {
            "org": np.asarray(agents)[ii.ravel()],
            "target": np.asarray(counties)[jj.ravel()],
            "action": "prefer",
            "score": score.ravel(),
            "load": a.ravel(),
        }
    )
    meta = {
        "name": f"GAP {path.parent.name}/{path.name} ({sense})",
        "policy": {
            "pairing": {
                "targets": ["key_assistance"],
                "candidates": "listed",
                "max_km": None,
                "weights": {"specialty": 0, "quality": 0, "distance": 0},
                "continuity_bonus": 0,
            },
            "solver": {"time_limit_s": time_limit_s, "workers": workers, "pairing_method": method},
        },
    }
    return Scenario.from_tables(
        meta, {"regions": regions, "organizations": organizations, "pair_overrides": overrides}
    )
