"""Configuration validation: bad keys, types and values stop the run naming the key."""

import copy

import pytest
import yaml

from caloreco.config import ConfigError, validate_config
from caloreco.seeds import chunk_rng

from conftest import REPO, run_snakemake

SCHEMA = REPO / "workflow/schemas/config.schema.yaml"


@pytest.fixture(scope="module")
def base():
    return yaml.safe_load((REPO / "config/config.yaml").read_text())


@pytest.mark.parametrize("name", ["config.yaml", "test.yaml"])
def test_shipped_configs_are_valid(name):
    validate_config(yaml.safe_load((REPO / "config" / name).read_text()), SCHEMA)


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda c: c["datasets"]["ecal_stage1"].update(evnts_per_chunk=5), "evnts_per_chunk"),
        (
            lambda c: c["datasets"]["ecal_stage1"].update(events_per_chunk=-5),
            r"datasets\.ecal_stage1\.events_per_chunk: -5 is less than the minimum",
        ),
        (
            lambda c: c["datasets"]["califa_2p1"].update(chunks="three"),
            r"datasets\.califa_2p1\.chunks: 'three' is not of type 'integer'",
        ),
        (
            lambda c: c["detectors"]["ecal"]["response"].update(noise_mev=-1),
            r"detectors\.ecal\.response\.noise_mev",
        ),
        (
            lambda c: c["datasets"]["ecal_stage1"].update(detector="hcal"),
            r"datasets\.ecal_stage1\.detector: 'hcal' is not a detector",
        ),
        (
            lambda c: c["datasets"]["ecal_stage2"]["simulation"]["energy"].update(min_mev=5e5),
            r"datasets\.ecal_stage2\.simulation\.energy\.min_mev and .*max_mev: expected "
            r"min_mev < max_mev, got 500000\.0 and 200000\.0",
        ),
        (
            lambda c: c["datasets"]["ecal_stage2"].setdefault("regression", {}).update(loss="l1"),
            r"datasets\.ecal_stage2\.regression\.loss: 'l1' is not one of",
        ),
        (
            lambda c: c["datasets"]["ecal_stage1"].update(clustering={"cone": {}}),
            r"datasets\.ecal_stage1\.clustering: the planar ECAL supports 'connected' only",
        ),
        # cross-key checks (issue 16): each names both keys, before any job
        (
            lambda c: c["datasets"]["ecal_stage1"].update(clustering={}),
            r"datasets\.ecal_stage1\.analyses and datasets\.ecal_stage1\.clustering: "
            r"'regression' .*clustering\.connected",
        ),
        (
            lambda c: c["datasets"]["califa_2p1"]["clustering"].pop("agglomerative"),
            r"datasets\.califa_2p1\.pairs\.method and datasets\.califa_2p1\.clustering: .*"
            r"'agglomerative' clusters \(the default\)",
        ),
        (
            lambda c: c["datasets"]["califa_2p1"].update(pairs={"merge_methods": ["connected"]}),
            r"datasets\.califa_2p1\.pairs\.merge_methods and .*\['connected'\]",
        ),
        (
            lambda c: c["datasets"]["ecal_stage1"].update(analyses=["regression", "pairs"]),
            r"datasets\.ecal_stage1\.analyses: 'pairs' .* needs a califa detector",
        ),
        (
            lambda c: c["datasets"]["califa_2p1"].update(split={"fractions": [0.6, 0.2, 0.1]}),
            r"datasets\.califa_2p1\.split\.fractions: .* add up to 1, got 0\.6 \+ 0\.2 "
            r"\+ 0\.1",
        ),
        (
            lambda c: c["datasets"]["califa_2p1"]["simulation"].update(
                theta_min_deg=120.0, theta_max_deg=60.0
            ),
            r"datasets\.califa_2p1\.simulation\.theta_min_deg and .*theta_max_deg: expected",
        ),
        (
            lambda c: (
                c["detectors"]["califa"]
                .setdefault("geometry", {})
                .update(theta_min_deg=50.0, theta_split_deg=43.0)
            ),
            r"detectors\.califa\.geometry\.theta_min_deg and .*theta_split_deg: expected",
        ),
        (
            lambda c: c["datasets"]["califa_2p1"].update(csv={"primaries_per_event": 3}),
            r"datasets\.califa_2p1\.csv: only for an imported dataset",
        ),
        (
            lambda c: c["datasets"].update(
                real={
                    "detector": "califa",
                    "source": "root",
                    "seed": 1,
                    "chunks": 1,
                    "files": ["x.root"],
                    "root": {"tree": "t", "branches": {"cell_energy": "e", "cell_id": "c"}},
                    "clustering": {"cone": {}},
                    "analyses": ["pairs"],
                    "pairs": {"method": "cone"},
                }
            ),
            r"datasets\.real\.analyses: 'pairs' needs Monte Carlo truth .* map "
            r"datasets\.real\.root\.branches\.truth_cell",
        ),
        (
            lambda c: c["datasets"].update(
                g4={
                    "detector": "ecal",
                    "source": "root",
                    "seed": 1,
                    "chunks": 1,
                    "files": ["x.root"],
                    "root": {
                        "tree": "t",
                        "branches": {"cell_energy": "e", "cell_id": "c", "truth_cell": "tc"},
                    },
                }
            ),
            r"datasets\.g4\.root\.branches: map all of .*\['truth_energy', 'truth_primary'\]",
        ),
        (
            lambda c: c["datasets"].update(
                g4={
                    "detector": "ecal",
                    "source": "root",
                    "seed": 1,
                    "chunks": 1,
                    "files": ["x.root"],
                    "root": {"tree": "t", "branches": {"cell_energy": "e"}},
                }
            ),
            r"datasets\.g4\.root\.branches: map 'cell_id' .* or both 'cell_theta' and",
        ),
    ],
)
def test_bad_config_names_the_key(base, edit, message):
    cfg = copy.deepcopy(base)
    edit(cfg)
    with pytest.raises(ConfigError, match=message):
        validate_config(cfg, SCHEMA)


def test_bad_config_stops_workflow_before_any_job(base, tmp_path):
    cfg = copy.deepcopy(base)
    cfg["datasets"]["ecal_stage1"]["events_per_chunk"] = -5
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(cfg))
    proc = run_snakemake(tmp_path, "--configfile", str(path), "--cores", "1", check=False)
    assert proc.returncode != 0
    out = proc.stdout + proc.stderr
    assert "datasets.ecal_stage1.events_per_chunk" in out
    assert not (tmp_path / "results").exists()


def test_chunk_streams_are_reproducible_and_independent():
    a = chunk_rng(7, 0, "simulate").random(4)
    assert (a == chunk_rng(7, 0, "simulate").random(4)).all()
    assert not (a == chunk_rng(7, 1, "simulate").random(4)).any()
    assert not (a == chunk_rng(7, 0, "windows").random(4)).any()
    assert not (a == chunk_rng(8, 0, "simulate").random(4)).any()
