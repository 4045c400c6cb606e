"""Protection of the data a stack holds: customer-managed keys, management locks, soft delete.

* Customer-managed keys (learn.microsoft.com/azure/machine-learning/concept-customer-managed-keys):
  a key in the stack's key vault, a user-assigned identity holding Key Vault Crypto Service
  Encryption User on the vault, the workspace and the storage account encrypted with it. The
  vault must have soft delete and purge protection (deployability rule AMLD-012). A workspace's
  encryption is create-only: turning it on or off means a new workspace.
* Management locks (learn.microsoft.com/azure/azure-resource-manager/management/lock-resources):
  ``CanNotDelete`` on storage, key vault and workspace. ``protect`` stops Pulumi; a lock stops
  everyone (portal, CLI, another pipeline). ``ReadOnly`` is not offered: it blocks the POST
  operations Azure ML needs (listing keys, creating computes).
* Soft delete: see :func:`after_destroy_steps`.

Declares no resources; the defaults are the components' own (amlplatform.iac._base.defaults).
"""

import re
from typing import List, Literal, Optional

from pydantic import Field, field_validator
from typing_extensions import Annotated

from amlplatform.iac.options.locks import DEFAULT_NOTES, MAX_NOTES
from amlplatform.iac.workspace.encryption import DEFAULTS as CMK
from amlplatform.spec.core import Model, arm_id

_KEY_NAME = re.compile(r"^[0-9A-Za-z-]{1,127}$")  # Key Vault object names


class EncryptionSettings(Model):
    """Customer-managed keys for the workspace and its storage account (opt-in)."""

    customer_managed_key: bool = Field(
        False, description="Encrypt the workspace and its storage account with a key in the stack's key vault. "
        "Create-only on the workspace: changing it later means a new workspace")
    key_name: str = Field(CMK["key_name"], description="Name of the key in the key vault (1-127 letters, digits, -)")
    key_size: Literal[2048, 3072, 4096] = Field(CMK["key_size"], description="RSA key size in bits")
    identity_id: Annotated[
        Optional[str], arm_id("Microsoft.ManagedIdentity/userAssignedIdentities")] = Field(
        None, description="Use this existing user-assigned identity for the key instead of creating one; it must "
        "already hold Key Vault Crypto Service Encryption User on the vault")

    @field_validator("key_name")
    @classmethod
    def _key_name(cls, value: str) -> str:
        if not _KEY_NAME.match(value):
            raise ValueError("must be 1-127 letters, digits and hyphens (a Key Vault key name)")
        return value


class LocksSettings(Model):
    """Management locks (CanNotDelete) on the resources that hold data."""

    @field_validator("resources")
    @classmethod
    def _distinct(cls, value: List[str]) -> List[str]:
        repeated = sorted({r for r in value if value.count(r) > 1})
        if repeated:
            raise ValueError(f"repeats {', '.join(repeated)}")
        return value

    enabled: bool = Field(
        False, description="CanNotDelete locks on the storage account, key vault, Log Analytics workspace and "
        "workspace: nobody deletes them (portal, CLI, pipelines) until the lock is removed. In addition to protect, "
        "which only stops Pulumi")
    resources: List[Literal["storage", "key_vault", "log_analytics", "workspace"]] = Field(
        default_factory=lambda: ["storage", "key_vault", "log_analytics", "workspace"],
        description="Which resources get a lock. The Log Analytics workspace holds every resource's logs (the "
        "audit trail). A lock on the workspace also refuses deleting its computes through Resource Manager (locks "
        "apply to child resources)")
    notes: str = Field(DEFAULT_NOTES, max_length=MAX_NOTES, description="Shown on each lock (at most 512 characters)")


def after_destroy_steps(*, key_vault_name: str, workspace_name: str, resource_group: str, location: str,
                        purge_protection: bool, retention_days: int, protected: bool, locked: bool) -> List[str]:
    """What a user does so that ``pulumi destroy`` then ``pulumi up`` works, for one stack.

    Azure keeps a deleted key vault (7-90 days, ``soft_delete_retention_days``) and a deleted
    workspace (14 days) soft-deleted, and their names stay taken: the next ``pulumi up`` with the
    same deterministic names fails unless the old ones are recovered or purged
    (learn.microsoft.com/azure/key-vault/general/soft-delete-overview,
    learn.microsoft.com/azure/machine-learning/concept-soft-delete). Names never change by
    themselves (naming.seed is stable), so the choice is explicit: purge (throwaway stacks, only
    possible without purge protection) or recover (any stack; keeps secrets and keys).
    """
    steps: List[str] = []
    if protected or locked:
        what = " and ".join(x for x in ("protect: true" if protected else "",
                                        "locks.enabled: true" if locked else "") if x)
        steps.append(f"This stack has {what}: `pulumi destroy` refuses to delete the storage account, key vault "
                     "and workspace. Lift them on purpose first (a prod stack should never need to).")
    steps.append(f"Workspace {workspace_name}: before `pulumi destroy`, delete it permanently so its name is free at "
                 f"once: `az ml workspace delete -n {workspace_name} -g {resource_group} --permanently-delete "
                 "--yes`; otherwise it stays soft-deleted for 14 days (recover it in the studio, or purge it "
                 "there) and the next `pulumi up` fails on the name.")
    if purge_protection:
        steps.append(f"Key vault {key_vault_name}: purge protection is on, so after `pulumi destroy` it cannot be "
                     f"purged for {retention_days} days. To deploy again with the same name, recover it: set "
                     "key_vault.create_mode: recover for the next `pulumi up` (it restores the vault with its keys "
                     "and secrets), then set it back to default.")
    else:
        steps.append(f"Key vault {key_vault_name}: after `pulumi destroy` it stays soft-deleted for {retention_days} "
                     f"days and keeps its name. Purge it before the next `pulumi up`: `az keyvault purge -n "
                     f"{key_vault_name} -l {location}` (or recover it with key_vault.create_mode: recover).")
    return steps


__all__ = ["EncryptionSettings", "LocksSettings", "after_destroy_steps"]
