"""Torch networks (:mod:`.nets`) and the generic, deterministic training loop (:mod:`.training`)."""
