"""Customer-managed keys: the one shape every component that encrypts with a key takes.

:class:`CustomerManagedKeySpec` is AVM's ``customerManagedKeyType`` in this package's names: the vault,
the key, and the user-assigned identity that reads it. The ``CustomerManagedKey`` component
(:mod:`amlplatform.iac.workspace.encryption`) makes a key and an identity and gives every value here;
a key made elsewhere fills it by hand. Each component reads what its service asks for: storage names
the key without a version and follows its rotation ("Customer-managed keys for Azure Storage
encryption": "automatic updating of the key version"); the workspace names one key version
(Workspaces REST API ``encryption.keyVaultProperties.keyIdentifier``).
"""

from typing import List, TypedDict

import pulumi
from typing_extensions import Required


class CustomerManagedKeySpec(TypedDict, total=False):
    """A customer-managed key in a key vault and the user-assigned identity that reads it."""
    key_vault_id: Required[pulumi.Input[str]]
    """ARM id of the vault that holds the key."""
    key_vault_uri: Required[pulumi.Input[str]]
    """URI of that vault (https://<name>.vault.azure.net/)."""
    key_name: Required[pulumi.Input[str]]
    """Name of the key."""
    key_uri_with_version: pulumi.Input[str]
    """URI of the key version to use, where the service names one version (the workspace)."""
    identity_id: Required[pulumi.Input[str]]
    """ARM id of the user-assigned identity that holds Key Vault Crypto Service Encryption User on
    the key."""
    identity_client_id: pulumi.Input[str]
    """Client id of that identity (the workspace passes it to its services)."""


def missing_for(component: str, spec: CustomerManagedKeySpec, *fields: str) -> List[str]:
    """Problems for fields a component's service needs that ``spec`` leaves out."""
    return [f"args.customer_managed_key.{f}: is required by {component}" for f in fields if spec.get(f) is None]
