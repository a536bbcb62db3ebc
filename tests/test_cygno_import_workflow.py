"""CYGNO's own files through the workflow: run files of ``pic_run*_ev*`` TH2S histograms (the data
layout: run zero-padded, frames flipped as the MIDAS readout stores them) with a pedestal run or a
``pedmap`` file, imported (``source: cygno``), QA'd and reconstructed in a copy of the workflow;
and bad files, missing pedestals and wrong shapes stopping with the file and histogram named."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import uproot
import yaml

from caloreco.imaging.camera import CameraTPC
from caloreco.imaging.cygno import write_cygno_pedmap, write_cygno_run
from caloreco.imaging.pedestal import pedestal_from_frames
from caloreco.imaging.rawio import read_image_run_info, read_images, read_pedestal
from caloreco.imaging.reco import CLUSTER_COLUMNS, reconstruct
from caloreco.imaging.simulate import RecoilSpec, simulate_frames, simulate_pedestal_run

from conftest import TEST_CONFIG, copy_workflow, run_copy

pytestmark = pytest.mark.workflow

CAM = CameraTPC(height=64, width=64)
N = 48  # frames of the data run
CROP = [8, 4, 48, 56]  # row, column, height, width


@pytest.fixture(scope="module")
def sim():
    """A simulated LIME crop: its pedestal run and a data run with one recoil per frame."""
    true, ped_frames = simulate_pedestal_run(CAM, seed=21, n_pedestal_frames=40)
    spec = RecoilSpec(
        energy={"distribution": "lines", "values_kev": [1.0, 6.0], "balanced": True},
        empty_fraction=0.25,
        margin_mm=3.0,
    )
    frames = simulate_frames(CAM, spec, true, N, seed=21, run=1234)
    return frames, ped_frames


def _config(datasets: dict) -> dict:
    cfg = yaml.safe_load(TEST_CONFIG.read_text())
    cfg["detectors"] = {"lime": cfg["detectors"]["lime"]}
    cfg["datasets"] = datasets
    return cfg


@pytest.fixture(scope="module")
def cygno_run(tmp_path_factory, sim) -> Path:
    frames, ped_frames = sim
    work = copy_workflow(tmp_path_factory.mktemp("cygno") / "wf")
    data = work / "data"
    data.mkdir()
    write_cygno_run(
        data / "histograms_Run01234.root", frames.image, frames.event, 1234, "TH2S", True
    )
    write_cygno_run(
        data / "histograms_Run01233.root", ped_frames, np.arange(40), 1233, "TH2S", True
    )
    # the same data in two files, and the maps as CYGNO's pedmap file
    half = N // 2
    write_cygno_run(data / "a.root", frames.image[:half], frames.event[:half], 1234, "TH2S", True)
    write_cygno_run(data / "b.root", frames.image[half:], frames.event[half:], 1234, "TH2S", True)
    write_cygno_pedmap(data / "pedmap.root", pedestal_from_frames(ped_frames))
    datasets = {
        "lime_run": {
            "detector": "lime",
            "source": "cygno",
            "seed": 1,
            "chunks": 2,
            "frames_per_chunk": half,
            "files": ["data/histograms_Run01234.root"],
            "cygno": {"pedestal": "data/histograms_Run01233.root"},
            "clustering": {"cygno": {}},
        },
        "lime_pedmap": {
            "detector": "lime",
            "source": "cygno",
            "seed": 1,
            "chunks": 2,
            "files": ["data/a.root", "data/b.root"],
            "cygno": {"pedestal": "data/pedmap.root", "crop": CROP},
            "clustering": {"cygno": {}},
        },
    }
    (work / "cygno.yaml").write_text(yaml.safe_dump(_config(datasets), sort_keys=False))
    run_copy(work, "--configfile", "cygno.yaml", "--cores", "2", "all")
    return work


def test_a_pedestal_run_and_its_data_run_become_the_raw_contract(cygno_run, sim):
    frames, ped_frames = sim
    res = cygno_run / "results/lime_run"
    expected_ped = pedestal_from_frames(ped_frames)
    for c in range(2):
        path = res / f"raw/chunk-{c:03d}.root"
        got = read_images(path)
        sl = slice(c * N // 2, (c + 1) * N // 2)
        # the frames as simulated: the flip of CYGNO's layout undone, TH2S read as uint16
        assert np.array_equal(got.image, frames.image[sl])
        assert np.array_equal(got.event, frames.event[sl]) and (got.run == 1234).all()
        assert not got.has_truth and (got.kind == -1).all()
        ped = read_pedestal(path)
        assert ped.n_frames == 40
        assert np.allclose(ped.mean, expected_ped.mean) and np.allclose(ped.rms, expected_ped.rms)
        info = read_image_run_info(path)
        assert info["source"] == "cygno" and info["dataset"] == "lime_run"
        assert info["data_file"].endswith("histograms_Run01234.root")
        with uproot.open(path) as f:
            assert f.classnames(cycle=False)["images"] == "TTree"


def test_two_files_a_pedmap_and_a_crop(cygno_run, sim):
    frames, ped_frames = sim
    r0, c0, h, w = CROP
    res = cygno_run / "results/lime_pedmap"
    ped_full = pedestal_from_frames(ped_frames)
    for c in range(2):
        got = read_images(res / f"raw/chunk-{c:03d}.root")
        sl = slice(c * N // 2, (c + 1) * N // 2)
        assert np.array_equal(got.image, frames.image[sl, r0 : r0 + h, c0 : c0 + w])
        ped = read_pedestal(res / f"raw/chunk-{c:03d}.root")
        assert ped.n_frames == 0  # maps from a pedmap file, not from frames
        assert np.allclose(ped.rms, ped_full.rms[r0 : r0 + h, c0 : c0 + w], rtol=1e-6)


def test_imported_data_gets_qa_and_the_classical_reconstruction(cygno_run, sim):
    frames, ped_frames = sim
    res = cygno_run / "results/lime_run"
    s = json.loads((res / "metrics/simulation.json").read_text())
    assert s["source"] == "cygno" and s["frames"] == N and s["frames_by_kind"] == {"unknown": N}
    assert "counts_per_kev" not in s and s["pedestal"]["n_frames"] == 40
    # no truth to pick the empty frames: the robust spread over all frames, near one sigma
    assert s["noise_sigmas"]["frames"] == "all" and 0.95 < s["noise_sigmas"]["mean"] < 1.15
    assert (res / "qa/simulation.png").stat().st_size > 10_000
    # the cluster table is CYGNO's chain on the original frames and maps, exactly
    ped = pedestal_from_frames(ped_frames)
    for c in range(2):
        t = pd.read_parquet(res / f"clusters/cygno/chunk-{c:03d}.parquet")
        assert list(t.columns) == list(CLUSTER_COLUMNS)
        sl = slice(c * N // 2, (c + 1) * N // 2)
        ref = reconstruct(frames.image[sl], ped, events=frames.event[sl]).clusters
        pd.testing.assert_frame_equal(t, ref, check_dtype=False)
        # every 6 keV recoil of the chunk gives a cluster in its frame
        six = frames.event[sl][np.isclose(frames.energy_kev[sl], 6.0)]
        assert set(six) <= set(t["event"])
    nb = cygno_run / "results/notebooks/lime_run/dataset_overview.html"
    assert "camera_tpc" in nb.read_text()


def _bad_run(work: Path, name: str, ds: dict) -> tuple[int, str]:
    """Run the raw chunk of one dataset; return the exit code and the job's log (or output)."""
    (work / f"{name}.yaml").write_text(yaml.safe_dump(_config({name: ds}), sort_keys=False))
    proc = run_copy(
        work,
        "--configfile",
        f"{name}.yaml",
        "--cores",
        "1",
        f"results/{name}/raw/chunk-000.root",
        check=False,
    )
    log = work / f"results/{name}/logs/import/chunk-000.log"
    text = log.read_text() if log.exists() else proc.stdout + proc.stderr
    return proc.returncode, text


def test_bad_files_stop_naming_the_file_and_histogram(cygno_run, sim):
    frames, ped_frames = sim
    work = cygno_run
    data = work / "data"
    # a frame of another size in the run (a 32 x 32 histogram added with plain uproot), a
    # pedestal of another size, a file that is not ROOT
    write_cygno_run(data / "mixed.root", frames.image[:4], np.arange(4), 7, "TH2S", True)
    with uproot.update(data / "mixed.root") as f:
        edges = np.arange(33.0)
        f["pic_run00007_ev4"] = (frames.image[4, :32, :32].astype(np.float64), edges, edges)
    write_cygno_run(data / "ped32.root", ped_frames[:, :32, :32], np.arange(40), 6, "TH2S")
    (data / "junk.root").write_bytes(b"not a ROOT file at all" * 10)
    base = {
        "detector": "lime",
        "source": "cygno",
        "seed": 1,
        "chunks": 1,
        "cygno": {"pedestal": "data/histograms_Run01233.root"},
    }
    rc, log = _bad_run(work, "bad_shape", base | {"files": ["data/mixed.root"]})
    assert rc != 0
    assert "mixed.root" in log and "'pic_run00007_ev4' is 32 x 32" in log, log[-2000:]
    rc, log = _bad_run(
        work,
        "bad_pedestal",
        base
        | {"files": ["data/histograms_Run01234.root"], "cygno": {"pedestal": "data/ped32.root"}},
    )
    assert rc != 0 and "ped32.root: pedestal maps are 32 x 32" in log, log[-2000:]
    rc, log = _bad_run(work, "not_root", base | {"files": ["data/junk.root"]})
    assert rc != 0 and "junk.root" in log and "cannot be read as a ROOT file" in log, log[-2000:]
    rc, out = _bad_run(
        work,
        "no_pedestal",
        base
        | {"files": ["data/histograms_Run01234.root"], "cygno": {"pedestal": "data/none.root"}},
    )
    assert rc != 0 and "data/none.root" in out  # a missing input: Snakemake names it
    for name in ("bad_shape", "bad_pedestal", "not_root"):
        assert not (work / f"results/{name}/raw/chunk-000.root").exists()
