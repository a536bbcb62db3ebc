"""Pixel selection in front of DBSCAN: targets, metrics by hand, the selection on hand-made frames,
the classical chain reproduced, cluster outcomes, and the analysis contract on tiny frames."""

import json

import numpy as np
import pandas as pd
import pytest

from caloreco.imaging import pixel_selection as ps
from caloreco.imaging import reco
from caloreco.imaging.camera import CameraTPC
from caloreco.imaging.pedestal import PedestalMaps
from caloreco.imaging.simulate import RecoilSpec, simulate_camera, simulate_frames


def flat_pedestal(h, w, mean=100.0, rms=2.0):
    return PedestalMaps(
        np.full((h, w), mean, np.float32), np.full((h, w), rms, np.float32), np.zeros((h, w), bool)
    )


def test_target_and_input_by_hand():
    rms = np.array([[2.0, 4.0]], np.float32)
    light = np.array([[[1.0, 1.0]], [[0.0, 2.5]]], np.float32)
    # 0.5 x rms = 1 and 2 counts: strictly above
    assert ps.pixel_target(light, rms, 0.5).tolist() == [[[False, False]], [[False, True]]]
    assert ps.pixel_target(light, rms, 0.2).tolist() == [[[True, True]], [[False, True]]]
    sub = np.array([[[2.0, -4.0]]], np.float32)
    assert np.allclose(ps.unet_input(sub, rms), np.arcsinh([[[1.0, -1.0]]]))
    with pytest.raises(ValueError, match="rms"):
        ps.pixel_target(light, np.ones((2, 2)), 0.5)
    with pytest.raises(ValueError, match="fraction"):
        ps.pixel_target(light, rms, -1.0)
    with pytest.raises(ValueError, match="rms"):
        ps.unet_input(sub, np.zeros((1, 2)))


def test_counts_and_pixel_metrics_by_hand():
    t = np.zeros((2, 3, 3), bool)
    s = np.zeros((2, 3, 3), bool)
    t[0, 0, :] = True  # 3 signal pixels in frame 0
    s[0, 0, :2] = True  # 2 found
    s[0, 2, 2] = True  # 1 noise pixel
    t[1, 1, 1] = True  # frame 1: missed
    s[1, 0, 0] = True
    c = ps.selection_counts(s, t)
    assert c.tolist() == [[2, 1, 1], [0, 1, 1]]
    m = ps.pixel_metrics(c, np.random.default_rng(0), 400)
    assert m["precision"] == pytest.approx(2 / 4) and m["recall"] == pytest.approx(2 / 4)
    assert m["f1"] == pytest.approx(2 * 2 / (2 * 2 + 2 + 2))
    assert m["selected_per_frame"] == 2.0
    # resampling 2 frames: F1 = 2 TP / (2 TP + FP + FN) is 8/12 (frame 0 twice), 0 (frame 1
    # twice) or 1/2 (both)
    lo, hi = m["f1_ci"]
    assert lo == pytest.approx(0.0) and hi == pytest.approx(2 / 3)
    same = ps.pixel_metrics(np.array([[2, 1, 1]] * 5), np.random.default_rng(0), 100)
    assert same["f1_ci"] == pytest.approx([same["f1"]] * 2)
    with pytest.raises(ValueError, match="counts"):
        ps.pixel_metrics(np.zeros((0, 3)))
    with pytest.raises(ValueError, match="target"):
        ps.selection_counts(s, t[:1])


def test_threshold_counts_against_brute_force():
    rng = np.random.default_rng(3)
    score = rng.random((4, 5, 6))
    target = rng.random((4, 5, 6)) < 0.3
    edges = np.array([0.1, 0.25, 0.5, 0.9])
    sel, tp, pos = ps.threshold_counts(score, target, edges)
    for k, e in enumerate(edges):
        assert np.array_equal(sel[:, k], (score > e).sum(axis=(1, 2)))
        assert np.array_equal(tp[:, k], ((score > e) & target).sum(axis=(1, 2)))
    assert np.array_equal(pos, target.sum(axis=(1, 2)))
    pr = ps.pr_from_counts(sel, tp, pos)
    k = 2
    pooled = ps.pixel_metrics(ps.selection_counts(score > edges[k], target))
    assert pr["precision"][k] == pytest.approx(pooled["precision"])
    assert pr["recall"][k] == pytest.approx(pooled["recall"])
    assert pr["f1"][k] == pytest.approx(pooled["f1"])


def test_unet_points_and_grow_by_hand():
    p = np.zeros((1, 8, 8), np.float32)
    p[0, 1, 1] = 0.8  # block (0, 0)
    p[0, 6, 5] = 0.45  # block (1, 1): below 0.5
    p[0, 4, 0] = 0.51  # block (1, 0)
    pts = ps.unet_points(p, 0.5, rebin=4)
    assert pts.tolist() == [[[1.0, 0.0], [1.0, 0.0]]]
    assert ps.unet_points(p, 0.4, 4).sum() == 3
    assert ps.unet_points(p, 0.4, 4, spark=np.array([True])).sum() == 0
    with pytest.raises(ValueError, match="multiple"):
        ps.unet_points(p[:, :6], 0.5, 4)
    lab = np.full((2, 5, 5), -1, np.int32)
    lab[0, 2, 2] = 0
    lab[1, 0, 0] = 3
    g = ps.grow_labels(lab, 1)
    assert (g[0] == 0).sum() == 9 and (g[0, 1:4, 1:4] == 0).all()
    assert (g[1] == 3).sum() == 4  # corner: the ring is cut by the border
    assert (ps.grow_labels(lab, 2)[0] == 0).sum() == 25
    assert np.array_equal(ps.grow_labels(lab, 0), lab)


def hand_frame():
    """A 32 x 32 frame on a flat pedestal: a 6 x 6 spot of 30 counts per pixel at rows/cols
    8..13 (macro-pixels (2, 2), (2, 3), (3, 2), (3, 3) with rebin 4) and a single bright noise
    pixel elsewhere."""
    ped = flat_pedestal(32, 32, 100.0, 2.0)
    img = np.full((1, 32, 32), 100, np.uint16)
    img[0, 8:14, 8:14] = 130
    img[0, 25, 4] = 112
    return img, ped


def test_selection_on_a_hand_made_frame():
    img, ped = hand_frame()
    st = reco.RecoSettings(eps=3.0, min_samples=3, border=0)
    cp = ps.classical_points(img, ped, st)
    prob = np.zeros((1, 32, 32), np.float32)
    prob[0, 8:14, 8:14] = 0.9  # a perfect segmentation of the spot
    pts = ps.unet_points(prob, 0.5, 4)
    assert np.flatnonzero(pts[0]).tolist() == [2 * 8 + 2, 2 * 8 + 3, 3 * 8 + 2, 3 * 8 + 3]
    res = ps.cluster_chain(pts, cp["weights"], cp["sub"], cp["zs"], st, pixel_mm=0.1)
    assert res.n_points.tolist() == [4] and len(res.clusters) == 1
    row = res.clusters.iloc[0]
    # sc_integral: the pedestal-subtracted pixels of the 4 macro-pixels (16 x 16 pixels)
    assert row.integral == pytest.approx(36 * 30.0) and row.n_macro == 4
    assert row.x_mm == pytest.approx(1.1) and row.y_mm == pytest.approx(1.1)  # (8+13)/2+0.5 px
    # DBSCAN weights: the rebinned zero-suppressed intensity, 4 x 4 block mean
    w = cp["weights"][0]
    assert w[2, 2] == pytest.approx(30.0)  # rows / cols 8..11: all spot
    assert w[3, 3] == pytest.approx(30.0 * 4 / 16)  # rows / cols 12..15: 2 x 2 of the spot
    # grown by one ring: the integral adds only pedestal-level pixels (0 here)
    grown = ps.cluster_chain(pts, cp["weights"], cp["sub"], cp["zs"], st, 0.1, grow=1)
    assert grown.clusters.iloc[0].n_macro == 16
    assert grown.clusters.iloc[0].integral == pytest.approx(36 * 30.0)
    assert grown.clusters.iloc[0].integral_core == pytest.approx(36 * 30.0)
    # no point, no cluster
    none = ps.cluster_chain(np.zeros_like(pts), cp["weights"], cp["sub"], cp["zs"], st)
    assert len(none.clusters) == 0 and none.n_points.tolist() == [0]
    with pytest.raises(ValueError, match="weights"):
        ps.cluster_chain(pts, cp["weights"][:, :4], cp["sub"], cp["zs"], st)


def test_classical_points_and_chain_reproduce_reconstruct():
    cam = CameraTPC(height=64, width=64)
    spec = RecoilSpec(
        energy={"distribution": "lines", "values_kev": [1.0, 6.0]},
        margin_mm=2.0,
        empty_fraction=0.3,
    )
    true, meas = simulate_camera(cam, seed=5, n_pedestal_frames=30)
    f = simulate_frames(cam, spec, true, 10, seed=5)
    truth = dict(
        events=f.event,
        truth_light=f.truth_light,
        truth_recoil=f.truth_recoil,
        recoil_offsets=f.recoil_offsets,
        recoils=f.recoils,
    )
    want = reco.reconstruct(f.image, meas, pixel_mm=cam.pixel_mm, batch=4, **truth)
    pre = reco.preprocess(f.image, meas)
    cp = ps.classical_points(f.image, meas)
    for a, b in (("points", "filtered"), ("weights", "rebinned_zs"), ("sub", "sub"), ("zs", "zs")):
        assert np.array_equal(cp[a], pre[b]), a
    got = ps.cluster_chain(
        cp["points"], cp["weights"], cp["sub"], cp["zs"], pixel_mm=cam.pixel_mm, batch=4, **truth
    )
    assert len(want.clusters) > 3
    pd.testing.assert_frame_equal(got.clusters.drop(columns="integral_core"), want.clusters)
    assert np.array_equal(got.labels, want.labels)
    assert np.array_equal(got.n_points, want.n_points)
    assert got.dbscan_seconds > 0
    # one batch of steps 6-7 (what both chains call): the same table and labels, the DBSCAN time
    tab, lab, t_db = reco.cluster_points(
        cp["points"][:4],
        cp["weights"][:4],
        cp["sub"][:4],
        cp["zs"][:4],
        pixel_mm=cam.pixel_mm,
        events=f.event[:4],
        truth_light=f.truth_light[:4],
        truth_recoil=f.truth_recoil[:4],
        recoil_offsets=f.recoil_offsets,
        recoils=f.recoils,
    )
    first = want.clusters[want.clusters["frame"] < 4].reset_index(drop=True)
    pd.testing.assert_frame_equal(tab, first)
    assert np.array_equal(lab, want.labels[:4]) and t_db > 0
    # the anomaly analysis and the pixel selection share one energy-label function
    from caloreco.imaging import anomaly
    from caloreco.imaging.metrics import energy_labels

    assert ps.energy_labels is energy_labels and anomaly.M.energy_labels is energy_labels


def outcome_table():
    # frame 0: recoil 0 (light 1000) found as a main cluster and a split; a fake
    # frame 1: no recoil, one fake; frame 2: recoil 0 (light 400) missed, recoil 1 (light 200)
    # found; a cluster grazing recoil 0 with mostly noise is a fake
    return pd.DataFrame(
        {
            "frame": [0, 0, 0, 1, 2, 2],
            "cluster": [0, 1, 2, 0, 0, 1],
            "recoil": [0, 0, -1, -1, 1, 0],
            "truth_light": [900.0, 60.0, 0.0, 0.0, 190.0, 20.0],
            "integral": [950.0, 70.0, 80.0, 50.0, 210.0, 100.0],
            "integral_core": [940.0, 70.0, 80.0, 50.0, 200.0, 100.0],
            "completeness": [0.9, 0.06, 0.0, 0.0, 0.95, 0.05],
        }
    )


RECOILS = {
    "recoil_light": np.array([1000.0, 400.0, 200.0]),
    "recoil_energy_kev": np.array([1.0, 0.5, 0.25], np.float32),
    "recoil_kind": np.array([1, 2, 1], np.int8),
}
OFFSETS = np.array([0, 1, 1, 3])


def test_cluster_outcomes_by_hand():
    status, rt = ps.cluster_outcomes(outcome_table(), OFFSETS, RECOILS, signal_share=0.5)
    assert status.tolist() == ["main", "split", "fake", "fake", "main", "fake"]
    assert rt["detected"].tolist() == [True, False, True]
    assert rt["frame"].tolist() == [0, 2, 2]
    assert rt["ratio"].tolist()[0] == pytest.approx(0.95) and np.isnan(rt["ratio"][1])
    assert rt["ratio"][2] == pytest.approx(210 / 200)
    assert rt["integral_core"][2] == 200.0 and rt["splits"].tolist() == [1, 0, 0]
    # a stricter share turns the split (60 of 70) into a fake
    status2, _ = ps.cluster_outcomes(outcome_table(), OFFSETS, RECOILS, signal_share=0.9)
    assert status2.tolist()[1] == "fake"
    empty_status, empty_rt = ps.cluster_outcomes(outcome_table().iloc[:0], OFFSETS, RECOILS)
    assert empty_status.size == 0 and not empty_rt["detected"].any()


def test_outcome_metrics_by_hand():
    tab = outcome_table()
    status, rt = ps.cluster_outcomes(tab, OFFSETS, RECOILS)
    frame_energy = np.array([1.0, 0.0, 0.75])  # frame 2 holds 0.5 + 0.25 keV
    m = ps.outcome_metrics(
        status,
        tab["frame"].to_numpy(),
        rt,
        frame_energy,
        n_points=np.array([10, 4, 7]),
        dbscan_ms=np.array([1.0, 2.0, 3.0]),
    )
    assert m["energies"] == ["0.75", "1"]
    assert m["per_energy"]["1"]["efficiency"]["value"] == 1.0
    assert m["per_energy"]["1"]["fakes_per_frame"]["value"] == 1.0
    assert m["per_energy"]["1"]["splits_per_frame"]["value"] == 1.0
    ped = m["pedestal"]
    assert ped["frames"] == 1 and ped["fakes_per_frame"]["count"] == 1
    assert ped["points_per_frame"] == 4.0 and ped["dbscan_ms_per_frame"] == 2.0
    a = m["all"]
    assert a["recoils"] == 3 and a["efficiency"]["value"] == pytest.approx(2 / 3)
    assert a["efficiency"]["err"] == pytest.approx(np.sqrt(2 / 9 / 3))
    assert a["fakes_per_frame"]["value"] == pytest.approx(3 / 3)
    assert a["integral_ratio"]["mean"] == pytest.approx((0.95 + 1.05) / 2)
    assert a["points_per_frame"] == pytest.approx(7.0)
    # recoils are binned by their own energy: 0.5 and 0.25 keV are not frame labels here
    assert m["per_energy"]["0.75"]["recoils"] == 0
    # Poisson: no fake in 10 frames has the 95 % upper limit -ln(0.05) / 10
    assert ps._poisson_rate(0, 10)["upper_95"] == pytest.approx(-np.log(0.05) / 10)
    assert ps._poisson_rate(4, 10)["err"] == pytest.approx(0.2)


def test_energy_labels_and_settings():
    lab, names = ps.energy_labels(np.array([0.0, 0.25, 1.0, 0.25, 20.0]))
    assert names == ["0.25", "1", "20"] and lab.tolist() == ["", "0.25", "1", "0.25", "20"]
    lab, names = ps.energy_labels(np.array([0.3, 2.0, 9.0, 0.0]), bins=[0.1, 1.0, 10.0])
    assert names == ["0.1-1", "1-10"] and lab.tolist() == ["0.1-1", "1-10", "1-10", ""]
    s = ps.pixel_selection_settings_from_config({"unet": {"channels": [2, 4]}, "n_boot": 10})
    assert s.unet["channels"] == (2, 4)
    with pytest.raises(ValueError, match="unknown keys"):
        ps.pixel_selection_settings_from_config({"treshold": 0.5})
    with pytest.raises(ValueError, match="pixel_threshold"):
        ps.PixelSelectionSettings(pixel_threshold=1.0)
    with pytest.raises(ValueError, match="unknown reco keys"):
        ps.PixelSelectionSettings(compare={"x": {"nsgima": 0.2}})
    with pytest.raises(ValueError, match="alpha"):
        ps.PixelSelectionSettings(unet={"alpha": 4})


def test_analysis_contract_on_tiny_frames():
    cam = CameraTPC(height=64, width=64)
    spec = RecoilSpec(
        energy={"distribution": "lines", "values_kev": [0.5, 1.0, 6.0], "balanced": True},
        margin_mm=2.0,
    )
    true, meas = simulate_camera(cam, seed=2, n_pedestal_frames=30)
    f = simulate_frames(cam, spec, true, 48, seed=2)
    s = ps.PixelSelectionSettings(
        unet={"channels": [4, 8], "patch": 32, "max_epochs": 2, "patches_per_frame": 4},
        n_boot=20,
        n_examples=3,
    )
    m, art = ps.pixel_selection_analysis(f, meas, s, pixel_mm=cam.pixel_mm, seed=1)
    json.dumps(m)  # plain JSON
    assert set(m["clustering"]["methods"]) == {
        "nsigma",
        "unet",
        "unet_relaxed",
        "nsigma_talk",
        "unet_talk",
    }
    assert m["frames"]["train"] + m["frames"]["val"] + m["frames"]["test"] == 48
    assert m["energies"] == ["0.5", "1", "6"]
    assert set(m["goals"]) == {
        "unet_vs_nsigma",
        "unet_talk_vs_nsigma_talk",
        "unet_relaxed_vs_nsigma",
    }
    g = m["goals"]["unet_vs_nsigma"]
    for k in ("efficiency_1kev", "integral_ratio_1kev", "fewer_fakes_every_bin"):
        assert isinstance(g[k]["met"], bool)
    assert set(g["fewer_fakes_every_bin"]["bins"]) == {"0.5", "1", "6", "multi_keV", "pedestal"}
    assert 0 < m["pixels"]["unet"]["threshold"] < 1
    assert m["pixels"]["smart_random"]["f1"] == pytest.approx(
        m["target"]["signal_pixel_fraction_train"]
    )
    # the nsigma method is the classical chain on the test frames
    from caloreco.split import assign_split

    test = f.select(assign_split(f.event, s.split_fractions, s.split_seed) == "test")
    want = reco.reconstruct(test.image, meas, pixel_mm=cam.pixel_mm)
    cl = art["clusters"]
    mine = cl[cl["method"] == "nsigma"]
    assert len(mine) == len(want.clusters)
    assert np.allclose(np.sort(mine["integral"]), np.sort(want.clusters["integral"]))
    nsig = m["clustering"]["methods"]["nsigma"]
    assert nsig["all"]["points_per_frame"] == pytest.approx(want.n_points.mean())
    # every test recoil appears once per method
    rec = art["recoils"]
    assert len(rec) == 5 * int(test.recoil_offsets[-1])
    # the relaxed min_samples is a candidate, chosen on validation frames (its rows are there)
    u = m["unet"]
    assert u["relaxed_min_samples"] in s.relaxed_min_samples
    assert (
        m["clustering"]["methods"]["unet_relaxed"]["reco"]["min_samples"]
        == u["relaxed_min_samples"]
    )
    assert len(u["relaxed_min_samples_validation"]) == 1 + len(s.relaxed_min_samples)
    ex = art["examples"]
    assert ex["prob"].shape[1:] == (64, 64) and ex["labels_unet"].shape[1:] == (16, 16)
    with pytest.raises(ValueError, match="truth"):
        from caloreco.imaging.frames import ImageFrames

        ps.pixel_selection_analysis(
            ImageFrames(f.event, f.run, f.image, f.kind, f.energy_kev), meas, s
        )


def test_choose_min_samples_prefers_efficiency_without_extra_fakes():
    # two frames: a faint spot that only a low min_samples keeps, and an empty frame with a
    # bright noise blob that the U-Net (perfectly) ignores
    from caloreco.imaging.frames import ImageFrames

    ped = flat_pedestal(32, 32, 100.0, 2.0)
    img = np.full((2, 32, 32), 100, np.uint16)
    img[0, 8:12, 8:12] = 104  # 16 pixels of 4 counts: weight 4 in one macro-pixel
    truth = np.zeros((2, 32, 32), np.float32)
    truth[0, 8:12, 8:12] = 4.0
    trec = np.where(truth > 0, 0, -1).astype(np.int8)
    recoils = {
        "recoil_light": np.array([64.0]),
        "recoil_energy_kev": np.array([0.25], np.float32),
        "recoil_kind": np.array([1], np.int8),
    }
    val = ImageFrames(
        np.arange(2),
        np.ones(2, np.int32),
        img,
        np.array([1, 0], np.int8),
        np.array([0.25, 0.0], np.float32),
        truth,
        trec,
        np.array([0, 1, 1]),
        recoils,
    )
    prob = (truth > 0).astype(np.float32)
    rs = reco.RecoSettings(eps=3.0, min_samples=20, border=0)
    ms, rows = ps.choose_min_samples(val, ped, prob, 0.5, rs, (20, 10, 4, 2))
    by = {r["min_samples"]: r for r in rows if r["method"] == "unet"}
    assert by[20]["efficiency"] == 0.0 and by[4]["efficiency"] == 1.0
    assert ms == 4  # the largest that finds the spot without a fake
    assert rows[0]["method"] == "nsigma" and rows[0]["fakes_per_frame"] == 0.0
