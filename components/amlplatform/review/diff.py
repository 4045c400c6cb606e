"""``amlplatform plan --diff EARLIER.json``: what a change does, resource by resource.

Resources are matched by URN (what Pulumi matches on). For each changed resource the changed
input paths are listed; a change to a create-only property (the service cannot update it in
place, so Pulumi deletes and recreates the resource) is flagged REPLACE: the failure users
fear most, because a replaced workspace, storage account or key vault loses its data, lineage
or name (soft-deleted names stay taken).
"""

import json
from dataclasses import dataclass, field
from typing import Any, Dict, Iterable, List, Mapping, Optional, Tuple

from amlplatform.offline import armtypes

# token -> input paths (dotted; a path covers everything below it) that cannot change in place.
# Physical names and the other id template inputs are added for every type from armtypes.
CREATE_ONLY: Dict[str, Tuple[str, ...]] = {
    # architecture.md "Service quirks": workspace storage account, key vault, HBI flag, kind and
    # identity type are create-only
    "azure-native:machinelearningservices:Workspace": (
        "storageAccount", "keyVault", "hbiWorkspace", "kind", "identity.type"),
    # a compute's type and VM size cannot be updated; a compute instance is create-only throughout
    "azure-native:machinelearningservices:Compute": (
        "properties.computeType", "properties.properties.vmSize", "properties.properties.subnet",
        "properties.properties.vmPriority"),
    "azure-native:storage:StorageAccount": ("isHnsEnabled",),
    # AKS: the pod and service ranges are fixed at creation (learn.microsoft.com/azure/aks/azure-cni-overlay),
    # and a public API server does not become private in place (learn.microsoft.com/azure/aks/private-clusters)
    "azure-native:containerservice:ManagedCluster": (
        "dnsPrefix", "nodeResourceGroup", "networkProfile.podCidr", "networkProfile.serviceCidr",
        "networkProfile.dnsServiceIP", "apiServerAccessProfile.enablePrivateCluster"),
    # a private endpoint stays in its subnet and connected to its resource
    # (learn.microsoft.com/azure/private-link/private-endpoint-overview: "cannot be moved");
    # a zone link to another VNet is another link
    "azure-native:network:PrivateEndpoint": ("subnet", "privateLinkServiceConnections", "customNetworkInterfaceName"),
    "azure-native:privatedns:VirtualNetworkLink": ("virtualNetwork",),
    "azure-native:containerservice:AgentPool": ("vmSize", "osType", "osDiskType", "osDiskSizeGB"),
    "azure-native:kubernetesconfiguration:Extension": ("extensionType",),
    "azure-native:authorization:RoleAssignment": ("principalId", "roleDefinitionId", "scope"),
}
CREATE_ONLY_EVERYWHERE = ("location",)

MANAGED_MODES = ("AllowInternetOutbound", "AllowOnlyApprovedOutbound")


def _isolation_change(before: Any, after: Any) -> Optional[str]:
    """Why a change of a workspace's managed network isolation mode cannot be taken back, or None.

    learn.microsoft.com/azure/machine-learning/how-to-managed-network: once a managed virtual network
    is enabled it cannot be disabled, and its isolation mode is a one-way choice."""
    was = before if isinstance(before, str) else "Disabled"
    now = after if isinstance(after, str) else "Disabled"
    if was == now:
        return None
    if was == "Disabled" and now in MANAGED_MODES:
        return "enables a managed network: it can never be disabled again"
    if was in MANAGED_MODES and now == "Disabled":
        return "Azure refuses this: a managed network cannot be disabled once enabled"
    if was in MANAGED_MODES and now in MANAGED_MODES:
        return f"changes the isolation mode {was} → {now}: a one-way change, plan it"
    return None


# token -> dotted input path -> (before, after) -> why the change is one-way (None: it is not)
ONE_WAY: Dict[str, Dict[str, Any]] = {
    "azure-native:machinelearningservices:Workspace": {"managedNetwork.isolationMode": _isolation_change},
}


@dataclass
class PropertyChange:
    path: str
    before: Any
    after: Any
    create_only: bool = False
    ignored: bool = False  # under ignore_changes: Pulumi will not apply it
    one_way: str = ""  # why the change cannot be taken back (empty: it can)


@dataclass
class ResourceChange:
    urn: str
    name: str
    type: str
    action: str  # add | change | replace | remove
    changes: List[PropertyChange] = field(default_factory=list)
    protect: bool = False
    note: str = ""


@dataclass
class PlanDiff:
    earlier_stack: str
    current_stack: str
    resources: List[ResourceChange] = field(default_factory=list)

    def of(self, action: str) -> List[ResourceChange]:
        return [r for r in self.resources if r.action == action]

    @property
    def has_changes(self) -> bool:
        return bool(self.resources)

    @property
    def has_replacements(self) -> bool:
        return bool(self.of("replace"))

    @property
    def one_way_changes(self) -> List[Tuple[str, PropertyChange]]:
        return [(r.name, c) for r in self.resources for c in r.changes if c.one_way]

    def to_dict(self) -> Dict[str, Any]:
        from dataclasses import asdict

        return {"earlier_stack": self.earlier_stack, "current_stack": self.current_stack,
                "has_replacements": self.has_replacements, "has_one_way_changes": bool(self.one_way_changes),
                "resources": [asdict(r) for r in self.resources]}

    def render(self) -> str:
        head = (f"Plan diff of stack {self.current_stack} against the earlier plan"
                + (f" of {self.earlier_stack}" if self.earlier_stack != self.current_stack else "") + ": ")
        counts = [f"{len(self.of('add'))} to add", f"{len(self.of('change'))} to change",
                  f"{len(self.of('replace'))} to REPLACE", f"{len(self.of('remove'))} to remove"]
        lines = [head + ", ".join(counts)]
        if not self.has_changes:
            lines.append("no changes")
            return "\n".join(lines) + "\n"
        lines.append("")
        marks = {"add": "+ add    ", "change": "~ change ", "replace": "! REPLACE", "remove": "- remove "}
        order = {"replace": 0, "remove": 1, "change": 2, "add": 3}
        for r in sorted(self.resources, key=lambda r: (order[r.action], r.name)):
            line = f"{marks[r.action]} {r.name} ({_short(r.type)})"
            if r.protect and r.action in ("replace", "remove"):
                line += "  [protected: pulumi up refuses until protect is lifted]"
            lines.append(line)
            for c in r.changes:
                tag = "  [create-only: forces replacement]" if c.create_only else (
                    "  [ignore_changes: not applied]" if c.ignored else "")
                if c.one_way:
                    tag += f"  [ONE-WAY: {c.one_way}]"
                lines.append(f"      {c.path}: {_show(c.before)} → {_show(c.after)}{tag}")
            if r.note:
                lines.append(f"      note: {r.note}")
        if self.one_way_changes:
            lines += ["", "WARNING: one-way changes cannot be taken back by another deploy: "
                          + "; ".join(f"{name} {c.path}" for name, c in self.one_way_changes) + "."]
        if self.has_replacements:
            lines += ["", "WARNING: a replacement deletes the resource and creates a new one: data, history "
                          "and soft-deleted names may be lost. Check the create-only changes above."]
        return "\n".join(lines) + "\n"


def _short(type_: str) -> str:
    parts = type_.split(":")
    return f"{parts[1]}:{parts[2]}" if len(parts) == 3 else type_


def _show(value: Any) -> str:
    if value is _MISSING:
        return "(unset)"
    if isinstance(value, str) and len(value) > 70 and value.count("/") >= 2:
        return json.dumps(".../" + "/".join(value.rstrip("/").split("/")[-2:]))  # ids differ at the end
    text = json.dumps(value, sort_keys=True)
    return text if len(text) <= 70 else text[:67] + "..."


class _Missing:
    def __repr__(self) -> str:
        return "(unset)"


_MISSING = _Missing()


def flatten(value: Any, prefix: str = "") -> Dict[str, Any]:
    """Inputs as {dotted path: leaf}; lists are leaves (their order matters to ARM)."""
    if isinstance(value, Mapping) and value:
        out: Dict[str, Any] = {}
        for k, v in value.items():
            out.update(flatten(v, f"{prefix}.{k}" if prefix else str(k)))
        return out
    return {prefix: value} if prefix else {}


def _covered(path: str, prefixes: Iterable[str]) -> bool:
    return any(path == p or path.startswith(p + ".") for p in prefixes)


def create_only_paths(type_: str, inputs: Mapping[str, Any]) -> Tuple[str, ...]:
    paths = list(CREATE_ONLY.get(type_, ())) + list(CREATE_ONLY_EVERYWHERE)
    arm = armtypes.lookup(type_)
    if arm is not None:
        import re

        paths += [p for p in re.findall(r"\{(\w+)\}", arm.id_template) if p != "subscription"]
    if type_ == "azure-native:machinelearningservices:Compute":
        props = inputs.get("properties")
        if isinstance(props, Mapping) and props.get("computeType") == "ComputeInstance":
            paths.append("properties.properties")  # compute instances are create-only throughout
    if type_.startswith("kubernetes:"):
        paths += ["metadata.name", "metadata.namespace"]
    return tuple(paths)


def _resources(plan: Mapping[str, Any]) -> Dict[str, Mapping[str, Any]]:
    return {r["urn"]: r for r in plan.get("resources", []) if r.get("custom", True)
            and not str(r.get("type", "")).startswith("pulumi:providers:")}


def _physical(r: Mapping[str, Any]) -> Optional[str]:
    arm = armtypes.lookup(r.get("type", ""))
    inputs = r.get("inputs") or {}
    if arm is not None:
        v = inputs.get(arm.name_input)
        return v if isinstance(v, str) else None
    meta = inputs.get("metadata")
    return meta.get("name") if isinstance(meta, Mapping) else None


def diff_plans(earlier: Mapping[str, Any], current: Any) -> PlanDiff:
    """Compare an earlier ``plan --format json`` (a dict) with the current recorded Graph."""
    now = current.to_dict() if hasattr(current, "to_dict") else dict(current)
    before, after = _resources(earlier), _resources(now)
    result = PlanDiff(earlier_stack=str(earlier.get("stack", "?")), current_stack=str(now.get("stack", "?")))

    for urn, new in after.items():
        old = before.get(urn)
        if old is None:
            result.resources.append(ResourceChange(urn, new["name"], new["type"], "add"))
            continue
        old_flat, new_flat = flatten(old.get("inputs") or {}), flatten(new.get("inputs") or {})
        # plus what the program declares as replace_on_changes (recorded by the engine)
        create_only = create_only_paths(new["type"], new.get("inputs") or {}) + tuple(new.get("replace_on_changes") or ())
        ignore = [p.replace("[", ".").replace("]", "") for p in (new.get("ignore_changes") or [])]
        changes = []
        for path in sorted(set(old_flat) | set(new_flat)):
            a, b = old_flat.get(path, _MISSING), new_flat.get(path, _MISSING)
            if a == b:
                continue
            ignored = _covered(path, ignore)
            why = ONE_WAY.get(new["type"], {}).get(path)
            changes.append(PropertyChange(path, a, b, create_only=_covered(path, create_only) and not ignored,
                                          ignored=ignored,
                                          one_way=(why(None if a is _MISSING else a, None if b is _MISSING else b)
                                                   or "") if why and not ignored else ""))
        if not changes:
            continue
        effective = [c for c in changes if not c.ignored]
        if not effective:
            action = "change"
        else:
            action = "replace" if any(c.create_only for c in changes) else "change"
        result.resources.append(ResourceChange(urn, new["name"], new["type"], action, changes,
                                               protect=bool(new.get("protect") or old.get("protect"))))
    added_by_key = {(r["type"], _physical(r)): r for u, r in after.items() if u not in before and _physical(r)}
    for urn, old in before.items():
        if urn in after:
            continue
        change = ResourceChange(urn, old["name"], old["type"], "remove", protect=bool(old.get("protect")))
        twin = added_by_key.get((old["type"], _physical(old)))
        if twin is not None:
            change.note = (f"same physical name as added {twin['name']}: a rename of the Pulumi resource; without "
                           "an alias Pulumi deletes and recreates it")
        result.resources.append(change)
    return result
