"""Attribution networks: shapes, masking (padding must not change outputs), permutation
equivariance, Hungarian-matched targets, and training / peeling / checkpoints / the
attribution.json contract on a small simulated CALIFA sample (config/test.yaml settings)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from caloreco.attribution.evaluation import attribution_metrics
from caloreco.attribution.segmenter import (
    SlotClustering,
    cluster_onehot,
    matched_targets,
    train_segmenter,
)
from caloreco.attribution.training import FocalAttribution, energy_weights, train_attribution
from caloreco.clustering.metrics import event_metrics
from caloreco.clustering.table import true_labels
from caloreco.geometry import make_geometry
from caloreco.nn.pointnet import FocalPointNet, masked_max, masked_mean
from caloreco.nn.slot_attention import SlotSegmenter
from caloreco.seeds import chunk_rng
from caloreco.simulation import simulate_events
from caloreco.split import assign_split

from conftest import CALIFA_DETECTOR

torch.set_num_threads(1)


def _cloud(b=3, n=5, f=7, p=4, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(b, n, f, generator=g)
    pair = torch.randn(b, n, n, p, generator=g)
    mask = torch.ones(b, n, dtype=torch.bool)
    mask[1, 3:] = False
    mask[2, 1:] = False
    return x, mask, pair


def _pad_more(x, mask, pair, extra=4, seed=1):
    """The same clouds with ``extra`` more padding points full of garbage."""
    g = torch.Generator().manual_seed(seed)
    b, n, f = x.shape
    x2 = torch.cat([x, 100 * torch.randn(b, extra, f, generator=g)], dim=1)
    m2 = torch.cat([mask, torch.zeros(b, extra, dtype=torch.bool)], dim=1)
    p2 = 100 * torch.randn(b, n + extra, n + extra, pair.shape[-1], generator=g)
    p2[:, :n, :n] = pair
    # garbage also inside the padded positions of the original width
    x2[~m2] = 50.0
    return x2, m2, p2


def test_masked_pooling():
    x = torch.tensor([[[1.0], [5.0], [-100.0]]])
    m = torch.tensor([[True, True, False]])
    assert masked_max(x, m).item() == 5.0
    assert masked_mean(x, m).item() == 3.0
    assert masked_max(x, torch.zeros_like(m)).item() == 0.0


@pytest.mark.parametrize("variant", ["pointnet", "attention"])
def test_focal_pointnet_padding_does_not_change_outputs(variant):
    torch.manual_seed(0)
    net = FocalPointNet(7, 4, hidden=16, n_blocks=2, variant=variant, heads=2).eval()
    x, mask, pair = _cloud()
    x[~mask] = 0.0
    out = net(x, mask, pair)
    assert out.shape == (3, 5)
    assert torch.all(out[~mask] == 0)
    x2, m2, p2 = _pad_more(x, mask, pair)
    out2 = net(x2, m2, p2)
    torch.testing.assert_close(out2[:, :5][mask], out[mask], atol=1e-5, rtol=1e-5)
    # and the real points matter: changing one changes the others' outputs
    x3 = x.clone()
    x3[0, 0] += 1.0
    assert not torch.allclose(net(x3, mask, pair)[0, 1:], out[0, 1:])


@pytest.mark.parametrize("variant", ["pointnet", "attention"])
def test_focal_pointnet_permutation_equivariant(variant):
    torch.manual_seed(1)
    net = FocalPointNet(7, 4, hidden=16, variant=variant, heads=2).eval()
    x, _, pair = _cloud()
    mask = torch.ones(3, 5, dtype=torch.bool)
    perm = torch.tensor([3, 0, 4, 1, 2])
    out = net(x, mask, pair)
    out_p = net(x[:, perm], mask, pair[:, perm][:, :, perm])
    torch.testing.assert_close(out_p, out[:, perm], atol=1e-5, rtol=1e-5)


def test_pair_index_shares_an_events_pairs():
    torch.manual_seed(2)
    net = FocalPointNet(7, 4, hidden=16, variant="attention", heads=2).eval()
    x, mask, pair = _cloud()
    idx = torch.tensor([0, 0, 2])  # three clouds, the first two of event 0
    a = net(x, mask, pair, idx)
    b = net(x, mask, pair[idx])
    torch.testing.assert_close(a, b)
    with pytest.raises(ValueError, match="pair"):
        net(x, mask)


def test_slot_segmenter_shapes_masking_equivariance():
    torch.manual_seed(3)
    net = SlotSegmenter(7, 4, hidden=16, n_blocks=1, heads=2, n_slots=4, iters=3).eval()
    x, mask, pair = _cloud()
    x[~mask] = 0.0
    outs = net(x, mask, pair)
    assert len(outs) == 3 and outs[-1].shape == (3, 4, 5)
    x2, m2, p2 = _pad_more(x, mask, pair)
    outs2 = net(x2, m2, p2)
    for a, b in zip(outs, outs2, strict=True):
        torch.testing.assert_close(
            b[:, :, :5].transpose(1, 2)[mask], a.transpose(1, 2)[mask], atol=1e-5, rtol=1e-5
        )
    full = torch.ones(3, 5, dtype=torch.bool)
    perm = torch.tensor([4, 2, 0, 1, 3])
    a = net(x, full, pair)[-1]
    b = net(x[:, perm], full, pair[:, perm][:, :, perm])[-1]
    torch.testing.assert_close(b, a[:, :, perm], atol=1e-5, rtol=1e-5)
    for bad in ({"update": "lstm"}, {"init": "zeros"}, {"temperature_factor": 0.0}):
        with pytest.raises(ValueError):
            SlotSegmenter(7, 4, **bad)


def test_cluster_onehot_and_matched_targets():
    truth = np.array([[0, 1, 1, 2, -1], [1, 1, -1, -1, -1]])
    onehot, valid = cluster_onehot(truth, max_clusters=2)
    # event 0 keeps its two largest clusters (primary 1 with 2 hits, then primary 0 by index)
    assert onehot.shape == (2, 2, 5)
    assert onehot[0].tolist() == [[0, 1, 1, 0, 0], [1, 0, 0, 0, 0]]
    assert valid.tolist() == [[True, True], [True, False]]
    # slot log-probabilities that favour slot 2 for hits 1-2 and slot 0 for hit 0
    lp = np.full((2, 3, 5), np.log(0.1))
    lp[0, 2, 1:3] = np.log(0.8)
    lp[0, 0, 0] = np.log(0.8)
    lp[1, 1, 0:2] = np.log(0.8)
    target, counted = matched_targets(torch.tensor(lp), onehot, valid)
    assert counted.tolist() == [[1, 1, 1, 0, 0], [1, 1, 0, 0, 0]]
    assert target[0, :3].tolist() == [0, 2, 2]
    assert target[1, :2].tolist() == [1, 1]


def test_energy_weights_normalised():
    e = torch.tensor([[1.0, 2.0, 3.0]])
    v = torch.tensor([[True, True, False]])
    torch.testing.assert_close(energy_weights(e, v, "none"), torch.tensor([[1.0, 1.0, 0.0]]))
    torch.testing.assert_close(energy_weights(e, v, "energy"), torch.tensor([[2 / 3, 4 / 3, 0.0]]))
    torch.testing.assert_close(energy_weights(e, v, "energy2"), torch.tensor([[0.4, 1.6, 0.0]]))


# ------------------------------------------------------------------------------ end to end

SMALL = {
    "model": {"variant": "attention", "hidden": 16, "n_blocks": 1, "heads": 2},
    "training": {"max_epochs": 3, "batch_size": 128, "seed": 0, "lr": 3e-3},
    "peeling": {"threshold": "auto", "thresholds": [0.4, 0.5]},
}


@pytest.fixture(scope="module")
def califa_small():
    """config/test.yaml's califa_uniform, one chunk of 400 events, split 60/20/20."""
    geom = make_geometry("califa", **CALIFA_DETECTOR["geometry"])
    sim = {"n_primaries": 3, "energy": {"distribution": "uniform", "min_mev": 0.3, "max_mev": 10.0}}
    ev = simulate_events(
        geom, "califa", CALIFA_DETECTOR["response"], sim, 400, chunk_rng(202, 0, "simulate")
    )
    part = assign_split(ev.event, (0.6, 0.2, 0.2), 202)
    return geom, {p: ev.select(part == p) for p in ("train", "val", "test")}


@pytest.fixture(scope="module")
def trained(califa_small):
    geom, s = califa_small
    return train_attribution(s["train"], s["val"], geom, SMALL, log=lambda _: None)


def test_training_is_deterministic_and_peeling_labels_valid(califa_small, trained):
    geom, s = califa_small
    again = train_attribution(s["train"], s["val"], geom, SMALL, log=lambda _: None)
    for k, v in trained.model.state_dict().items():
        torch.testing.assert_close(again.model.state_dict()[k], v, rtol=0, atol=0)
    assert again.threshold == trained.threshold
    test = s["test"]
    lab = trained.cluster(test, geom)
    assert lab.shape == (test.cell_id.size,) and lab.min() >= 0
    # per event labels are 0..k-1, cluster 0 holds the most energetic hit
    off = test.hit_offsets
    for e in range(test.n_events):
        li = lab[off[e] : off[e + 1]]
        if li.size:
            assert set(li.tolist()) == set(range(li.max() + 1))
            assert li[np.argmax(test.cell_energy[off[e] : off[e + 1]])] == 0
    np.testing.assert_array_equal(lab, again.cluster(test, geom))


def test_trained_network_learns(califa_small, trained):
    """After three short epochs the peeling already beats one-hit-per-cluster clustering."""
    geom, s = califa_small
    test = s["test"]
    truth = true_labels(test)
    lab = trained.cluster(test, geom)
    singles = np.arange(test.cell_id.size) - test.hit_offsets[test.hit_event()]
    tp = event_metrics(test.hit_offsets, lab, truth)["TP"].mean()
    tp_single = event_metrics(test.hit_offsets, singles, truth)["TP"].mean()
    assert tp > tp_single + 0.1
    assert trained.history["val_loss"].iloc[-1] < trained.history["val_loss"].iloc[0]


def test_checkpoint_round_trip(califa_small, trained, tmp_path):
    geom, s = califa_small
    path = trained.save(tmp_path / "attribution.pt", config_hash="abc")
    back = FocalAttribution.load(path)
    assert back.threshold == trained.threshold
    np.testing.assert_array_equal(back.cluster(s["test"], geom), trained.cluster(s["test"], geom))
    assert torch.load(path, weights_only=True)["config_hash"] == "abc"
    with pytest.raises(ValueError, match="slot segmenter"):
        SlotClustering.load(path)


def test_attribution_json_contract(califa_small, trained, tmp_path):
    from caloreco.io.files import write_json

    geom, s = califa_small
    test = s["test"]
    singles = np.arange(test.cell_id.size) - test.hit_offsets[test.hit_event()]
    out = attribution_metrics(
        trained, test, geom, np.random.default_rng(0), n_boot=50, other_labels={"singles": singles}
    )
    write_json(tmp_path / "attribution.json", out)
    back = json.loads((tmp_path / "attribution.json").read_text())
    hl = back["hit_level"]
    for block in ("network", "smart_random", "majority", "per_energy_bin", "goals"):
        assert block in hl
    for kind in ("raw", "energy_weighted"):
        for k in ("accuracy", "precision", "recall", "f1"):
            v, (lo, hi) = hl["network"][kind][k], hl["network"][kind][f"{k}_ci"]
            assert 0 <= lo <= v <= hi <= 1
    p = hl["smart_random"]["p"]
    assert hl["smart_random"]["expected"]["raw"]["f1"] == pytest.approx(p)
    assert hl["goals"]["f1_ratio_to_smart_random"] == pytest.approx(hl["network"]["raw"]["f1"] / p)
    assert set(back["clustering"]) == {"pointnet", "singles"}
    c = back["clustering"]["pointnet"]
    assert c["TP"] + c["FP"] + c["FN"] + c["FM"] == pytest.approx(1.0)
    assert set(back["binned"]["pointnet"]) == {
        "WR_vs_energy",
        "WR_vs_angle",
        "TP_vs_energy",
        "TP_vs_angle",
    }
    assert sum(b["n"] for b in back["binned"]["pointnet"]["WR_vs_energy"]) == c["true_clusters"]


def test_segmenter_trains_and_round_trips(califa_small, tmp_path):
    geom, s = califa_small
    cfg = {
        "model": {"hidden": 16, "n_blocks": 1, "heads": 2, "n_slots": 4, "iters": 2},
        "training": {"max_epochs": 2, "batch_size": 64},
    }
    seg = train_segmenter(s["train"], s["val"], geom, cfg, log=lambda _: None)
    assert list(seg.history.columns[:4]) == ["epoch", "train_loss", "val_loss", "val_TP"]
    lab = seg.cluster(s["test"], geom)
    assert lab.shape == (s["test"].cell_id.size,) and lab.min() >= 0
    back = SlotClustering.load(seg.save(tmp_path / "slots.pt"))
    np.testing.assert_array_equal(back.cluster(s["test"], geom), lab)
    with pytest.raises(ValueError, match="unknown"):
        train_segmenter(s["train"], s["val"], geom, {"model": {"slots": 3}})


def test_figures_draw_the_metrics(califa_small, trained, tmp_path, repo):
    from caloreco.plotting import attribution as fig

    geom, s = califa_small
    test = s["test"]
    singles = np.arange(test.cell_id.size) - test.hit_offsets[test.hit_event()]
    m = attribution_metrics(
        trained, test, geom, np.random.default_rng(1), n_boot=20, other_labels={"cone": singles}
    )
    style = repo / "workflow/styles/thesis.mplstyle"
    f = fig.baselines(m, style, [tmp_path / "b.png"], dataset="califa_uniform")
    heights = [p.get_height() for p in f.axes[0].patches]
    hl = m["hit_level"]
    # bars: network (4 groups), smart_random expected (4), majority (4)
    assert heights[0] == pytest.approx(hl["network"]["raw"]["f1"])
    assert heights[4] == pytest.approx(hl["smart_random"]["p"])
    assert heights[10] == pytest.approx(hl["majority"]["raw"]["accuracy"])
    assert (tmp_path / "b.png").stat().st_size > 0
    f2 = fig.reconstruction_vs(m, style, [tmp_path / "r.png"], dataset="califa_uniform")
    ax_tp_angle = f2.axes[3]
    ys = ax_tp_angle.lines[0].get_ydata() if ax_tp_angle.lines else []
    assert len(ys) == len(m["binned"]["cone"]["TP_vs_angle"])
    lab = trained.cluster(test, geom)
    fig.event_display(test, geom, lab, style, [tmp_path / "d.png"], n_events=2)
    assert (tmp_path / "d.png").stat().st_size > 0
    with pytest.raises(ValueError, match="hit_level"):
        fig.baselines({}, style, [tmp_path / "x.png"])


def test_settings_merge_and_reject_unknown_keys():
    from caloreco.attribution.settings import (
        DEFAULTS,
        SEGMENTER_DEFAULTS,
        attribution_settings,
        segmenter_settings,
    )

    s = attribution_settings({"training": {"max_epochs": 5}, "segmenter": {"enabled": True}})
    assert s["training"]["max_epochs"] == 5
    assert s["training"]["lr"] == DEFAULTS["training"]["lr"]
    assert s["bootstrap"] == 500 and s["energy_bins_mev"] is None
    # the segmenter block gets its own defaults, the switch as given
    assert s["segmenter"]["enabled"] is True
    assert s["segmenter"]["model"] == SEGMENTER_DEFAULTS["model"]
    assert attribution_settings(None)["segmenter"]["enabled"] is False
    # defaults are copies: changing a result leaves the next call alone
    s["model"]["hidden"] = 999
    assert attribution_settings({})["model"]["hidden"] == DEFAULTS["model"]["hidden"]
    with pytest.raises(ValueError, match="modle"):
        attribution_settings({"modle": {}})
    with pytest.raises(ValueError, match="energy_weight"):
        attribution_settings({"training": {"energy_weight": "cubic"}})
    assert segmenter_settings({"enabled": True})["model"]["n_slots"] == 4
    with pytest.raises(ValueError, match="iterations"):
        segmenter_settings({"model": {"iterations": 3}})


def test_random_slot_init_distinct_and_deterministic_in_eval():
    torch.manual_seed(4)
    net = SlotSegmenter(7, 0, hidden=16, n_blocks=1, heads=2, n_slots=3, init="random").eval()
    x, mask, _ = _cloud()
    a = net(x, mask)[-1]
    torch.testing.assert_close(net(x, mask)[-1], a)  # eval: no fresh noise
    # the slots differ, so hits do not tie across them (the mean alone would make them equal)
    assert (a[:, 0] - a[:, 1]).abs()[mask].min() > 0
    net.train()
    assert not torch.allclose(net(x, mask)[-1], net(x, mask)[-1])  # training: a draw per call


def test_cached_pair_bias_gives_the_same_probabilities(califa_small, trained):
    from caloreco.attribution.training import prepare

    geom, s = califa_small
    data = prepare(s["test"], geom)
    rows = np.flatnonzero(data.n_hits > 0)
    focal = np.zeros(rows.size, dtype=np.int64)
    plain = trained.predict(data, rows, focal)
    cached = trained.predict(data, rows, focal, bias=trained.pair_bias(data))
    np.testing.assert_allclose(cached, plain, atol=1e-6)
    assert np.all(plain[~data.padded.mask[rows]] == 0)
    assert not np.allclose(plain[data.padded.mask[rows]], plain[data.padded.mask[rows]].mean())
