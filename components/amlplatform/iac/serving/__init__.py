"""Online and batch endpoints with their deployments."""
