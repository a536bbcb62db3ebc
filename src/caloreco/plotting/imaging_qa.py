"""The QA figure of an imaging (camera TPC) dataset: example frames, the pedestal RMS map, the light
yield per keV and the spot size of point-like recoils against the diffusion law."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from caloreco.imaging.pedestal import PedestalMaps
from caloreco.imaging.qa import spot_variance
from caloreco.io.files import atomic_path

__all__ = ["plot_image_qa"]

_KIND_COLORS = {"ER": "#5790fc", "NR": "#e42536"}


def _no_truth(ax, text: str = "no simulation truth") -> None:
    ax.text(0.5, 0.5, text, transform=ax.transAxes, ha="center", va="center")
    ax.set_xticks([])
    ax.set_yticks([])


def plot_image_qa(
    summary: Mapping[str, Any],
    stats: Mapping[str, np.ndarray],
    example: np.ndarray,
    example_title: str,
    pedestal: PedestalMaps,
    dataset: str,
    outputs: Sequence[str | os.PathLike],
    true_pedestal: PedestalMaps | None = None,
) -> None:
    """QA figure: one pedestal-subtracted example frame, the per-pixel pedestal RMS (measured and
    true), counts per keV vs visible energy per recoil kind with CYGNO's ~2000, and the squared
    spot size of recoils <= 1 keV vs drift distance with the diffusion law.

    Args:
        summary: the dataset's simulation.json (:func:`caloreco.imaging.qa.summarize_images`).
        stats: :func:`caloreco.imaging.qa.combine_image_stats` of the dataset.
        example: one raw frame (H, W) to show; example_title: its caption.
        pedestal: measured maps; true_pedestal: the simulation's true maps.
        outputs: ``.png`` / ``.pdf`` paths.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    pixel_mm = float(summary.get("pixel_mm", 0.152))
    fig, axes = plt.subplots(2, 2, figsize=(10, 8.5), layout="constrained")
    ax = axes[0, 0]
    sub = np.asarray(example, np.float32) - pedestal.mean
    h, w = sub.shape
    im = ax.imshow(
        sub,
        origin="lower",
        extent=(0, w * pixel_mm, 0, h * pixel_mm),
        vmin=-3 * float(np.median(pedestal.rms)),
        vmax=max(float(np.percentile(sub, 99.9)), 10.0),
        cmap="viridis",
        interpolation="nearest",
    )
    ax.set_title(example_title, fontsize=9)
    ax.set_xlabel("x [mm]")
    ax.set_ylabel("y [mm]")
    fig.colorbar(im, ax=ax, label="pedestal-subtracted [counts]")

    ax = axes[0, 1]
    rms = np.asarray(pedestal.rms, np.float64).ravel()
    edges = np.linspace(0, np.quantile(rms, 0.999) * 1.3, 80)
    ax.hist(rms, bins=edges, histtype="step", label=f"measured ({pedestal.n_frames} frames)")
    if true_pedestal is not None:
        ax.hist(np.asarray(true_pedestal.rms).ravel(), bins=edges, histtype="step", label="true")
    ax.set_yscale("log")
    ax.set_xlabel("pedestal RMS per pixel [counts]")
    ax.set_ylabel("pixels / bin")
    ax.legend(fontsize=8)

    ax = axes[1, 0]
    yield_ = summary.get("counts_per_kev")
    if not yield_:
        _no_truth(ax)
    else:
        for kind, per in yield_.get("per_energy", {}).items():
            e = np.array([float(k) for k in per])
            v = np.array([per[k]["mean"] for k in per])
            err = np.array([per[k]["err"] for k in per], float)
            ax.errorbar(e, v, yerr=err, marker="o", color=_KIND_COLORS.get(kind), label=kind)
        if not yield_.get("per_energy"):  # a continuous spectrum: the recoils themselves
            ok = stats["energy_kev"] > 0
            for kind, code in (("ER", 1), ("NR", 2)):
                m = ok & (stats["kind"] == code)
                ax.plot(
                    stats["energy_kev"][m],
                    stats["light"][m] / stats["energy_kev"][m],
                    ".",
                    ms=2,
                    color=_KIND_COLORS[kind],
                    label=kind,
                )
        ref = summary.get("light_yield_reference", {}).get("mc_counts_per_kev", 2000.0)
        ax.axhline(ref, color="0.5", ls="--", lw=0.8, label=f"CYGNO MC {ref:g}")
        ax.set_xscale("log")
        ax.set_xlabel("visible energy [keV]")
        ax.set_ylabel("camera counts per keV")
        ax.legend(fontsize=8)

    ax = axes[1, 1]
    spot = summary.get("spot_sigma")
    if not spot or "sigma_mm" not in stats:
        _no_truth(ax)
    else:
        e, z = stats["energy_kev"], stats["z_mm"]
        v = spot_variance(stats, pixel_mm)
        m = (e > 0) & (e <= spot["max_energy_kev"]) & np.isfinite(v)
        ax.plot(z[m], v[m], ".", ms=3, label="recoils (truth light)")
        zz = np.linspace(0, max(float(z.max(initial=1.0)), 1.0), 50)
        law = spot["law"]
        ax.plot(
            zz,
            law["t0_mm2"] + law["t_mm2_per_cm"] * zz / 10,
            "k-",
            lw=1,
            label=r"law $0.1225 + 0.01232\,z$[cm] mm$^2$",
        )
        if "t0_mm2" in spot:
            ax.plot(
                zz,
                spot["t0_mm2"] + spot["t_mm2_per_cm"] * zz / 10,
                "--",
                color="#e42536",
                lw=1,
                label=f"fit {spot['t0_mm2']:.3f} + {spot['t_mm2_per_cm']:.4f} z",
            )
        ax.set_xlabel("drift distance z [mm]")
        ax.set_ylabel(r"$(\sigma^2 - p^2/12) / (1 - 2/N_e)$ [mm$^2$]")
        ax.set_title(f"spots <= {spot['max_energy_kev']:g} keV", fontsize=9)
        ax.legend(fontsize=8)
    fig.suptitle(
        f"{dataset}: image QA ({summary.get('frames', '?')} frames of {h} x {w} px, "
        f"noise {summary.get('noise_sigmas', {}).get('mean', float('nan')):.3f} sigma)"
    )
    for path in outputs:
        with atomic_path(path) as tmp:
            fig.savefig(tmp, dpi=110, format=str(path).rsplit(".", 1)[-1])
    plt.close(fig)
