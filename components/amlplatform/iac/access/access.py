"""Sharing a workspace: built-in role assignments to users, groups and service principals."""

import re
import uuid
from typing import List, Optional, TypedDict

import pulumi
from pulumi_azure_native import authorization
from typing_extensions import Required

from amlplatform.iac._base import ComponentArgsError, check_args, child, token
from amlplatform.azure.roles import CONDITION_VERSION, ROLES

# Role assignment names are GUIDs; deriving them from (scope, principal, role) makes a redeploy
# find the same assignment instead of failing with "RoleAssignmentExists" (AVM does the same).
_NAMESPACE = uuid.UUID("6f1c2d4e-5b7a-4c3d-9e8f-0a1b2c3d4e5f")


def assignment_guid(scope: str, principal_id: str, role_definition_guid: str) -> str:
    return str(uuid.uuid5(_NAMESPACE, f"{scope.lower()}|{principal_id.lower()}|{role_definition_guid.lower()}"))


def role_definition_id(subscription_id: str, role_definition_guid: str) -> str:
    return f"/subscriptions/{subscription_id}/providers/Microsoft.Authorization/roleDefinitions/{role_definition_guid}"


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


class RoleAssignmentSpec(TypedDict, total=False):
    principal_id: Required[str]
    """Object id of the user, group or service principal."""
    principal_type: Required[str]
    """User, Group or ServicePrincipal."""
    role_definition_guid: str
    """Built-in or custom role definition GUID; default: the GUID of the built-in role role_name."""
    role_name: str
    """Built-in role name (amlplatform.azure.roles), or a readable name of a custom role; used in the
    logical resource name. One of role_name and role_definition_guid is required."""
    description: str
    """Why the principal has the role."""
    condition: str
    """An Azure ABAC role assignment condition (conditionVersion 2.0 is set with it), e.g.
    amlplatform.azure.roles.read_only_containers_condition: the role applies only where it holds
    (learn.microsoft.com/azure/role-based-access-control/conditions-format)."""
    name_label: str
    """Stands for the principal in the logical name instead of its first 8 characters (set when the
    principal id is a secret: naming.name_part)."""


def spec_role(component: str, where: str, spec: RoleAssignmentSpec) -> str:
    """The role definition GUID of ``spec``: given, or the built-in role named role_name."""
    if spec.get("role_definition_guid"):
        return spec["role_definition_guid"]
    name = spec.get("role_name")
    if name in ROLES:
        return ROLES[name]
    raise ComponentArgsError(f"{component}: invalid arguments (1 problem):", [
        f"{where}.role_name: {name!r} is not a built-in role (give role_definition_guid for a custom role)"
        if name else f"{where}: needs role_name (a built-in role) or role_definition_guid"])


def _condition(spec: RoleAssignmentSpec) -> dict:
    """The condition inputs of an assignment: none, or the condition with conditionVersion 2.0 (ARM:
    "If Condition is specified, ConditionVersion must also be specified")."""
    if not spec.get("condition"):
        return {}
    return {"condition": spec["condition"], "condition_version": CONDITION_VERSION}


def _subscription_of(scope: str) -> str:
    # an ARM id: /subscriptions/<id>/...
    return scope.split("/")[2] if scope.lower().startswith("/subscriptions/") else ""


class WorkspaceAccessArgs(TypedDict, total=False):
    scope: Required[pulumi.Input[str]]
    """ARM id the roles are granted on (the workspace or its resource group)."""
    subscription_id: pulumi.Input[str]
    """Subscription of the role definitions; default: the scope's."""
    assignments: Required[List[RoleAssignmentSpec]]
    """Who gets which role."""


class WorkspaceAccess(pulumi.ComponentResource):
    """Role assignments on one scope, with stable names so redeploys change nothing."""

    def __init__(self, name: str, args: WorkspaceAccessArgs,
                 opts: Optional[pulumi.ResourceOptions] = None) -> None:
        check_args("WorkspaceAccess", args, WorkspaceAccessArgs)
        super().__init__(token("WorkspaceAccess"), name, None, opts)
        scope = pulumi.Output.from_input(args["scope"])
        subscription = pulumi.Output.from_input(args["subscription_id"]) if args.get("subscription_id") else \
            scope.apply(_subscription_of)
        ids = []
        for i, spec in enumerate(args["assignments"]):
            role = spec_role("WorkspaceAccess", f"args.assignments[{i}]", spec)
            principal = spec["principal_id"]
            label = slug(spec.get("role_name") or role)
            assignment = authorization.RoleAssignment(
                f"{name}-{label}-{spec.get('name_label') or principal[:8]}",
                scope=scope,
                principal_id=principal,
                principal_type=spec["principal_type"],
                role_definition_id=subscription.apply(lambda sub, r=role: role_definition_id(sub, r)),
                role_assignment_name=scope.apply(
                    lambda s, p=principal, r=role: assignment_guid(s, p, r)),
                description=spec.get("description"),
                **_condition(spec),
                opts=child(self),
            )
            ids.append(assignment.id)
        self.assignment_ids = pulumi.Output.all(*ids) if ids else pulumi.Output.from_input([])
        self.register_outputs({"assignment_ids": self.assignment_ids})


class ScopeGrant(TypedDict, total=False):
    scope: Required[pulumi.Input[str]]
    """ARM id the roles are granted on."""
    scope_label: Required[str]
    """Short stable name of the scope (storage, registry, key-vault), used in logical names."""
    roles: Required[List[RoleAssignmentSpec]]
    """role_definition_guid, role_name and description of each role (principal fields are ignored)."""


class IdentityAccessArgs(TypedDict, total=False):
    subscription_id: Required[pulumi.Input[str]]
    """Subscription of the role definitions."""
    principal_id: Required[pulumi.Input[str]]
    """Object id of the managed identity (an output of a compute or an identity)."""
    grants: Required[List[ScopeGrant]]
    """Which roles on which scopes the identity gets."""


class IdentityAccess(pulumi.ComponentResource):
    """Roles for one managed identity whose object id is an output (a compute's, an identity's).

    Logical names come from the component's name and the scope's label (the object id is unknown
    at plan time); the assignment GUID still derives from (scope, principal, role), so a
    redeploy finds the same assignment."""

    def __init__(self, name: str, args: IdentityAccessArgs,
                 opts: Optional[pulumi.ResourceOptions] = None) -> None:
        check_args("IdentityAccess", args, IdentityAccessArgs)
        super().__init__(token("IdentityAccess"), name, None, opts)
        subscription = pulumi.Output.from_input(args["subscription_id"])
        principal = pulumi.Output.from_input(args["principal_id"])
        self.assignments: List[authorization.RoleAssignment] = []
        for gi, grant in enumerate(args["grants"]):
            scope = pulumi.Output.from_input(grant["scope"])
            for ri, spec in enumerate(grant["roles"]):
                role = spec_role("IdentityAccess", f"args.grants[{gi}].roles[{ri}]", spec)
                self.assignments.append(authorization.RoleAssignment(
                    f"{name}-{grant['scope_label']}-{slug(spec.get('role_name') or role)}",
                    scope=scope,
                    principal_id=principal,
                    principal_type="ServicePrincipal",
                    role_definition_id=subscription.apply(lambda sub, r=role: role_definition_id(sub, r)),
                    role_assignment_name=pulumi.Output.all(scope, principal).apply(
                        lambda sp, r=role: assignment_guid(sp[0], sp[1], r)),
                    description=spec.get("description"),
                    **_condition(spec),
                    opts=child(self),
                ))
        self.assignment_ids = (pulumi.Output.all(*[a.id for a in self.assignments])
                               if self.assignments else pulumi.Output.from_input([]))
        self.register_outputs({"assignment_ids": self.assignment_ids})
