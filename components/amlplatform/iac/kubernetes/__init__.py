"""Kubernetes inference: the AKS cluster, the Azure ML extension on it, and its attachment to the workspace."""
