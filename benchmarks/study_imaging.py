"""The imaging (camera_tpc) pipeline end to end at the default size, with the goal numbers.

Usage: python benchmarks/study_imaging.py [--out results/imaging_study] [--frames 960]
    [--chunk 240] [--size 256] [--seed 1] [--device auto] [--figures]

Simulates ``frames`` frames of a LIME-like camera (``size`` x ``size`` crops at 0.152 mm) in
chunks written in the raw image contract, reads them back, runs the classical chain and the
``anomaly`` analysis (autoencoder trained on pedestal-like frames, selections, ROC, ER/NR, DEC),
writes ``metrics.json``, ``regions.parquet``, ``examples.npz`` (and figures with ``--figures``)
and prints the goals (met / MISSED) with the wall time and disk use. One core.
"""

from __future__ import annotations

import os

for _v in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
    os.environ.setdefault(_v, "1")

import argparse  # noqa: E402
import json  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="results/imaging_study")
    parser.add_argument("--frames", type=int, default=960)
    parser.add_argument("--chunk", type=int, default=240)
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--row-noise", type=float, default=0.0)
    parser.add_argument("--figures", action="store_true")
    parser.add_argument(
        "--ae", default="{}", help="autoencoder overrides as JSON, e.g. '{\"fast\": true}'"
    )
    args = parser.parse_args()
    torch.set_num_threads(1)

    from caloreco.imaging.anomaly import AnomalySettings, anomaly_analysis
    from caloreco.imaging.chunks import read_chunks, simulate_chunk
    from caloreco.io.files import atomic_path

    out = Path(args.out)
    (out / "raw").mkdir(parents=True, exist_ok=True)
    t_start = time.perf_counter()
    camera = {"height": args.size, "width": args.size, "row_noise": args.row_noise}
    recoils = {}  # the defaults: 0.25 .. 20 keVee lines, ER and NR balanced, 25 % empty frames
    n_chunks = -(-args.frames // args.chunk)
    sims, paths = [], []
    for c in range(n_chunks):
        p = out / "raw" / f"chunk-{c:03d}.root"
        sims.append(simulate_chunk(p, camera, recoils, args.seed, c, args.chunk))
        paths.append(p)
        print(
            f"chunk {c}: {sims[-1]['frames']} frames, {sims[-1]['frames_per_second']:.1f} frames/s, "
            f"{sims[-1]['file_bytes'] / 1e6:.1f} MB",
            flush=True,
        )
    t_sim = time.perf_counter() - t_start
    t0 = time.perf_counter()
    frames, pedestal = read_chunks(paths, require_truth=True)
    t_read = time.perf_counter() - t0
    t0 = time.perf_counter()
    settings = AnomalySettings(autoencoder=json.loads(args.ae))
    metrics, art = anomaly_analysis(
        frames,
        pedestal,
        settings,
        seed=args.seed,
        device=args.device,
        log=lambda m: print(m, flush=True),
    )
    t_ana = time.perf_counter() - t0
    wall = time.perf_counter() - t_start
    disk = sum(p.stat().st_size for p in paths)
    metrics["study"] = {
        "frames": len(frames),
        "chunks": n_chunks,
        "image": [args.size, args.size],
        "simulation": sims,
        "seconds": {"simulate_and_write": t_sim, "read": t_read, "analysis": t_ana, "total": wall},
        "disk_bytes": disk,
        "disk_bytes_per_chunk": disk / n_chunks,
    }
    with atomic_path(out / "metrics.json") as tmp:
        tmp.write_text(json.dumps(metrics, indent=1, default=float))
    art["regions"].to_parquet(out / "regions.parquet")
    art["roc_scores"].to_parquet(out / "roc_scores.parquet")
    np.savez_compressed(out / "examples.npz", **art["examples"])
    if args.figures:
        from caloreco.plotting import imaging as fig

        style = Path(__file__).resolve().parents[1] / "workflow/styles/thesis.mplstyle"
        fig.all_figures(out / "metrics.json", out / "examples.npz", out / "figures", style)
    summarise(metrics)


def _fmt(d, key="value"):
    return f"{100 * d[key]:.2f} +- {100 * d.get('err', float('nan')):.2f} %"


def summarise(m: dict) -> None:
    sel = m["selection"]
    print("\n== selection (test signal frames) ==")
    for name in ("nsigma", "ae_pixel", "window", "ae_local"):
        ka = sel["methods"][name]["kept_at_area"]
        print(
            f"{name:10s} kept at 97.8 / 99 / 99.5 % discarded: "
            + " | ".join(_fmt(ka[t]) for t in ka)
            + "   area at 93 % kept: "
            + f"{100 * sel['methods'][name]['area_at_kept']['0.93']:.2f} %"
        )
    for name in ("ae_roi", "classical_reco"):
        p = sel["methods"][name]["point"]
        print(
            f"{name:10s} point: {100 * p['intensity_kept']:.2f} +- {100 * p.get('intensity_kept_err', 0):.2f} % kept at "
            f"{100 * p['area_discarded']:.2f} +- {100 * p.get('area_discarded_err', 0):.2f} % discarded"
        )
    g = sel["goals"]
    print(
        f"goal 93 % at 97.8 %: {'met' if g['met_93_at_97.8'] else 'MISSED'} (ae_local {_fmt(g['ae_kept_at_97.8'])}); "
        f"ROI point {'met' if g['roi_met_93_at_97.8'] else 'MISSED'}"
    )
    print("beats nsigma at equal area:", g["beats_nsigma_at_equal_area"])
    print("\n== ROC AUC (signal vs empty test frames) ==")
    for name, per in m["roc"]["methods"].items():
        print(
            f"{name:14s} "
            + "  ".join(f"{e}: {v['auc']:.4f}+-{v['auc_err']:.4f}" for e, v in per.items())
        )
    print("\n== ER / NR (test regions) ==")
    en = m["er_nr"]
    if "per_energy" in en:
        for e, v in en["per_energy"].items():
            print(
                f"{e:>5s} keV  n={v['n_er']}+{v['n_nr']}  cnn acc {v['cnn']['accuracy']:.3f}+-{v['cnn']['accuracy_err']:.3f} auc {v['cnn']['auc']:.3f}"
                f" | gbdt acc {v['gbdt']['accuracy']:.3f} auc {v['gbdt']['auc']:.3f}"
                f" | shape cut acc {v['shape_cut']['accuracy']:.3f}+-{v['shape_cut']['accuracy_err']:.3f}"
            )
    d = m["dec"]
    if d:
        print(
            f"DEC purity {d['purity']:.3f} +- {d['purity_err']:.3f} (majority {d['majority_fraction']:.3f})"
        )
    a = m["autoencoder"]
    print(
        f"\nautoencoder: pedestal variance explained {a['pedestal_variance_explained']:.4f}, "
        f"signal absorbed {a['signal_absorbed_fraction']:.4f}"
    )
    s = m["study"]
    print(
        f"timing: {m['timing']}; wall {s['seconds']}; disk {s['disk_bytes'] / 1e6:.1f} MB "
        f"({s['disk_bytes_per_chunk'] / 1e6:.1f} MB per chunk)"
    )


if __name__ == "__main__":
    main()
