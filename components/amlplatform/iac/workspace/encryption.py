"""Customer-managed keys: a key in the stack's key vault and the identity that uses it.

Sources: Azure ML "Customer-managed keys" (learn.microsoft.com/azure/machine-learning/
concept-customer-managed-keys: the vault needs soft delete and purge protection; the key can later
change only to another key in the same vault), Storage "Configure customer-managed keys for a new
account" (learn.microsoft.com/azure/storage/common/customer-managed-keys-configure-new-account:
the user-assigned identity needs Key Vault Crypto Service Encryption User before the account is
created, or the create fails).

Graph::

    key vault -> key -> role assignment (identity -> Key Vault Crypto Service Encryption User on the key)
    identity  ----------^
    role assignment -> storage account, workspace (they must not be created before the identity can use the key)
"""

from typing import Mapping, Optional, TypedDict

import pulumi
from pulumi_azure_native import keyvault, managedidentity
from typing_extensions import Required

from amlplatform.iac._base import check_args, child, defaults, token
from amlplatform.iac.access.access import assignment_guid, role_definition_id
from amlplatform.azure.roles import ROLES

CRYPTO_SERVICE_ENCRYPTION_USER = ROLES["Key Vault Crypto Service Encryption User"]
KEY_OPS = ["wrapKey", "unwrapKey"]  # all that encryption at rest uses


class CustomerManagedKeyArgs(TypedDict, total=False):
    resource_group_name: Required[pulumi.Input[str]]
    """Resource group of the key vault (and of the identity it creates)."""
    location: Required[pulumi.Input[str]]
    """Azure region of the identity."""
    vault_name: Required[pulumi.Input[str]]
    """Name of the key vault (an output of the vault, so the key waits for it)."""
    vault_id: Required[pulumi.Input[str]]
    """ARM id of the key vault."""
    subscription_id: Required[pulumi.Input[str]]
    """Subscription of the role definition."""
    key_name: str
    """Name of the key."""
    key_size: int
    """RSA key size: 2048, 3072 or 4096."""
    hsm: bool
    """An HSM-protected key (RSA-HSM); needs a premium vault."""
    identity_name: str
    """Physical name of the user-assigned identity it creates (unless existing_identity_id)."""
    existing_identity_id: str
    """Use this identity; it must already hold Key Vault Crypto Service Encryption User on the vault."""
    tags: Mapping[str, str]
    """Tags for the identity."""


# every default of CustomerManagedKeyArgs, written once (amlplatform.iac._base.defaults)
DEFAULTS = defaults(CustomerManagedKeyArgs, key_name="cmk-aml", key_size=3072, hsm=False)


class CustomerManagedKey(pulumi.ComponentResource):
    """An RSA key for encryption at rest, yearly rotation, and the identity allowed to use it."""

    key_name: pulumi.Output[str]
    """Name of the key."""
    key_uri: pulumi.Output[str]
    """URI of the key without version (storage follows its rotation)."""
    key_uri_with_version: pulumi.Output[str]
    """URI of the key's current version (the workspace's encryption names it)."""
    vault_uri: pulumi.Output[str]
    """URI of the vault that holds the key."""
    identity_id: pulumi.Output[str]
    """ARM id of the user-assigned identity that reads the key."""
    identity_client_id: pulumi.Output[Optional[str]]
    """Client id of the created identity (none with existing_identity_id)."""

    def __init__(self, name: str, args: CustomerManagedKeyArgs,
                 opts: Optional[pulumi.ResourceOptions] = None) -> None:
        check_args("CustomerManagedKey", args, CustomerManagedKeyArgs)
        super().__init__(token("CustomerManagedKey"), name, None, opts)
        size = args.get("key_size", DEFAULTS["key_size"])
        if size not in (2048, 3072, 4096):
            raise ValueError(f"{name}: key_size must be 2048, 3072 or 4096, got {size}")
        key = keyvault.Key(
            f"{name}-key",
            resource_group_name=args["resource_group_name"],
            vault_name=args["vault_name"],
            key_name=args.get("key_name", DEFAULTS["key_name"]),
            properties={
                "kty": "RSA-HSM" if args.get("hsm", DEFAULTS["hsm"]) else "RSA",
                "key_size": size,
                "key_ops": KEY_OPS,
                # a new version every year; storage follows the latest version itself (no keyVersion)
                "rotation_policy": {
                    "lifetime_actions": [{"action": {"type": "rotate"}, "trigger": {"time_after_create": "P1Y"}}],
                },
            },
            # ARM's "create if not exist" never updates an existing key (learn.microsoft.com/rest/api/
            # keyvault/keyvault/keys/create-if-not-exist): a change of its properties is declared as a
            # replacement so previews do not pretend an update; a different key needs a new key_name.
            # Keep the key when the stack forgets it: data encrypted with it stays readable.
            opts=child(self, retain_on_delete=True, replace_on_changes=["properties"]),
        )
        self.depends_on_access: list = []
        if args.get("existing_identity_id"):
            identity_id: pulumi.Input[str] = args["existing_identity_id"]
            client_id: pulumi.Input[Optional[str]] = None
        else:
            identity = managedidentity.UserAssignedIdentity(
                f"{name}-identity",
                resource_name_=args["identity_name"],
                resource_group_name=args["resource_group_name"],
                location=args["location"],
                tags=dict(args.get("tags") or {}),
                opts=child(self),
            )
            identity_id, client_id = identity.id, identity.client_id
            scope = pulumi.Output.from_input(args["vault_id"])
            subscription = pulumi.Output.from_input(args["subscription_id"])
            access = _key_access(self, f"{name}-key-access", scope=scope, principal_id=identity.principal_id,
                                 subscription=subscription)
            self.depends_on_access.append(access)
        self.key_name = key.name
        self.key_uri = key.key_uri
        self.key_uri_with_version = key.key_uri_with_version
        self.vault_uri = key.key_uri.apply(lambda uri: uri.split("/keys/", 1)[0] + "/" if uri else uri)
        self.identity_id = pulumi.Output.from_input(identity_id)
        self.identity_client_id = pulumi.Output.from_input(client_id)
        self.register_outputs({"key_uri": self.key_uri, "identity_id": self.identity_id})


def _key_access(parent: pulumi.Resource, name: str, *, scope: pulumi.Output[str], principal_id: pulumi.Input[str],
                subscription: pulumi.Output[str]):
    from pulumi_azure_native import authorization

    principal = pulumi.Output.from_input(principal_id)
    return authorization.RoleAssignment(
        name,
        scope=scope,
        principal_id=principal,
        principal_type="ServicePrincipal",
        role_definition_id=subscription.apply(lambda sub: role_definition_id(sub, CRYPTO_SERVICE_ENCRYPTION_USER)),
        role_assignment_name=pulumi.Output.all(scope, principal).apply(
            lambda sp: assignment_guid(sp[0], sp[1], CRYPTO_SERVICE_ENCRYPTION_USER)),
        description="encrypts the workspace and its storage with the customer-managed key",
        opts=child(parent),
    )
