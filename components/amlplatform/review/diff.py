"""``amlplatform plan --diff EARLIER.json``: what a change does, resource by resource.

Resources are matched by URN (what Pulumi matches on). For each changed resource the deepest
changed input paths are listed, through lists element by element (``availabilityZones[2]``; a list
of objects that all carry a distinct ``name`` by name: ``agentPoolProfiles[name=inference].vmSize``).
A change to a create-only property (the service cannot update it in place, so Pulumi deletes and
recreates the resource) is flagged REPLACE: the failure users fear most, because a replaced
workspace, storage account or key vault loses its data, lineage or name (soft-deleted names stay
taken). A removed resource whose physical identity (its full
resource id: parent or scope included) matches an added one is flagged as a rename without an alias.
"""

import json
import re
from dataclasses import dataclass, field
from typing import Any, Dict, Iterable, List, Mapping, Optional, Tuple, Union

from amlplatform.offline import armtypes

# An AKS node pool's settings fixed at creation; changing one means a new pool (add a pool with the
# new setting, cordon and drain the old one, delete it).
# - learn.microsoft.com/azure/aks/resize-node-pool and learn.microsoft.com/azure/aks/manage-node-pools
#   (Limitations): "You can't change the VM size of a node pool after you create it" (in-place resize of
#   a VM scale set pool is a preview feature only);
# - learn.microsoft.com/azure/aks/reliability-availability-zones-configure: "You can't change the number
#   of availability zones after you create a node pool ... create a new node pool";
# - the OS type, OS disk (type, size), kubelet disk, max pods, node and pod subnets, FIPS, host
#   encryption, ultra SSD, node public IP and kubelet/Linux OS config are likewise set when the pool's
#   scale set is made: the Pulumi azure KubernetesClusterNodePool docs list exactly these (vmSize,
#   zones, osDiskType, osDiskSizeGb, maxPods, vnetSubnetId, podSubnetId, ...) as changes that need the
#   pool cycled through a temporary pool (pulumi.com/registry/packages/azure/api-docs/containerservice/
#   kubernetesclusternodepool). Names here are the azure-native (ARM) input names.
AGENT_POOL_CREATE_ONLY: Tuple[str, ...] = (
    "vmSize", "osType", "osDiskType", "osDiskSizeGB", "kubeletDiskType", "availabilityZones", "maxPods",
    "vnetSubnetID", "podSubnetID", "enableFIPS", "enableEncryptionAtHost", "enableUltraSSD",
    "enableNodePublicIP", "kubeletConfig", "linuxOSConfig")

# token -> input paths (dotted, list elements as [index], [name=...] or [*] for any element; a path
# covers everything below it) that cannot change in place.
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
        "networkProfile.dnsServiceIP", "apiServerAccessProfile.enablePrivateCluster")
        # the same pool settings inside the cluster's inline pools ([*]: any element)
        + tuple(f"agentPoolProfiles[*].{p}" for p in AGENT_POOL_CREATE_ONLY),
    # a private endpoint stays in its subnet and connected to its resource
    # (learn.microsoft.com/azure/private-link/private-endpoint-overview: "cannot be moved");
    # a zone link to another VNet is another link
    "azure-native:network:PrivateEndpoint": ("subnet", "privateLinkServiceConnections", "customNetworkInterfaceName"),
    "azure-native:privatedns:VirtualNetworkLink": ("virtualNetwork",),
    "azure-native:containerservice:AgentPool": AGENT_POOL_CREATE_ONLY,
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
    locked: List[Any] = field(default_factory=list)  # review.locks.LockedChange: deletes a lock refuses

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
                "resources": [asdict(r) for r in self.resources],
                "locked": [c.to_dict() for c in self.locked]}

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
        if self.locked:
            from amlplatform.review.locks import render as render_locked

            lines += render_locked(self.locked, self.current_stack)
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


# A path segment: a mapping key (str), or a list element (its index, and the label shown: the
# index, or name=<name> in a list of objects that all carry a distinct name).
Segment = Union[str, Tuple[int, str]]


def _element_labels(items: List[Any]) -> List[str]:
    names = [x.get("name") if isinstance(x, Mapping) else None for x in items]
    if all(isinstance(n, str) for n in names) and len(set(names)) == len(names):
        return [f"name={n}" for n in names]
    return [str(i) for i in range(len(items))]


def _walk(value: Any, segments: Tuple[Segment, ...], out: Dict[str, Tuple[Tuple[Segment, ...], Any]]) -> None:
    if isinstance(value, Mapping) and value:
        for k, v in value.items():
            _walk(v, segments + (str(k),), out)
    elif isinstance(value, list) and value:
        for i, (label, v) in enumerate(zip(_element_labels(value), value)):
            _walk(v, segments + ((i, label),), out)
    elif segments:
        out[render_path(segments)] = (segments, value)


def render_path(segments: Iterable[Segment]) -> str:
    text = ""
    for seg in segments:
        if isinstance(seg, tuple):
            text += f"[{seg[1]}]"
        else:
            text += f".{seg}" if text else seg
    return text


def leaves(value: Any) -> Dict[str, Tuple[Tuple[Segment, ...], Any]]:
    """Inputs as {path: (segments, leaf)}, element by element through lists: by name in a list of
    named objects (``agentPoolProfiles[name=inference].vmSize``, so a reordered or inserted pool does
    not show every later pool as changed), by index otherwise (``availabilityZones[2]``)."""
    out: Dict[str, Tuple[Tuple[Segment, ...], Any]] = {}
    _walk(value, (), out)
    return out


def flatten(value: Any, prefix: str = "") -> Dict[str, Any]:
    """Inputs as {path: leaf}, lists element by element (see :func:`leaves`)."""
    flat = {path: leaf for path, (_, leaf) in leaves(value).items()}
    if not prefix:
        return flat
    return {prefix + (p if p.startswith("[") else "." + p): v for p, v in flat.items()}


_PATTERN_SEGMENT = re.compile(r'([^.\[\]]+)|\[([^\]]*)\]')


def _pattern(path: str) -> List[str]:
    """A pattern path (``a.b``, ``a[0].b``, ``a[*].b``, ``a["k"]``) as segments; list parts keep brackets."""
    out = []
    for key, inner in _PATTERN_SEGMENT.findall(path):
        if key:
            out.append(key)
        else:
            inner = inner.strip()
            if len(inner) >= 2 and inner[0] == inner[-1] and inner[0] in "\"'":
                out.append(inner[1:-1])  # ["key"]: a map key
            else:
                out.append(f"[{inner}]")
    return out


def _segment_matches(pattern: str, seg: Segment) -> bool:
    if isinstance(seg, tuple):
        return pattern in ("[*]", f"[{seg[0]}]", f"[{seg[1]}]")
    return pattern == seg


def _covering(segments: Tuple[Segment, ...], patterns: Iterable[str]) -> int:
    """How many leading segments of the path the first covering pattern matches (0: none covers it).
    A pattern covers the path it equals and everything below it."""
    for p in patterns:
        parts = _pattern(p)
        if parts and len(parts) <= len(segments) and all(
                _segment_matches(a, b) for a, b in zip(parts, segments)):
            return len(parts)
    return 0


def _covered(segments: Tuple[Segment, ...], patterns: Iterable[str]) -> bool:
    return _covering(segments, patterns) > 0


def _elements(flat: Mapping[str, Tuple[Tuple[Segment, ...], Any]]) -> set:
    """Every list element present on one side, as its rendered path (``agentPoolProfiles[name=gpu]``)."""
    return {render_path(segs[:i + 1]) for segs, _ in flat.values() for i, seg in enumerate(segs)
            if isinstance(seg, tuple)}


def create_only_paths(type_: str, inputs: Mapping[str, Any]) -> Tuple[str, ...]:
    paths = list(CREATE_ONLY.get(type_, ())) + list(CREATE_ONLY_EVERYWHERE)
    arm = armtypes.lookup(type_)
    if arm is not None:
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


_ANY_SUBSCRIPTION = "{subscription}"  # both plans are offline: compare the ids below the subscription


def identity(r: Mapping[str, Any]) -> Optional[Tuple[str, ...]]:
    """What names the physical resource, or None when the recorded inputs do not say.

    For an ARM type: the full resource id from its template, so a child or extension resource is
    named with its parent or scope (``workspaceName`` + ``computeName``; ``resourceUri`` + the
    diagnostic setting's name; ``scope`` + a role assignment's name), not by its short name alone,
    which many resources share (``default``, ``cpu``, ``to-log-analytics``). For Kubernetes objects:
    the namespace and name. ARM ids are case-insensitive."""
    type_ = str(r.get("type", ""))
    inputs = r.get("inputs") or {}
    arm = armtypes.lookup(type_)
    if arm is not None:
        rid = arm.resource_id(inputs, _ANY_SUBSCRIPTION)
        return (type_, rid.lower()) if rid else None
    meta = inputs.get("metadata")
    if type_.startswith("kubernetes:") and isinstance(meta, Mapping) and isinstance(meta.get("name"), str):
        namespace = meta.get("namespace")
        return (type_, namespace if isinstance(namespace, str) else "", meta["name"])
    return None


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
        old_leaves, new_leaves = leaves(old.get("inputs") or {}), leaves(new.get("inputs") or {})
        # plus what the program declares as replace_on_changes (recorded by the engine)
        create_only = (create_only_paths(new["type"], new.get("inputs") or {})
                       + tuple(new.get("replace_on_changes") or ()))
        ignore = list(new.get("ignore_changes") or [])
        old_elements, new_elements = _elements(old_leaves), _elements(new_leaves)
        changes = []
        for path in sorted(set(old_leaves) | set(new_leaves)):
            a = old_leaves[path][1] if path in old_leaves else _MISSING
            b = new_leaves[path][1] if path in new_leaves else _MISSING
            if a == b:
                continue
            # ignore_changes paths index lists by position: match them on either side's position
            sides = [side[path][0] for side in (new_leaves, old_leaves) if path in side]
            ignored = any(_covered(segs, ignore) for segs in sides)
            why = ONE_WAY.get(new["type"], {}).get(path)
            # a create-only setting of a list element (a cluster's inline node pool) forces a replacement
            # only when that element is on both sides: adding or dropping a whole pool is an update
            matched = _covering(sides[0], create_only)
            elements = [render_path(sides[0][:i + 1]) for i, seg in enumerate(sides[0][:matched])
                        if isinstance(seg, tuple)]
            is_create_only = matched > 0 and all(e in old_elements and e in new_elements for e in elements)
            changes.append(PropertyChange(path, a, b, create_only=is_create_only and not ignored,
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
    added_by_key = {identity(r): r for u, r in after.items() if u not in before and identity(r)}
    for urn, old in before.items():
        if urn in after:
            continue
        change = ResourceChange(urn, old["name"], old["type"], "remove", protect=bool(old.get("protect")))
        key = identity(old)
        twin = added_by_key.get(key) if key else None
        if twin is not None:
            change.note = (f"same physical resource as added {twin['name']}: a rename of the Pulumi resource; without "
                           "an alias Pulumi deletes and recreates it")
        result.resources.append(change)
    from amlplatform.review.locks import locked_changes

    result.locked = locked_changes(result, earlier, now)
    return result
