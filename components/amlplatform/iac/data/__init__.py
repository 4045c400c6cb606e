"""Datastores: storage the workspace reads from and writes to, and who may use them."""
