"""The one name and colour of each estimator, classifier, clustering method and dataset.

Every legend, table and notebook uses :func:`label` and :func:`color`, so a method is called and
drawn the same way everywhere.
"""

from __future__ import annotations

__all__ = [
    "LABELS",
    "COLORS",
    "DATASET_LABELS",
    "MODEL_ESTIMATOR",
    "PIXEL_SELECTION_METHODS",
    "label",
    "color",
    "dataset_label",
]

#: the one name of each estimator / classifier / clustering method, used in every legend
LABELS: dict[str, str] = {
    # ECAL regression estimators
    "nn": "NN (this work)",
    "nn_abspos": "NN + absolute position",
    "log_cog": "log-weighted CoG",
    "profile_fit": "Lednev profile fit",
    # CALIFA pair classifiers
    "nn_tiny": "tiny NN (published model)",
    "smart_random": "smart random",
    "gradient_boosting": "gradient boosting",
    "cut": "angle + time cut",
    # clustering methods
    "connected": "connected cells",
    "cone": "R3B cone",
    "agglomerative": "agglomerative",
    "cone+nn": "R3B cone + NN merge",
    "agglomerative+nn": "agglomerative + NN merge",
    # imaging (camera_tpc): the pedestal-trained autoencoder and the classical chain
    "autoencoder": "conv. autoencoder (pedestal frames)",
    "cygno": "CYGNO reco (DBSCAN)",
    # imaging: the pixel selections in front of the same DBSCAN (clustering method unet)
    "nsigma": r"$n\sigma$ + filters (LIME)",
    "unet": "U-Net (LIME DBSCAN)",
    "unet_relaxed": "U-Net (LIME DBSCAN, lower min_samples)",
    "nsigma_talk": r"$n\sigma$ 0.2 + filters (talk)",
    "unet_talk": "U-Net (talk DBSCAN)",
    # CALIFA hit-level attribution (clustering methods and the hit-level baseline)
    "pointnet": "point-cloud NN + peeling",
    "slots": "slot attention",
    "majority": "majority per focal hit",
    # ECAL stage 4 (two photons): coral's fit, forced to two showers, the local-maximum count
    "fit": "coral two-shower fit",
    "fit_forced": "two-shower fit, always two",
    "local_maxima": "local maxima",
    "photon_counter": "NN photon counter",
    "two_photon_regressor": "NN two-photon regressor",
}

_PETROFF = ["#5790fc", "#f89c20", "#e42536", "#964a8b", "#9c9ca1", "#7a21dd"]

#: one colour per name (within a figure family no two names share a colour)
COLORS: dict[str, str] = {
    "nn": "#e42536",
    "nn_abspos": "#964a8b",
    "log_cog": "#5790fc",
    "profile_fit": "#f89c20",
    "nn_tiny": "#f89c20",
    "gradient_boosting": "#964a8b",
    "cut": "#5790fc",
    "smart_random": "#9c9ca1",
    "connected": "#5790fc",
    "cone": "#5790fc",
    "agglomerative": "#f89c20",
    "cone+nn": "#964a8b",
    "agglomerative+nn": "#e42536",
    "autoencoder": "#e42536",
    "cygno": "#964a8b",
    "nsigma": "#5790fc",
    "unet": "#7a21dd",
    "unet_relaxed": "#9c9ca1",
    "nsigma_talk": "#f89c20",
    "unet_talk": "#964a8b",
    "pointnet": "#7a21dd",
    "slots": "#9c9ca1",
    "majority": "#f89c20",
    "fit": "#f89c20",
    "fit_forced": "#5790fc",
    "local_maxima": "#9c9ca1",
    "photon_counter": "#5790fc",
    "two_photon_regressor": "#e42536",
}

#: the chains of the pixel-selection comparison (pixel_selection.json), in legend order
PIXEL_SELECTION_METHODS = ("nsigma", "unet", "unet_relaxed", "nsigma_talk", "unet_talk")

#: the estimator a trained model file stands for (loss curves)
MODEL_ESTIMATOR: dict[str, str] = {
    "regressor": "nn",
    "regressor_abspos": "nn_abspos",
    "pair_classifier": "nn",
    "pair_tiny": "nn_tiny",
    "autoencoder": "autoencoder",
    "unet": "unet",
    "attribution": "pointnet",
    "slots": "slots",
    "photon_counter": "photon_counter",
    "two_photon_regressor": "two_photon_regressor",
}

#: short descriptions of the default datasets (others are shown by their key)
DATASET_LABELS: dict[str, str] = {
    "ecal_stage1": "ECAL, 140 GeV photons, perpendicular",
    "ecal_stage2": "ECAL, 2-200 GeV photons, perpendicular",
    "ecal_stage3": "ECAL, 2-200 GeV photons from the target",
    "ecal_stage4": r"ECAL, $\pi^0 \to \gamma\gamma$ of 40-250 GeV and single photons",
    "califa_2p1": r"CALIFA, 3 $\gamma$ of 2.1 MeV",
    "califa_uniform": r"CALIFA, 3 $\gamma$ of 0.3-10 MeV",
}


def label(name: str) -> str:
    """The legend name of an estimator, classifier or method (the key itself if unknown)."""
    return LABELS.get(name, name)


def color(name: str, fallback_index: int = 0) -> str:
    """The colour of an estimator, classifier or method (a palette colour if unknown)."""
    return COLORS.get(name, _PETROFF[fallback_index % len(_PETROFF)])


def dataset_label(dataset: str) -> str:
    """A short description of a dataset for figure annotations (the key if unknown)."""
    return DATASET_LABELS.get(dataset, dataset)
