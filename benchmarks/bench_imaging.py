"""Camera TPC: simulation frames/s, and autoencoder inference frames/s against the classical chain.

Usage: python benchmarks/bench_imaging.py [--out results/benchmarks/imaging.json]
    [--frames 96] [--size 256] [--repeat 2] [--device cpu]

All rows are measured in the same run on the same frames (``size`` x ``size`` crops of the
default spectrum: 0.25-20 keV ER and NR, 25 % empty frames), one core:

* ``simulation``: :func:`caloreco.imaging.simulate.simulate_frames` (tracks, digitisation with
  GEM saturation, pedestal noise), frames per second;
* ``classical_chain``: :func:`caloreco.imaging.reco.reconstruct` (spark veto, pedestal
  subtraction, zero suppression, median filter, rebin, noise filter, DBSCAN, cluster table);
* ``autoencoder``: normalisation plus the default autoencoder's reconstruction (untrained: speed
  does not depend on the weights), ``autoencoder_localised``: the same plus the error map's
  Gaussian windows (what the anomaly analysis thresholds), and ``autoencoder_fast``: the
  ``fast=True`` design without full-resolution convolutions.

CYGNO quotes about 25 ms per 2304^2 frame on a consumer GPU for their autoencoder; the rows here
are per 256^2 crop on one CPU core (and on the GPU when ``--device cuda`` and one is present).
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


def best_rate(fn, n: int, repeat: int):
    best, result = np.inf, None
    for _ in range(repeat):
        t0 = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - t0)
    return n / best, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="results/benchmarks/imaging.json")
    parser.add_argument("--frames", type=int, default=96)
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    torch.set_num_threads(1)

    from caloreco.imaging.anomaly import localised_score, normalise
    from caloreco.imaging.camera import CameraTPC
    from caloreco.imaging.reco import reconstruct
    from caloreco.imaging.simulate import RecoilSpec, simulate_camera, simulate_frames
    from caloreco.nn.autoencoder import AutoencoderConfig, ConvAutoencoder, reconstruct_frames
    from caloreco.nn.training import select_device

    cam = CameraTPC(height=args.size, width=args.size)
    spec = RecoilSpec()
    true, meas = simulate_camera(cam, seed=1, n_pedestal_frames=50)
    simulate_frames(cam, spec, true, 4, seed=1)  # compile the numba kernels
    rate_sim, frames = best_rate(
        lambda: simulate_frames(cam, spec, true, args.frames, seed=1), args.frames, args.repeat
    )
    reconstruct(frames.image[:4], meas)  # compile the noise filter
    rate_reco, _ = best_rate(
        lambda: reconstruct(frames.image, meas, pixel_mm=cam.pixel_mm), args.frames, args.repeat
    )
    cfg = AutoencoderConfig()
    dev = select_device(args.device)
    model = ConvAutoencoder(cfg.channels, cfg.latent, cfg.fast).to(dev).eval()
    fast = ConvAutoencoder(cfg.channels, cfg.latent, fast=True).to(dev).eval()

    def ae():
        _, z = normalise(frames.image, meas)
        return z - reconstruct_frames(model, z, cfg.clip, device=dev)

    def ae_local():
        return localised_score(ae(), (1.0, 2.0, 4.0), (1.0, 1.0, 1.0))

    def ae_fast():
        _, z = normalise(frames.image, meas)
        return z - reconstruct_frames(fast, z, cfg.clip, device=dev)

    ae()
    ae_fast()
    rate_ae, _ = best_rate(ae, args.frames, args.repeat)
    rate_fast, _ = best_rate(ae_fast, args.frames, args.repeat)
    rate_loc, _ = best_rate(ae_local, args.frames, args.repeat)
    result = {
        "frames": args.frames,
        "image": [args.size, args.size],
        "device": str(dev),
        "threads": 1,
        "simulation_frames_per_second": rate_sim,
        "classical_chain_frames_per_second": rate_reco,
        "autoencoder_frames_per_second": rate_ae,
        "autoencoder_localised_frames_per_second": rate_loc,
        "autoencoder_fast_frames_per_second": rate_fast,
        "ratio_autoencoder_over_classical": rate_ae / rate_reco,
        "ratio_autoencoder_localised_over_classical": rate_loc / rate_reco,
        "autoencoder_config": {"channels": list(cfg.channels), "latent": cfg.latent},
        "ratio_autoencoder_fast_over_classical": rate_fast / rate_reco,
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    print(f"{'row':<26} {'frames/s':>10} {'ms/frame':>10}")
    for k in (
        "simulation",
        "classical_chain",
        "autoencoder",
        "autoencoder_localised",
        "autoencoder_fast",
    ):
        r = result[f"{k}_frames_per_second"]
        print(f"{k:<26} {r:>10.1f} {1000 / r:>10.1f}")
    print(
        f"autoencoder / classical chain: {result['ratio_autoencoder_over_classical']:.2f} "
        f"(localised: {result['ratio_autoencoder_localised_over_classical']:.2f})"
    )


if __name__ == "__main__":
    main()
