"""How network isolation of a workspace carries over to what it depends on (pure).

Written once here and used by the components (their defaults), the settings (derived values in
error messages) and the deployability rules:

* A resource is made private (public network access Disabled) by default only when something
  reaches it privately (a private endpoint): a private resource nobody can reach is a broken
  deployment, not a secure one.
* With a workspace **managed network**, the workspace's computes reach its storage account, key
  vault and registry through private endpoints Azure adds to the managed network itself
  ("Under AllowOnlyApprovedOutbound ... private endpoints to the workspace's storage, key vault and
  registry are added by Azure", learn.microsoft.com/azure/machine-learning/how-to-managed-network,
  "Required rules"), so their firewalls can deny by default. Without one, computes reach them over
  public endpoints: the firewall allows by default (trusted Azure services bypass it either way).
* The dependencies' public network access follows the workspace's.
"""

from typing import Dict

# Defaults of the Workspace component (and of the stack settings' workspace block)
DEFAULT_MANAGED_NETWORK = "AllowInternetOutbound"


def public_access_default(private_path: bool) -> str:
    """``public_network_access`` of a resource when not given: Disabled only with a private path."""
    return "Disabled" if private_path else "Enabled"


def firewall_default(private_path: bool) -> str:
    """A firewall's default action when not given: Deny only with a private path (else Allow)."""
    return "Deny" if private_path else "Allow"


def dependency_network(managed_network: str, workspace_public_network_access: str) -> Dict[str, str]:
    """``network_default_action`` and ``public_network_access`` of the workspace's storage account
    and key vault, derived from the workspace's isolation (see the module docstring)."""
    return {"network_default_action": "Allow" if managed_network == "Disabled" else "Deny",
            "public_network_access": workspace_public_network_access}


__all__ = ["DEFAULT_MANAGED_NETWORK", "public_access_default", "firewall_default", "dependency_network"]
