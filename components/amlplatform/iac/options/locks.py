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

Every component that owns a lockable resource takes the same optional ``lock`` argument, a
:class:`LockSpec` (the AVM ``lockType`` shape, learned once), and calls :func:`apply_lock`.
"""

from enum import Enum
from typing import Optional, TypedDict

import pulumi
from pulumi_azure_native import authorization

from amlplatform.iac._base import child

LEVEL = "CanNotDelete"
DEFAULT_NOTES = "Holds the data of the Azure ML platform; remove this lock on purpose only"
MAX_NOTES = 512  # Microsoft.Authorization/locks: "notes ... maximum of 512 characters"


class LockKind(str, Enum):
    """Which management lock (AVM ``lockType.kind``). ``ReadOnly`` is not offered: it refuses the POST
    operations Azure ML relies on (listing storage keys, creating blob containers)."""
    CAN_NOT_DELETE = "CanNotDelete"
    """Nobody deletes the resource, or its child resources, until the lock is removed."""
    NONE = "None"
    """No lock (the same as leaving ``lock`` out)."""


class LockSpec(TypedDict, total=False):
    """A management lock on the component's main resource: the one shape every lockable component
    takes. Given, it means a ``CanNotDelete`` lock unless ``kind`` says ``None``."""
    kind: LockKind
    """CanNotDelete (when ``lock`` is given) or None."""
    notes: str
    """Shown on the lock, at most 512 characters."""


def lock_name(kind: str) -> str:
    """The lock's name on its resource: distinct per kind, so an ARM export (and a scanner that
    tells resources apart by type and name) sees every lock."""
    return f"do-not-delete-{kind}"


def lock(parent: pulumi.Resource, name: str, *, kind: str, resource_id: pulumi.Input[str],
         notes: str = DEFAULT_NOTES) -> authorization.ManagementLockByScope:
    """A ``CanNotDelete`` lock on ``resource_id``."""
    if len(notes) > MAX_NOTES:
        raise ValueError(f"{name}: lock notes must be at most {MAX_NOTES} characters")
    return authorization.ManagementLockByScope(
        name,
        scope=resource_id,
        lock_name=lock_name(kind),
        level=LEVEL,
        notes=notes,
        opts=child(parent),
    )


def apply_lock(parent: pulumi.Resource, name: str, spec: Optional[LockSpec], *, kind: str,
               resource_id: pulumi.Input[str]) -> Optional[authorization.ManagementLockByScope]:
    """The lock ``spec`` asks for on ``resource_id`` (none when ``spec`` is missing or its kind is
    ``None``); ``name`` is the lock resource's logical name, ``kind`` names the lock on its resource."""
    if spec is None or LockKind(spec.get("kind", LockKind.CAN_NOT_DELETE)) is LockKind.NONE:
        return None
    return lock(parent, name, kind=kind, resource_id=resource_id, notes=spec.get("notes") or DEFAULT_NOTES)
