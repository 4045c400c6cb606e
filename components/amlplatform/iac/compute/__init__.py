"""Compute clusters, compute instances and the environments they run."""
