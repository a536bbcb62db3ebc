"""The case A/B cluster-pair analysis: features and labels (:mod:`.features`), the classifier's
training (:mod:`.training`), its baselines (:mod:`.baselines`) and evaluation (:mod:`.evaluation`),
and the merging of pre-clusters along accepted pairs (:mod:`.merging`)."""
