"""U-Net pixel selection in front of DBSCAN against the classical chain, at the default size.

Usage: python benchmarks/study_pixel_selection.py [--out results/pixel_selection_study]
    [--frames 960] [--chunk 240] [--size 256] [--seed 1] [--camera '{"noise_median": 3.5}']
    [--tag default] [--device cpu] [--figures] [--scan]

Simulates ``frames`` frames of the imaging default (``size`` x ``size`` crops at 0.152 mm, the
default spectrum: 0.25, 0.5, 1, 2, 6, 20 keVee lines, ER and NR balanced, 25 % frames without a
recoil; the same events and seeds as the imaging study's chunks), ``--camera`` overriding camera
keys (e.g. a noisier sensor), then :func:`caloreco.imaging.pixel_selection.pixel_selection_analysis`
(split by frame 50 / 10 / 40 %, U-Net training with early stopping on the validation frames,
thresholds from the validation frames, the classical chains and the U-Net chains on the same test
frames). Writes ``{out}/{tag}/metrics.json``, ``clusters.parquet``, ``recoils.parquet``,
``examples.npz``, ``unet.pt`` (and figures with ``--figures``) and prints the goal table (met /
MISSED). With ``--scan`` it also prints, for information, the U-Net chain at other point
thresholds on the same test frames (not used for any choice). One core.
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


def simulate(camera: dict, n_frames: int, chunk: int, seed: int):
    """Frames as :func:`caloreco.imaging.chunks.simulate_chunk` makes them, kept in memory."""
    from caloreco.imaging.camera import camera_from_config
    from caloreco.imaging.frames import concat_frames
    from caloreco.imaging.simulate import RecoilSpec, simulate_camera, simulate_frames

    cam = camera_from_config(camera)
    spec = RecoilSpec()
    true, measured = simulate_camera(cam, seed, 100)
    parts = []
    for c in range(-(-n_frames // chunk)):
        n = min(chunk, n_frames - c * chunk)
        parts.append(simulate_frames(cam, spec, true, n, seed, c * chunk))
    return cam, concat_frames(parts), measured


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="results/pixel_selection_study")
    parser.add_argument("--frames", type=int, default=960)
    parser.add_argument("--chunk", type=int, default=240)
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--camera", default="{}", help="JSON camera overrides")
    parser.add_argument("--settings", default="{}", help="JSON pixel_selection overrides")
    parser.add_argument("--tag", default="default")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--figures", action="store_true")
    parser.add_argument("--scan", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(1)

    from caloreco.imaging import pixel_selection as ps
    from caloreco.io.files import atomic_path
    from caloreco.nn.unet import save_unet

    out = Path(args.out) / args.tag
    out.mkdir(parents=True, exist_ok=True)
    camera = {"height": args.size, "width": args.size} | json.loads(args.camera)
    t0 = time.perf_counter()
    cam, frames, pedestal = simulate(camera, args.frames, args.chunk, args.seed)
    t_sim = time.perf_counter() - t0
    print(f"simulated {len(frames)} frames of {cam.height} x {cam.width} in {t_sim:.1f} s")
    settings = ps.pixel_selection_settings_from_config(json.loads(args.settings))
    t0 = time.perf_counter()
    metrics, art = ps.pixel_selection_analysis(
        frames,
        pedestal,
        settings,
        pixel_mm=cam.pixel_mm,
        seed=args.seed,
        device=args.device,
        log=lambda m: print(m, flush=True),
    )
    t_ana = time.perf_counter() - t0
    metrics["study"] = {
        "tag": args.tag,
        "camera": cam.to_dict(),
        "frames": len(frames),
        "seconds": {"simulate": t_sim, "analysis": t_ana},
        "load_average": os.getloadavg(),
    }
    with atomic_path(out / "metrics.json") as tmp:
        tmp.write_text(json.dumps(metrics, indent=1))
    art["clusters"].to_parquet(out / "clusters.parquet")
    art["recoils"].to_parquet(out / "recoils.parquet")
    np.savez_compressed(out / "examples.npz", **art["examples"])
    save_unet(
        out / "unet.pt",
        art["model"],
        {
            "camera": cam.to_dict(),
            "pixel_threshold": metrics["unet"]["pixel_threshold"],
            "point_threshold": metrics["unet"]["point_threshold"],
            "seed": args.seed,
        },
    )
    if args.scan:
        art["point_threshold"] = metrics["unet"]["point_threshold"]
        metrics["scan"] = scan(frames, pedestal, art, settings, cam.pixel_mm)
        with atomic_path(out / "metrics.json") as tmp:
            tmp.write_text(json.dumps(metrics, indent=1))
    if args.figures:
        from caloreco.plotting import pixel_selection as fig

        style = Path(__file__).resolve().parents[1] / "workflow/styles/thesis.mplstyle"
        fig.all_figures(out / "metrics.json", out / "examples.npz", out / "figures", style)
    summarise(metrics)


def scan(frames, pedestal, art, settings, pixel_mm) -> list[dict]:
    """The U-Net chain at other point thresholds and DBSCAN min_samples on the test frames."""
    import dataclasses

    from caloreco.imaging import pixel_selection as ps
    from caloreco.imaging.reco import LIME_DEFAULTS

    test = frames.select(np.isin(frames.event, art["test_events"]))
    prob = art["prob_test"].astype(np.float32)
    cp = ps.classical_points(test.image, pedestal, LIME_DEFAULTS)
    truth = {
        "events": test.event,
        "truth_light": test.truth_light,
        "truth_recoil": test.truth_recoil,
        "recoil_offsets": test.recoil_offsets,
        "recoils": test.recoils,
    }
    rows = []
    for method, thr in [("nsigma", None), ("unet", 0.2), ("unet", 0.3), ("unet", 0.5)] + [
        ("unet", 0.7)
    ]:
        for ms in (20, 10, 5):
            rs = dataclasses.replace(LIME_DEFAULTS, min_samples=ms)
            pts = cp["points"] if thr is None else ps.unet_points(prob, thr, 4, cp["spark"])
            res = ps.cluster_chain(pts, cp["weights"], cp["sub"], cp["zs"], rs, pixel_mm, **truth)
            status, rt = ps.cluster_outcomes(res.clusters, test.recoil_offsets, test.recoils)
            fr = res.clusters["frame"].to_numpy() if len(res.clusters) else np.zeros(0, int)
            m = ps.outcome_metrics(
                status, fr, rt, test.energy_kev, res.n_points, np.zeros(len(test))
            )
            row = {"method": method, "point_threshold": thr, "min_samples": ms}
            row["points"] = m["all"]["points_per_frame"]
            row["pedestal_fakes"] = m["pedestal"]["fakes_per_frame"]["value"]
            for e, v in m["per_energy"].items():
                row[f"eff_{e}"] = v["efficiency"]["value"]
                row[f"fakes_{e}"] = v["fakes_per_frame"]["value"]
            rows.append(row)
    # the integral footprint: the DBSCAN macro-pixels (sc_integral) grown by 0, 1, 2 rings
    thr = float(art["point_threshold"])
    for method in ("nsigma", "unet"):
        pts = cp["points"] if method == "nsigma" else ps.unet_points(prob, thr, 4, cp["spark"])
        for grow in (0, 1, 2):
            res = ps.cluster_chain(
                pts, cp["weights"], cp["sub"], cp["zs"], LIME_DEFAULTS, pixel_mm, grow, **truth
            )
            status, rt = ps.cluster_outcomes(res.clusters, test.recoil_offsets, test.recoils)
            fr = res.clusters["frame"].to_numpy() if len(res.clusters) else np.zeros(0, int)
            m = ps.outcome_metrics(
                status, fr, rt, test.energy_kev, res.n_points, np.zeros(len(test))
            )
            row = {"method": method, "point_threshold": thr, "grow": grow}
            for e, v in m["per_energy"].items():
                row[f"ratio_{e}"] = v["integral_ratio"]["mean"]
                row[f"std_{e}"] = v["integral_ratio"]["std"]
            rows.append(row)
    print("\n== integral footprint grown by 0 / 1 / 2 macro-pixel rings (test frames) ==")
    for r in rows[-6:]:
        print(
            f"{r['method']:7s} grow {r['grow']}: "
            + "  ".join(
                f"{k[6:]} keV {r[k]:.4f} +- {r['std_' + k[6:]]:.3f}"
                for k in r
                if k.startswith("ratio_")
            )
        )
    rows_ms = [r for r in rows if "min_samples" in r]
    print("\n== scan on the test frames (information only: no choice is made here) ==")
    keys = [k for k in rows_ms[0] if k not in ("method", "point_threshold", "min_samples")]
    print(f"{'method':7s} {'thr':>4s} {'ms':>3s} " + " ".join(f"{k:>11s}" for k in keys))
    for r in rows_ms:
        thr = "-" if r["point_threshold"] is None else f"{r['point_threshold']:.1f}"
        print(
            f"{r['method']:7s} {thr:>4s} {r['min_samples']:3d} "
            + " ".join(f"{r[k]:11.3f}" for k in keys)
        )
    return rows


def _eff(b):
    e = b["efficiency"]
    return f"{100 * e['value']:6.1f} +- {100 * e['err']:4.1f}"


def _fk(b):
    f = b["fakes_per_frame"]
    if f["count"] == 0:
        return f"  0 (<{f['upper_95']:.3f})"
    return f"{f['value']:.3f} +- {f['err']:.3f}"


def summarise(m: dict) -> None:
    px = m["pixels"]
    print(
        "\n== pixels (test frames; target: truth light > "
        f"{m['target']['noise_fraction']} x pedestal RMS) =="
    )
    u = px["unet"]
    print(
        f"U-Net (t = {u['threshold']:.3f}): precision {u['precision']:.4f} recall {u['recall']:.4f} "
        f"F1 {u['f1']:.4f} [{u['f1_ci'][0]:.4f}, {u['f1_ci'][1]:.4f}]"
    )
    for k, v in px["nsigma"].items():
        print(
            f"nsigma {k:>4s}: precision {v['precision']:.4f} recall {v['recall']:.4f} "
            f"F1 {v['f1']:.4f} [{v['f1_ci'][0]:.4f}, {v['f1_ci'][1]:.4f}]"
        )
    print(f"smart_random: F1 expected {px['smart_random']['f1_expected']:.5f}")
    for meth, v in m["clustering"]["methods"].items():
        p = v["pixels"]
        print(
            f"pixels in {meth:12s} clusters: precision {p['precision']:.4f} "
            f"recall {p['recall']:.4f} F1 {p['f1']:.4f}"
        )
    print("\n== clusters per energy (test frames) ==")
    methods = list(m["clustering"]["methods"])
    print(
        f"{'bin':>9s} {'method':12s} {'eff %':>14s} {'fakes/frame':>18s} {'ratio mean':>10s} "
        f"{'std':>6s} {'points':>7s} {'DBSCAN ms':>9s}"
    )
    for name in [*m["energies"], "multi_keV", "pedestal"]:
        for meth in methods:
            v = m["clustering"]["methods"][meth]
            b = v[name] if name in ("multi_keV", "pedestal") else v["per_energy"][name]
            eff = _eff(b) if "efficiency" in b else " " * 14
            r = b.get("integral_ratio", {})
            ratio = (
                f"{r.get('mean', float('nan')):10.4f} {r.get('std', float('nan')):6.3f}"
                if r
                else " " * 17
            )
            print(
                f"{name:>9s} {meth:12s} {eff} {_fk(b):>18s} {ratio} "
                f"{b['points_per_frame']:7.1f} {b['dbscan_ms_per_frame']:9.2f}"
            )
    print("\n== goals (U-Net chain against each classical chain, same test frames) ==")
    for ref, g in m["goals"].items():
        tag = lambda ok: "met" if ok else "MISSED"  # noqa: E731
        e = g.get("efficiency_1kev")
        if e:
            print(
                f"[{ref}] efficiency at 1 keV >= 99 %: {tag(e['met'])} "
                f"({100 * e['value']:.1f} +- {100 * e['err']:.1f} %; classical {100 * e['reference']:.1f} %)"
            )
            r = g["integral_ratio_1kev"]
            print(
                f"[{ref}] integral ratio at 1 keV within 2 %: {tag(r['met'])} "
                f"({r['value']:.4f} +- {r['err']:.4f}, spread {r['std']:.3f}; classical "
                f"{r['reference']:.4f}, spread {r['reference_std']:.3f})"
            )
        f = g["fewer_fakes_every_bin"]
        print(f"[{ref}] fewer fakes at equal or better efficiency in every bin: {tag(f['met'])}")
        for b, row in f["bins"].items():
            print(
                f"      {b:>9s}: fakes {row['fakes_unet']:.3f} vs {row['fakes_ref']:.3f}"
                + (
                    f", eff {row['efficiency_unet']:.3f} vs {row['efficiency_ref']:.3f}"
                    if "efficiency_unet" in row
                    else ""
                )
                + f" -> {tag(row['met'])}"
            )
        p, t = g["points_reduction"], g["dbscan_time_reduction"]
        print(
            f"[{ref}] DBSCAN points / 5: {tag(p['met'])} ({p['ref_points_per_frame']:.1f} -> "
            f"{p['unet_points_per_frame']:.1f} per frame, x{p['value']:.2f}); DBSCAN time / 5: "
            f"{tag(t['met'])} ({t['ref_ms_per_frame']:.2f} -> {t['unet_ms_per_frame']:.2f} ms "
            f"per frame, x{t['value']:.2f})"
        )
    tm = m["timing"]
    print(
        f"\nU-Net inference {tm['unet_inference_ms_per_frame']:.1f} ms per frame "
        f"({tm['device']}); {m['unet']['parameters']} parameters; trained "
        f"{len(m['unet']['history'])} epochs in {m['unet']['train_seconds']:.1f} s"
    )
    s = m["study"]
    print(
        f"seconds: simulate {s['seconds']['simulate']:.1f}, analysis {s['seconds']['analysis']:.1f} "
        f"({', '.join(f'{k} {v:.1f}' for k, v in tm['seconds'].items())}); "
        f"load average {s['load_average'][0]:.1f}"
    )


if __name__ == "__main__":
    main()
