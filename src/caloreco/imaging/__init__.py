"""The ``camera_tpc`` imaging detector: a CYGNO-like optical TPC read out by an sCMOS camera.

Simulation: :mod:`.stopping` (energy loss in He:CF4), :mod:`.tracks` (ER / NR deposits),
:mod:`.camera` (detector parameters), :mod:`.pedestal` (pedestal maps and frames),
:mod:`.digitise` (CYGNO's digitisation chain), :mod:`.simulate` (frames of a run).
Data: :mod:`.frames` (frames in memory), :mod:`.rawio` (the raw image contract on disk),
:mod:`.cygno` (CYGNO's ROOT histogram format), :mod:`.chunks` (chunk-level entry points).
Reconstruction and analysis: :mod:`.reco` (CYGNO's classical chain), :mod:`.regions` (regions of
interest), :mod:`.metrics` (figures of merit), :mod:`.anomaly` (the pedestal-trained autoencoder
analysis). Energies in keV inside this package (files say so), lengths in mm, intensities in
camera counts.
"""
