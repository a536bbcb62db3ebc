"""Torch networks (new networks of the imaging analyses live here)."""
