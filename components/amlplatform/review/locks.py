"""Which change of a plan diff a management lock refuses, and how to make it anyway.

A ``CanNotDelete`` lock "can't be deleted" and applies to everything below it: "When you apply a lock
at a parent scope, all resources within that scope inherit the same lock"; "Extension resources
inherit locks from the resource they're applied to" (a diagnostic setting on a locked storage
account cannot be deleted); "A cannot-delete lock on a resource or resource group prevents the
deletion of Azure RBAC assignments" (learn.microsoft.com/azure/azure-resource-manager/management/
lock-resources, "Lock inheritance", "Considerations before applying your locks"). Modifications stay
allowed. So with the workspace locked (prod: ``amlplatform:locks``), every change that *deletes*
something at or below the workspace's id fails with ``ScopeLocked``: a replaced compute instance
(any change to one is create-only), a compute whose VM size changes, a removed online deployment,
endpoint, datastore or environment version, a role assignment on the workspace that goes away;
below the storage account: a removed blob container, a replaced diagnostic setting.

:func:`locked_changes` finds them in a :class:`amlplatform.review.diff.PlanDiff`: every replace or
remove whose resource id lies at or under the scope of a lock of either plan (a lock the change adds
is created early in the same deploy and blocks the delete just as well). Each names the lock and the
commands: lift it (``az lock delete --ids``: needs ``Microsoft.Authorization/locks/*``, held by
Owner and User Access Administrator), deploy that change alone, then a refreshed ``pulumi up``
re-creates the lock, which the stack still declares.
"""

from dataclasses import asdict, dataclass
from typing import Any, Dict, List, Mapping, Optional

from amlplatform.offline import armtypes

LOCK = "azure-native:authorization:ManagementLockByScope"
DOC = "https://learn.microsoft.com/azure/azure-resource-manager/management/lock-resources"
BLOCKING_LEVELS = ("CanNotDelete", "ReadOnly")  # both refuse a delete
_SUBSCRIPTION = "00000000-0000-0000-0000-000000000000"  # both plans are offline plans (offline.engine)


@dataclass
class LockedChange:
    """A replace or remove that a lock refuses (``ScopeLocked``) until the lock is lifted."""

    resource: str  # logical name
    type: str
    action: str  # replace | remove
    urn: str
    resource_id: str
    lock: str  # the lock's logical name
    lock_id: str
    lock_scope: str
    level: str

    @property
    def message(self) -> str:
        what = "replacing" if self.action == "replace" else "removing"
        below = "is" if self.resource_id.rstrip("/").lower() == self.lock_scope.rstrip("/").lower() else "is under"
        return (f"{what} {self.resource} deletes it, and it {below} the {self.level} lock {self.lock} on "
                f"{_tail(self.lock_scope)}: Azure refuses the delete (ScopeLocked) until the lock is lifted")

    def commands(self, stack: str) -> List[str]:
        return [f"az lock delete --ids {self.lock_id}",
                f"pulumi up --stack {stack} --target '{self.urn}' --target-dependents",
                f"pulumi up --stack {stack} --refresh   # re-creates the lock {self.lock}"]

    def to_dict(self) -> Dict[str, Any]:
        return {**asdict(self), "message": self.message, "doc": DOC}


def _tail(arm_id: str) -> str:
    parts = arm_id.rstrip("/").split("/")
    return "/".join(parts[-2:]) if len(parts) >= 2 else arm_id


def _id(res: Mapping[str, Any]) -> Optional[str]:
    """A recorded resource's ARM id: from its type's id template (stable across both offline plans),
    else the id the plan recorded."""
    arm = armtypes.lookup(str(res.get("type", "")))
    if arm is not None:
        rid = arm.resource_id(res.get("inputs") or {}, _SUBSCRIPTION)
        if rid and armtypes.UNKNOWN.strip("()") not in rid:
            return rid
    rid = res.get("id")
    return rid if isinstance(rid, str) and rid.startswith("/") else None


def _lock_scope(lock: Mapping[str, Any], by_urn: Mapping[str, Mapping[str, Any]]) -> Optional[str]:
    scope = (lock.get("inputs") or {}).get("scope")
    if isinstance(scope, str) and scope.startswith("/") and armtypes.UNKNOWN.strip("()") not in scope:
        return scope
    # the scope is known after deploy only: the resource it comes from names it
    for urn in (lock.get("property_dependencies") or {}).get("scope") or []:
        source = by_urn.get(urn)
        if source is not None and source.get("custom", True):
            rid = _id(source)
            if rid:
                return rid
    return None


def _under(scope: str, target: str) -> bool:
    s, t = scope.rstrip("/").lower(), target.rstrip("/").lower()
    return t == s or t.startswith(s + "/")


def _locks(*plans: Mapping[str, Any]) -> List[Dict[str, Any]]:
    out: Dict[str, Dict[str, Any]] = {}
    for plan in plans:
        resources = [r for r in plan.get("resources", []) if isinstance(r, Mapping)]
        by_urn = {r.get("urn"): r for r in resources}
        for r in resources:
            if r.get("type") != LOCK:
                continue
            inputs = r.get("inputs") or {}
            level = inputs.get("level")
            scope = _lock_scope(r, by_urn)
            if level not in BLOCKING_LEVELS or scope is None:
                continue
            lock_id = f"{scope}/providers/Microsoft.Authorization/locks/{inputs.get('lockName') or r.get('name')}"
            out.setdefault(lock_id.lower(), {"name": r.get("name"), "id": lock_id, "scope": scope, "level": level})
    return list(out.values())


def locked_changes(diff: Any, earlier: Mapping[str, Any], current: Any) -> List[LockedChange]:
    """The replaces and removes of ``diff`` (earlier plan -> current plan or Graph) that a lock refuses."""
    now = current.to_dict() if hasattr(current, "to_dict") else dict(current)
    locks = _locks(earlier, now)
    if not locks:
        return []
    before = {r.get("urn"): r for r in earlier.get("resources", []) if isinstance(r, Mapping)}
    out: List[LockedChange] = []
    for change in diff.resources:
        if change.action not in ("replace", "remove") or change.type == LOCK:
            continue
        old = before.get(change.urn)
        rid = _id(old) if old is not None else None
        if rid is None:
            continue
        for lock in locks:
            if _under(lock["scope"], rid):
                out.append(LockedChange(change.name, change.type, change.action, change.urn, rid, str(lock["name"]),
                                        lock["id"], lock["scope"], str(lock["level"])))
                break
    return sorted(out, key=lambda c: (c.lock, c.resource))


def render(changes: List[LockedChange], stack: str) -> List[str]:
    """Lines for the diff's text report (empty when no lock is in the way)."""
    if not changes:
        return []
    lines = ["", f"LOCKED: {len(changes)} change{'s' if len(changes) != 1 else ''} a management lock refuses "
                 f"(a lock applies to its resource and everything under it; {DOC}):"]
    for c in changes:
        lines.append(f"  {c.resource}: {c.message}")
    lines.append("  lift the lock for these changes only, then let the stack put it back (lifting needs "
                 "Microsoft.Authorization/locks/*: Owner or User Access Administrator):")
    for cmd in commands(changes, stack):
        lines.append(f"    {cmd}")
    return lines


def commands(changes: List[LockedChange], stack: str) -> List[str]:
    """Lift every lock in the way, deploy the locked changes alone, re-create the locks."""
    lock_ids = list(dict.fromkeys(c.lock_id for c in changes))
    targets = " ".join(f"--target '{u}'" for u in dict.fromkeys(c.urn for c in changes))
    return ([f"az lock delete --ids {i}" for i in lock_ids]
            + [f"pulumi up --stack {stack} {targets} --target-dependents",
               f"pulumi up --stack {stack} --refresh   # the stack still declares the lock{'s' if len(lock_ids) > 1 else ''}:"
               " this re-creates it"])
