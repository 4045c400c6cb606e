"""Cross-cutting options every component takes in one shape: locks, diagnostic settings."""
