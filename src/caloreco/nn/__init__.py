"""Torch networks."""
