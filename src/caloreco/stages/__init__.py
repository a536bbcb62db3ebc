"""Workflow stages: one module per rule, named as the rule, with one entry point ``run``.

A stage reads its input paths, calls the domain code, logs progress and writes its outputs
atomically; it holds no physics. The scripts under ``workflow/scripts`` only unpack the
``snakemake`` object and call ``run``, so every stage can be run and tested without Snakemake,
and a rule's code hash is the import closure of its stage module (:mod:`caloreco.provenance`).
"""
