"""Management locks: ``CanNotDelete`` on the resources that hold a stack's data.

``protect`` stops Pulumi from deleting a resource; a management lock stops everyone (the portal,
the CLI, another pipeline, a resource group deletion) until someone allowed to manage locks
(Owner, User Access Administrator) removes it on purpose
(learn.microsoft.com/azure/azure-resource-manager/management/lock-resources).

What a lock also does, documented there: it applies to child resources, so a lock on the
workspace also refuses the deletion of its computes through Resource Manager (removing a compute,
or replacing a compute instance, needs the workspace lock lifted for that deploy); it does not
protect data-plane operations (blobs, secrets). ``ReadOnly`` locks are not offered: they refuse
the POST operations Azure ML relies on (listing storage keys, creating blob containers).

Every component that owns a lockable resource takes the same optional ``lock`` argument and
calls :func:`lock` (the AVM ``lock`` shape, learned once).
"""

import pulumi
from pulumi_azure_native import authorization

from amlplatform.iac._base import child

LEVEL = "CanNotDelete"
DEFAULT_NOTES = "Holds the data of the Azure ML platform; remove this lock on purpose only"


def lock_name(kind: str) -> str:
    """The lock's name on its resource: distinct per kind, so an ARM export (and a scanner that
    tells resources apart by type and name) sees every lock."""
    return f"do-not-delete-{kind}"


def lock(parent: pulumi.Resource, name: str, *, kind: str, resource_id: pulumi.Input[str],
         notes: str = DEFAULT_NOTES) -> authorization.ManagementLockByScope:
    """A ``CanNotDelete`` lock on ``resource_id``."""
    if len(notes) > 512:
        raise ValueError(f"{name}: lock notes must be at most 512 characters")
    return authorization.ManagementLockByScope(
        name,
        scope=resource_id,
        lock_name=lock_name(kind),
        level=LEVEL,
        notes=notes,
        opts=child(parent),
    )
