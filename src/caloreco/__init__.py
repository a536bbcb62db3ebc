"""caloreco: reproducible ML reconstruction for calorimeters.

Physics and ML as pure functions on arrays; the Snakemake workflow in the repository root wires
them into a cached DAG. Units everywhere: MeV, mm, ns, rad.
"""

__version__ = "0.1.0"
