"""What-if variants: each change kind, grids, every problem of a bad file at once, the command."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pandas as pd
import pytest
import yaml

import linkage
from conftest import write_scenario
from linkage.scenario import ScenarioError
from linkage.whatif import Variant, load_whatif, run_whatif, variants, whatif_main

ROOT = Path(__file__).parents[1]

RESOURCES = """id,donor,donor_type,kind,amount,domains
R1,浙江省财政,government,funds,1000000,elderly
R2,浙江省财政,government,funds,500000,
R3,某基金会,foundation,funds,200000,children;elderly
"""
SOCIAL_WORKERS = """id,region,org,level,specialties,fte,count
W1,330106001,001,assistant,elderly,1.0,3
W2,330106001,,none,,1.0,2
"""
EXISTING_PAIRS = """org,target,since
001,632221,2023
"""
PAIR_OVERRIDES = """org,target,action
002,632222,forbid
"""


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_scenario(
        tmp_path_factory.mktemp("whatif") / "tiny",
        resources=RESOURCES,
        social_workers=SOCIAL_WORKERS,
        existing_pairs=EXISTING_PAIRS,
        pair_overrides=PAIR_OVERRIDES,
    )


@pytest.fixture(scope="module")
def base(folder: Path) -> linkage.Scenario:
    return linkage.load(folder)


def one(base: linkage.Scenario, *changes: dict) -> linkage.Scenario:
    return variants(base, list(changes), name="v")["v"]


def test_scale_multiplies_only_rows_matching_where(base: linkage.Scenario) -> None:
    """scale × by on a numeric column touches only the rows the where matches."""
    out = one(
        base,
        {"scale": "resources.amount", "by": 1.2, "where": {"donor_type": "government"}},
    )
    assert out.resources.set_index("id")["amount"].to_dict() == pytest.approx(
        {"R1": 1_200_000, "R2": 600_000, "R3": 200_000}
    )
    assert base.resources["amount"].sum() == 1_700_000  # the base is untouched


def test_scale_where_on_code_list_and_any_of_values(base: linkage.Scenario) -> None:
    """A where on a code-list column matches rows holding the code; a list matches any value."""
    out = one(base, {"scale": "resources.amount", "by": 0, "where": {"domains": "children"}})
    assert out.resources.set_index("id")["amount"].to_dict()["R3"] == 0
    out = one(base, {"scale": "resources.amount", "by": 2, "where": {"id": ["R1", "R3"]}})
    assert out.resources["amount"].sum() == 2_000_000 + 500_000 + 400_000


def test_scale_rounds_whole_number_columns(base: linkage.Scenario) -> None:
    """Scaling a whole-number column (staff) rounds and keeps it whole."""
    out = one(base, {"scale": "organizations.staff", "by": 1.5})
    assert out.organizations.set_index("id")["staff"].to_dict() == {"001": 38, "002": 12, "010": 8}
    assert pd.api.types.is_integer_dtype(out.organizations["staff"])


def test_add_appends_rows_checked_like_a_table(base: linkage.Scenario) -> None:
    """add appends rows with the table's defaults; the new scenario is re-validated."""
    out = one(
        base,
        {
            "add": "organizations",
            "rows": [
                {"id": "020", "name": "新机构", "region": 330106, "pairing_capacity": 2},
            ],
        },
    )
    row = out.organizations.set_index("id").loc["020"]
    assert (
        row["region"] == "330106" and row["pairing_capacity"] == 2 and row["kind"] == "social_work"
    )
    assert len(out.organizations) == len(base.organizations) + 1


def test_drop_by_id_cascades_to_rows_pointing_at_it(base: linkage.Scenario) -> None:
    """Dropping an organization drops its pairs and blanks its social workers' employer."""
    out = one(base, {"drop": "organizations", "ids": ["001"]})
    assert "001" not in set(out.organizations["id"])
    assert out.existing_pairs.empty
    assert out.social_workers.set_index("id")["org"].isna().all()
    assert len(out.social_workers) == 2


def test_drop_by_composite_key_and_by_where(base: linkage.Scenario) -> None:
    """drop takes mappings for two-column keys, or a where."""
    out = one(base, {"drop": "pair_overrides", "ids": [{"org": "002", "target": "632222"}]})
    assert out.pair_overrides.empty
    out = one(base, {"drop": "resources", "where": {"donor_type": "government"}})
    assert list(out.resources["id"]) == ["R3"]


def test_set_changes_policy_by_dotted_path(base: linkage.Scenario) -> None:
    """set writes any scenario.yaml parameter by dotted path; a section value is merged."""
    out = one(
        base,
        {
            "set": {
                "policy.pairing.cross_province": False,
                "policy.funds.per_worker_yuan": 600000,
                "policy.volunteers.hours_per_person.elderly": 0.5,
                "policy.staffing": {"base_per_station": 3},
            }
        },
    )
    policy = out.policy
    assert policy.pairing.cross_province is False
    assert policy.funds.per_worker_yuan == 600000
    assert policy.volunteers.hours_per_person["elderly"] == 0.5
    assert policy.volunteers.hours_per_person["children"] == 3.0  # the other keys are kept
    assert policy.staffing.base_per_station == 3
    assert policy.staffing.max_km == base.policy.staffing.max_km  # merged, not reset
    assert policy.pairing.counterparts == base.policy.pairing.counterparts


def test_designate_sets_and_clears_flags(base: linkage.Scenario) -> None:
    """designate sets a region flag, or clears it with value: false."""
    out = one(
        base,
        {"designate": "key_assistance", "regions": ["632222", 632223]},
        {"designate": "ethnic", "regions": ["632221"], "value": False},
    )
    flags = out.regions.set_index("code")
    assert flags.loc["632222", "key_assistance"] and flags.loc["632223", "key_assistance"]
    assert not flags.loc["632221", "ethnic"]
    assert base.regions.set_index("code").loc["632221", "ethnic"]


def test_changes_apply_in_order(base: linkage.Scenario) -> None:
    """Each change sees the ones before it: a row added can be scaled, then dropped."""
    out = one(
        base,
        {"add": "resources", "rows": [{"id": "R9", "donor": "x", "amount": 10}]},
        {"scale": "resources.amount", "by": 3, "where": {"id": "R9"}},
    )
    assert out.resources.set_index("id").loc["R9", "amount"] == 30
    out = one(
        base,
        {"add": "resources", "rows": [{"id": "R9", "donor": "x", "amount": 10}]},
        {"drop": "resources", "ids": ["R9"]},
    )
    assert "R9" not in set(out.resources["id"])


def test_variants_are_renamed_and_no_change_variant_is_the_base(base: linkage.Scenario) -> None:
    """A variant's scenario is named after it; an empty variant keeps the base's tables."""
    built = variants(base, {"variants": [{"name": "baseline"}, {"name": "x", "changes": []}]})
    assert built["baseline"].name == f"{base.name} [baseline]"
    assert built["x"].tables is base.tables


def test_variants_accept_variant_objects(base: linkage.Scenario) -> None:
    """variants() takes a list of Variant as well as a mapping or a list of changes."""
    spec = [Variant("a", ({"scale": "resources.amount", "by": 2},)), Variant("b")]
    built = variants(base, spec)
    assert list(built) == ["a", "b"]
    assert built["a"].resources["amount"].sum() == 3_400_000


def test_grid_expands_to_cartesian_product_with_stable_names(base: linkage.Scenario) -> None:
    """A grid gives one variant per point of the product, first axis slowest, stable names."""
    spec = {
        "grids": [
            {
                "name": "g",
                "axes": {
                    "budget": {"scale": "resources.amount", "values": [0.8, 1.0, 1.2]},
                    "supervision": {
                        "set": "policy.volunteers.hours_per_supervisor",
                        "values": [300, 400],
                    },
                },
            }
        ]
    }
    built = variants(base, spec)
    assert list(built) == [
        "g[budget=0.8,supervision=300]",
        "g[budget=0.8,supervision=400]",
        "g[budget=1,supervision=300]",
        "g[budget=1,supervision=400]",
        "g[budget=1.2,supervision=300]",
        "g[budget=1.2,supervision=400]",
    ]
    assert list(variants(base, spec)) == list(built)
    point = built["g[budget=1.2,supervision=300]"]
    assert point.resources["amount"].sum() == pytest.approx(1.2 * 1_700_000)
    assert point.policy.volunteers.hours_per_supervisor == 300


def test_grid_names_template_options_axis_and_parameters(tmp_path: Path, folder: Path) -> None:
    """A grid's names template, an options axis and common changes; parameters per variant."""
    path = tmp_path / "grid.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "base": str(folder),
                "variants": [{"name": "baseline"}],
                "grids": [
                    {
                        "name": "g",
                        "names": "b{budget:.0%}-{donor}",
                        "changes": [{"set": {"policy.funds.unit_yuan": 100}}],
                        "axes": {
                            "budget": {
                                "scale": "resources.amount",
                                "where": {"donor_type": "government"},
                                "values": [0.5, 1.5],
                            },
                            "donor": {
                                "options": {
                                    "none": [],
                                    "new": [
                                        {
                                            "add": "resources",
                                            "rows": [{"id": "N1", "donor": "新", "amount": 1}],
                                        }
                                    ],
                                }
                            },
                        },
                    }
                ],
            },
            allow_unicode=True,
            sort_keys=False,
        ),
        encoding="utf-8",
    )
    whatif = load_whatif(path)
    names = [v.name for v in whatif.variants]
    assert names == ["baseline", "b50%-none", "b50%-new", "b150%-none", "b150%-new"]
    built = whatif.scenarios()
    assert "N1" in set(built["b150%-new"].resources["id"])
    assert built["b50%-none"].policy.funds.unit_yuan == 100
    assert built["b50%-none"].resources.set_index("id").loc["R1", "amount"] == 500_000
    parameters = whatif.parameters()
    assert parameters.loc["b150%-new"].to_dict() == {"budget": 1.5, "donor": "new"}
    assert parameters.loc["baseline"].isna().all()


BAD = """\
base: tiny
solv: {}
variants:
  - name: a
    changes:
      - scal: resources.amount
        by: 1.2
      - scale: resource.amount
        by: 2
      - scale: resources.amout
        by: -1
      - scale: resources.amount
        by: 1.1
        where: {donor_type: goverment}
      - set:
          policy.pairing.cross_provnce: true
          policy.funds.per_worker_yuan: lots
      - drop: organizations
        ids: ["003"]
      - designate: key_asistance
        regions: ["632224"]
      - add: organizations
        rows:
          - {id: "020", name: x, region: "3301060", staf: 3, rating: 9}
  - name: a
  - name: bad/name
grids:
  - name: g
    names: "b{budgt}"
    axes:
      budget: {scale: resources.amount, values: [1, 2]}
"""


def test_bad_whatif_file_reports_every_problem_with_did_you_mean(
    tmp_path: Path, folder: Path
) -> None:
    """A bad what-if file raises one ScenarioError naming file, variant, change, line and fix."""
    (tmp_path / "tiny").symlink_to(folder)
    path = tmp_path / "bad.yaml"
    path.write_text(BAD, encoding="utf-8")
    with pytest.raises(ScenarioError) as caught:
        load_whatif(path)
    messages = [str(p) for p in caught.value.problems]
    expected = [
        ("bad.yaml, line 2, key solv", 'did you mean "solve"'),
        ("bad.yaml › variant a › change 1, line 6, key scal", 'did you mean "scale"'),
        ("variant a › change 2, line 8, key scale", 'did you mean "resources"'),
        ("variant a › change 3, line 10, key scale", 'did you mean "amount"'),
        ("variant a › change 3, line 11, key by", "a number at least 0"),
        ("variant a › change 4, line 14, key where.donor_type", 'did you mean "government"'),
        (
            "variant a › change 5, line 16, key policy.pairing.cross_provnce",
            'did you mean "cross_province"',
        ),
        ("variant a › change 5, line 17, key policy.funds.per_worker_yuan", "valid number"),
        ("variant a › change 6, line 19, key ids[1]", 'did you mean "0'),
        ("variant a › change 7, line 20, key designate", 'did you mean "key_assistance"'),
        ("variant a › change 7, line 21, key regions[1]", 'did you mean "63222'),
        ("variant a › change 8, line 24, key rows[1].staf", 'did you mean "staff"'),
        ("variant a › change 8, line 24, key rows[1].rating", "at most 5"),
        ("variant a › change 8, line 24, key rows[1].region", 'did you mean "330106"'),
        ("variant a, line 25, key name", "a variant name used once"),
        ("variant bad/name, line 26, key name", "folder name"),
        ("grid g, line 29, key names", 'did you mean "budget"'),
    ]
    for where, hint in expected:
        assert any(where in m and hint in m for m in messages), (where, hint, messages)
    assert len(messages) == len(expected), messages


def test_missing_base_is_reported_with_the_other_problems(tmp_path: Path) -> None:
    """A base that does not exist is one problem among the others, relative to the file."""
    path = tmp_path / "w.yaml"
    path.write_text(
        "base: nowhere\nvariants:\n  - name: x\n    changes: [{sett: {}}]\n", encoding="utf-8"
    )
    with pytest.raises(ScenarioError) as caught:
        load_whatif(path)
    messages = [str(p) for p in caught.value.problems]
    assert any("key base" in m and "relative to w.yaml" in m for m in messages)
    assert any('did you mean "set"' in m for m in messages)


def test_revalidation_problems_name_the_variant(base: linkage.Scenario) -> None:
    """A variant whose scenario fails validation is reported with the variant's name."""
    spec = {
        "variants": [
            {"name": "ok"},
            {
                "name": "far",
                "changes": [{"set": {"policy.pairing.counterparts": {"青海": ["火星"]}}}],
            },
        ]
    }
    with pytest.raises(ScenarioError) as caught:
        variants(base, spec, source="spec")
    (problem,) = caught.value.problems
    assert problem.source.startswith("spec › variant far › ")
    assert problem.value == "火星"


def test_example_budget_file_builds_every_variant() -> None:
    """examples/budget.yaml is valid and its 12 variants build."""
    whatif = load_whatif(ROOT / "examples" / "budget.yaml")
    built = whatif.scenarios()
    assert len(built) == 12 and "budget×1.2-sup300" in built
    government = whatif.base.resources["donor_type"] == "government"
    scaled = built["government+20%"].resources
    assert scaled.loc[government, "amount"].sum() == pytest.approx(
        1.2 * whatif.base.resources.loc[government, "amount"].sum()
    )
    assert whatif.solve["stages"] == ["pairing", "staffing", "volunteers", "funds"]


def _whatif_file(tmp_path: Path, folder: Path) -> Path:
    path = tmp_path / "w.yaml"
    path.write_text(
        textwrap.dedent(
            f"""\
            base: {folder}
            solve: {{stages: [pairing]}}
            variants:
              - name: baseline
              - name: no-001
                changes: [{{drop: organizations, ids: ["001"]}}]
            grids:
              - name: cap
                axes:
                  capacity: {{scale: organizations.pairing_capacity, values: [0, 2]}}
            """
        ),
        encoding="utf-8",
    )
    return path


def test_whatif_main_writes_comparison_and_plan_folders(
    tmp_path: Path, folder: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """whatif_main solves every variant and writes comparison.csv and variants/NAME plans."""
    out = tmp_path / "out"
    code = whatif_main(_whatif_file(tmp_path, folder), out, progress=False)
    assert code == 0
    table = pd.read_csv(out / "comparison.csv", index_col="variant")
    assert list(table.index) == ["baseline", "no-001", "cap[capacity=0]", "cap[capacity=2]"]
    assert {"capacity", "targets_paired", "before.targets_paired", "pairing.score"} <= set(
        table.columns
    )
    assert table.loc["cap[capacity=0]", "targets_paired"] == 0
    assert table.loc["baseline", "targets_paired"] > 0
    for name in table.index:
        assert (out / "variants" / name / "pairs.csv").exists()
        assert (out / "variants" / name / "summary.json").exists()
    assert "4 variant(s)" in capsys.readouterr().out


def test_whatif_output_is_not_overwritten_without_force(tmp_path: Path, folder: Path) -> None:
    """An existing output folder is kept unless force; with force it is replaced whole."""
    out = tmp_path / "out"
    out.mkdir()
    (out / "old.txt").write_text("x", encoding="utf-8")
    path = _whatif_file(tmp_path, folder)
    with pytest.raises(FileExistsError):
        run_whatif(path, out, executor="sequential", progress=False)
    run_whatif(path, out, executor="sequential", progress=False, force=True)
    assert not (out / "old.txt").exists() and (out / "comparison.csv").exists()


def test_whatif_main_exit_code_says_a_variant_failed(
    tmp_path: Path,
    folder: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """whatif_main returns 3 when a variant fails; its row and stderr say why."""
    import linkage.pipeline

    real = linkage.pipeline.solve

    def flaky(scenario: linkage.Scenario, *args: object, **kwargs: object) -> linkage.Plan:
        if scenario.name.endswith("[no-001]"):
            raise RuntimeError("boom")
        return real(scenario, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(linkage.pipeline, "solve", flaky)
    out = tmp_path / "out"
    code = whatif_main(_whatif_file(tmp_path, folder), out, "sequential", progress=False)
    assert code == 3
    table = pd.read_csv(out / "comparison.csv", index_col="variant", keep_default_na=False)
    assert table.loc["no-001", "error"].startswith("RuntimeError: boom")
    assert not (out / "variants" / "no-001").exists()
    assert "not solved: no-001: RuntimeError: boom" in capsys.readouterr().err
