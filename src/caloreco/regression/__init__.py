"""ECAL photon regression: windows around cluster seeds (:mod:`.windows`), the classical
estimators (the log-weighted centre of gravity :mod:`.log_cog`, containment energy
:mod:`.energy`, the Lednev profile :mod:`.lednev` and coral's profile fit :mod:`.profile_fit`,
the shower-depth correction :mod:`.depth`), the network's inputs (:mod:`.inputs`) and training
(:mod:`.regressor`), and the resolution evaluation (:mod:`.evaluation`)."""
