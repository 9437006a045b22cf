"""The scenario: one immutable, validated bundle of tables and policy."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

import pandas as pd

from linkage.scenario.policy import Policy, ScenarioMeta
from linkage.scenario.problems import Problem
from linkage.scenario.tables import TABLES

if TYPE_CHECKING:
    import networkx as nx


@dataclass(frozen=True, eq=False)
class Scenario:
    """A validated scenario. Build it with ``linkage.load`` or ``Scenario.from_tables``.

    Tables are pandas DataFrames in the declared column order and dtypes (see
    ``linkage.scenario.tables``); absent optional tables are empty frames with the declared
    columns. Treat them as read-only: ``replace`` makes a changed copy.
    """

    meta: ScenarioMeta
    tables: Mapping[str, pd.DataFrame] = field(repr=False)
    warnings: tuple[Problem, ...] = ()

    @classmethod
    def from_tables(
        cls, meta: ScenarioMeta | Mapping[str, Any], tables: Mapping[str, pd.DataFrame]
    ) -> Scenario:
        """Validate raw tables (any dtypes, as read) and build a scenario; raises ScenarioError."""
        from linkage.scenario.validate import validate

        return validate(meta, tables)

    @property
    def name(self) -> str:
        return self.meta.name

    @property
    def policy(self) -> Policy:
        return self.meta.policy

    def __getattr__(self, name: str) -> pd.DataFrame:
        if name in TABLES:
            return self.tables[name]
        raise AttributeError(name)

    # typed accessors for the tables every stage reads
    @property
    def regions(self) -> pd.DataFrame:
        return self.tables["regions"]

    @property
    def organizations(self) -> pd.DataFrame:
        return self.tables["organizations"]

    def replace(
        self,
        *,
        meta: ScenarioMeta | None = None,
        policy: Policy | None = None,
        **tables: pd.DataFrame,
    ) -> Scenario:
        """A re-validated copy with some tables or the policy replaced."""
        new_meta = meta or self.meta
        if policy is not None:
            new_meta = new_meta.model_copy(update={"policy": policy})
        merged = dict(self.tables)
        merged.update(tables)
        return Scenario.from_tables(new_meta, merged)

    def variants(self, spec: Any, **kwargs: Any) -> dict[str, Scenario]:
        """The variants ``spec`` describes (see ``linkage.whatif.variants``), validated."""
        from linkage.whatif import variants

        return variants(self, spec, **kwargs)

    def graph(self) -> nx.MultiDiGraph:
        """The linkage graph (DESIGN §5): regions, organizations, pools and candidate links."""
        from linkage.graph import build_graph

        return build_graph(self)

    def summary(self) -> dict[str, int]:
        return {name: len(df) for name, df in self.tables.items()}


def frozen_tables(tables: Mapping[str, pd.DataFrame]) -> Mapping[str, pd.DataFrame]:
    return MappingProxyType(dict(tables))
