"""The Azure ML workspace and what it depends on: storage, key vault, monitoring, registry, keys."""
