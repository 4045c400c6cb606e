"""``amlplatform preflight``: the subscription registrations a stack's first deploy depends on.

Offline, from the recorded plan (:class:`amlplatform.offline.engine.Graph`): every resource type's
provider namespace (the type names it), plus the registrations the plan's types do not show but a
feature of the stack needs (:data:`amlplatform.azure.providers.FEATURES`: a customer-managed key
needs Microsoft.DocumentDB and Microsoft.Search, the Azure ML extension Microsoft.KubernetesConfiguration,
host encryption the Microsoft.Compute/EncryptionAtHost feature, ...). Each comes with the command that
registers it. Offline nothing is known about a subscription: the list says what to check, never
that it is registered.

With a subscription (:func:`check`), it reads the answer only Azure can give: ``GET
/subscriptions/{id}/providers?api-version=2021-04-01`` (Providers_List, every page) for the
namespaces and ``GET .../providers/Microsoft.Features/providers/{ns}/features/{name}?api-version=
2021-07-01`` (Features_Get) for each preview feature, through the project's ARM pipeline
(azure-core retries, azure-identity's token; :mod:`amlplatform.runs.rest`). A registration is proven
when the state is Registered; Registering/Pending are not done yet; NotRegistered/Unregistered need
the command.
"""

import re
from dataclasses import dataclass, field
from typing import Any, Dict, List, Mapping, Optional, Tuple
from urllib.parse import parse_qsl, urlsplit

from amlplatform.azure import providers as facts
from amlplatform.errors import UserError
from amlplatform.offline import armtypes
from amlplatform.review.paths import get_path as get

WORKSPACE = "azure-native:machinelearningservices:Workspace"
COMPUTE = "azure-native:machinelearningservices:Compute"
EXTENSION = "azure-native:kubernetesconfiguration:Extension"
AKS = "azure-native:containerservice:ManagedCluster"
AGENT_POOL = "azure-native:containerservice:AgentPool"
# azure-native types without an armtypes row whose namespace the preflight still knows
EXTRA_NAMESPACES = {"azure-native:features:SubscriptionFeatureRegistration": "Microsoft.Features"}
MANAGED_MODES = ("AllowInternetOutbound", "AllowOnlyApprovedOutbound")
_GUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")

DECLARED = "the plan declares"  # the reason of a namespace that resource types of the plan need
NOT_CHECKED = "not checked"  # offline: what the state column says
ABSENT = "absent"  # the subscription's provider list has no such namespace


@dataclass
class Need:
    """One registration the stack needs, why (reason -> the plan's resources it is about), and its
    state once checked."""

    requirement: facts.Requirement
    reasons: Dict[str, List[str]] = field(default_factory=dict)
    state: Optional[str] = None  # None: not checked (offline)

    def add(self, why: str, resource: str) -> None:
        names = self.reasons.setdefault(why, [])
        if resource not in names:
            names.append(resource)

    @property
    def checked(self) -> bool:
        return self.state is not None

    @property
    def registered(self) -> bool:
        return facts.is_registered(self.state)

    @property
    def status(self) -> str:
        if self.state is None:
            return "registered by default" if self.requirement.by_default else NOT_CHECKED
        return self.state or "(empty)"

    def to_dict(self) -> Dict[str, Any]:
        r = self.requirement
        return {"namespace": r.namespace, "feature": r.feature, "doc": r.doc, "registered_by_default": r.by_default,
                "reasons": {k: list(v) for k, v in self.reasons.items()}, "state": self.state,
                "register": None if r.by_default else r.register_command(), "show": r.show_command()}


def _names(names: List[str], limit: int = 3) -> str:
    shown = ", ".join(names[:limit])
    return shown + (f" and {len(names) - limit} more" if len(names) > limit else "")


@dataclass
class PreflightReport:
    stack: str
    needs: List[Need]
    subscription: Optional[str] = None  # set when checked against Azure
    unknown_types: List[str] = field(default_factory=list)  # types whose provider the preflight cannot name

    @property
    def checked(self) -> bool:
        return self.subscription is not None

    @property
    def missing(self) -> List[Need]:
        """Checked registrations that are not Registered (NotRegistered, Registering, Pending, absent, ...)."""
        return [n for n in self.needs if n.checked and not n.registered]

    @property
    def ok(self) -> bool:
        return not self.missing

    def to_dict(self) -> Dict[str, Any]:
        return {"stack": self.stack, "subscription": self.subscription, "checked": self.checked,
                "ok": self.ok if self.checked else None,
                "needs": [n.to_dict() for n in self.needs], "unknown_types": list(self.unknown_types)}

    def render(self) -> str:
        where = f"subscription {self.subscription}" if self.checked else \
            "offline: the states are not known (check them: --subscription ID or --check)"
        lines = [f"Subscription registrations stack {self.stack} needs ({where})", ""]
        width = max([len(n.requirement.key) for n in self.needs] + [12])
        lines.append(f"{'REGISTRATION':<{width}} STATE")
        for n in self.needs:
            lines.append(f"{n.requirement.key:<{width}} {n.status}")
            for why, names in n.reasons.items():
                lines.append(f"{'':<{width}}   {why}: {_names(names)}")
        commands = [n for n in self.needs if not n.requirement.by_default and not n.registered
                    and not (n.checked and facts.in_progress(n.state))]
        if commands:
            lines += ["", "register (needs */register/action on the subscription: Owner, Contributor or "
                          "Register Contributor):"]
            lines += [f"  {n.requirement.register_command()}" for n in commands]
        waiting = [n for n in self.needs if n.checked and facts.in_progress(n.state)]
        if waiting:
            lines += ["", "in progress (a Pending feature waits for Microsoft's approval); look again with:"]
            lines += [f"  {n.requirement.show_command()}" for n in waiting]
        if self.unknown_types:
            lines += ["", "types whose provider this preflight cannot name (check them by hand): "
                          + ", ".join(self.unknown_types)]
        lines.append("")
        if self.checked:
            lines.append("OK: every registration is Registered" if self.ok else
                         f"FAIL: {len(self.missing)} registration{'s' if len(self.missing) != 1 else ''} "
                         "not Registered")
        else:
            lines.append(f"{len(self.needs)} registrations listed; none checked (offline)")
        return "\n".join(lines) + "\n"


# ----------------------------------------------------------------------------- what the plan needs

def _namespace(res: Any) -> Optional[str]:
    arm = armtypes.lookup(res.type)
    if arm is None:
        return EXTRA_NAMESPACES.get(res.type)
    if res.type == armtypes.GENERIC_RESOURCE:
        ns = res.inputs.get("resourceProviderNamespace")
        return ns if isinstance(ns, str) and "." in ns else None
    return facts.namespace_of(arm.arm_type)


def _not_arm(type_: str) -> bool:
    """Kubernetes objects (the cluster's API), providers and components register nothing."""
    return type_.startswith(("kubernetes:", "pulumi:", "amlplatform:")) or not type_.startswith("azure-native:")


def features(graph: Any) -> List[Tuple[str, str]]:
    """``[(feature id, logical name of the resource that uses it)]`` found in the plan."""
    out: List[Tuple[str, str]] = []
    for ws in graph.of_type(WORKSPACE):
        out.append(("workspace", ws.name))
        if get(ws.inputs, "encryption.status") == "Enabled":
            out.append(("customer_managed_key", ws.name))
        if get(ws.inputs, "managedNetwork.isolationMode") in MANAGED_MODES:
            out.append(("managed_network", ws.name))
    for c in graph.of_type(COMPUTE):
        if get(c.inputs, "properties.computeType") == "ComputeInstance":
            out.append(("compute_instance", c.name))
    for ext in graph.of_type(EXTENSION):
        out.append(("kubernetes_extension", ext.name))
    for aks in graph.of_type(AKS):
        if any(p.get("enableEncryptionAtHost") is True for p in aks.inputs.get("agentPoolProfiles") or []
               if isinstance(p, Mapping)):
            out.append(("encryption_at_host", aks.name))
    for pool in graph.of_type(AGENT_POOL):
        if pool.inputs.get("enableEncryptionAtHost") is True:
            out.append(("encryption_at_host", pool.name))
    return out


def needed(graph: Any) -> Tuple[List[Need], List[str]]:
    """The registrations the plan needs (resource types first, then features; sorted by key) and the
    azure-native types whose namespace is unknown here."""
    needs: Dict[str, Need] = {}
    unknown: List[str] = []

    def add(req: facts.Requirement, resource: str) -> None:
        # one row per namespace whatever the casing (ARM types spell Microsoft.Insights, docs microsoft.insights)
        needs.setdefault(req.key.lower(), Need(req)).add(req.why, resource)

    for res in graph.custom_resources():
        if _not_arm(res.type):
            continue
        ns = _namespace(res)
        if ns is None:
            if res.type not in unknown:
                unknown.append(res.type)
            continue
        arm = armtypes.lookup(res.type)
        if res.type == armtypes.GENERIC_RESOURCE:
            shown = f"{ns}/{res.inputs.get('resourceType') or '?'}"
        else:
            shown = arm.arm_type if arm is not None else res.type
        add(facts.provider(ns, DECLARED), shown)
    for feature, name in features(graph):
        for req in facts.FEATURES[feature]:
            add(req, name)
    return sorted(needs.values(), key=lambda n: (n.requirement.feature is not None, n.requirement.key.lower())), \
        sorted(unknown)


def preflight_graph(graph: Any) -> PreflightReport:
    needs, unknown = needed(graph)
    return PreflightReport(stack=graph.stack, needs=needs, unknown_types=unknown)


# ----------------------------------------------------------------------------- what Azure answers

def check_subscription_id(subscription: str) -> str:
    if not _GUID.match(subscription or ""):
        raise UserError(f"subscription must be a subscription id (a GUID), got {subscription!r}")
    return subscription.lower()


class RegistrationClient:
    """Reads provider and feature registration states of one subscription over ARM."""

    def __init__(self, subscription: str, *, endpoint: Optional[str] = None, credential: Any = None,
                 transport: Any = None, retry: Optional[Mapping[str, Any]] = None) -> None:
        from amlplatform.runs.rest import DEFAULT_ENDPOINT, ArmPipeline

        self.subscription = check_subscription_id(subscription)
        self._arm = ArmPipeline(endpoint or DEFAULT_ENDPOINT, api_version=facts.PROVIDERS_API_VERSION,
                                credential=credential, transport=transport, retry=retry)

    def close(self) -> None:
        self._arm.close()

    def provider_states(self) -> Dict[str, str]:
        """``{namespace lower case: registrationState}`` of every provider, every page (nextLink)."""
        path: Optional[str] = f"/subscriptions/{self.subscription}/providers"
        params: Dict[str, str] = {}
        states: Dict[str, str] = {}
        pages = 0
        while path:
            pages += 1
            if pages > 100:
                raise UserError("list resource providers: more than 100 pages of nextLink; giving up")
            answer = self._arm.call("list resource providers", "GET", path, params=params)
            body = answer.body if isinstance(answer.body, Mapping) else {}
            value = body.get("value")
            if not isinstance(value, list):
                raise UserError(f"list resource providers (GET {path}): the answer has no 'value' list")
            states.update(facts.states_by_namespace(value))
            path, params = self._next(body.get("nextLink"))
        return states

    def _next(self, link: Any) -> Tuple[Optional[str], Dict[str, str]]:
        if not link:
            return None, {}
        from amlplatform.runs.azure import same_url_origin

        if not isinstance(link, str) or not same_url_origin(link, self._arm.endpoint):
            raise UserError(f"list resource providers: nextLink {link!r} is not on {self._arm.endpoint}")
        parts = urlsplit(link)
        return parts.path, dict(parse_qsl(parts.query, keep_blank_values=True))

    def feature_state(self, namespace: str, feature: str) -> str:
        from amlplatform.runs.rest import need

        path = (f"/subscriptions/{self.subscription}/providers/Microsoft.Features/providers/{namespace}"
                f"/features/{feature}")
        label = f"read feature {namespace}/{feature}"
        answer = self._arm.call(label, "GET", path, params={"api-version": facts.FEATURES_API_VERSION})
        return need(answer.body, "properties.state", label)


def check(report: PreflightReport, client: RegistrationClient) -> PreflightReport:
    """Fill in each need's state from Azure's answers (in place) and return the report."""
    states = client.provider_states()
    for n in report.needs:
        r = n.requirement
        if r.feature:
            n.state = client.feature_state(r.namespace, r.feature)
        else:
            n.state = states.get(r.namespace.lower(), ABSENT)
    report.subscription = client.subscription
    return report


def client_for(subscription: str) -> RegistrationClient:
    """A client for ``subscription`` with the project's hooks for a local fake Resource Manager:
    ``AMLPLATFORM_ARM_ENDPOINT`` and ``AMLPLATFORM_CA_BUNDLE`` (as the run shim reads them)."""
    from amlplatform.runs.api import client_options

    options = client_options()
    return RegistrationClient(subscription, endpoint=options.get("endpoint"), transport=options.get("transport"))


def stack_subscription(stack: str, project_dir: Any) -> Optional[str]:
    """The subscription a stack deploys to, when its file says so (``azure-native:subscriptionId``)."""
    from amlplatform.offline.engine import stack_program_config

    strings, _ = stack_program_config(stack, project_dir, notice=False)
    value = strings.get("azure-native:subscriptionId")
    return value if isinstance(value, str) and value else None


def preflight_stack(stack: str, *, project_dir: Any = None, subscription: Optional[str] = None,
                    client: Optional[RegistrationClient] = None) -> PreflightReport:
    """The stack's registrations from its offline plan; checked against ``subscription`` (or the
    given ``client``) when one is given."""
    from amlplatform.offline.engine import evaluate_stack, project_dir_arg

    folder = project_dir_arg(project_dir)
    if subscription is not None:
        check_subscription_id(subscription)  # before the slow evaluation
    report = preflight_graph(evaluate_stack(stack, project_dir=folder))
    if client is None and subscription is None:
        return report
    own = client is None
    client = client or client_for(subscription)  # type: ignore[arg-type]
    try:
        return check(report, client)
    finally:
        if own:
            client.close()


__all__ = ["Need", "PreflightReport", "RegistrationClient", "check", "client_for", "features", "needed", "preflight_graph",
           "preflight_stack", "stack_subscription"]
