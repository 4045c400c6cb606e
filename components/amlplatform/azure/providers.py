"""Subscription registrations a deploy depends on: resource provider namespaces and preview features.

Pure facts (no Pulumi, no pydantic), each row with the Azure page it comes from. What a stack needs
is derived from its plan by :mod:`amlplatform.review.preflight`; this module only says

* that a resource type's namespace *is* its provider (``Microsoft.KeyVault/vaults`` needs
  ``Microsoft.KeyVault``; learn.microsoft.com/azure/azure-resource-manager/management/
  resource-providers-and-types: "A resource type's name follows the format:
  {resource-provider}/{resource-type}");
* which providers every subscription has registered by default
  (learn.microsoft.com/azure/azure-resource-manager/management/azure-services-resource-providers,
  the rows marked "Registered by default");
* which *features* of a stack need providers or preview-feature registrations the plan's own
  resource types do not show (:data:`FEATURES`).

Why a preflight and not a resource: a deploy through azure-native sends each resource's REST PUT
itself; Resource Manager registers providers automatically only for template deployments
("When you deploy an Azure Resource Manager template or Bicep file, resource providers defined in
the template are registered automatically", resource-providers-and-types), and azure-native does
not register them (pulumi/pulumi-azure-native#3479: "not registered to use microsoft.insights").
azure-native 3.29 has no resource that registers a provider namespace for a subscription
(``providerhub:ProviderRegistration`` is a provider *publisher's* manifest, not a subscription
registration); it has ``features:SubscriptionFeatureRegistration`` (API 2021-07-01) for preview
features, but a feature "always exists" (its GET answers 200 before registration), so azure-native
refuses to create it ("cannot create already existing resource", pulumi/pulumi-azure-native#1722,
open when read), and its PUT returns while the state is still Registering
(Azure/terraform-provider-azapi#366). Registration is also subscription-wide and needs the
``*/register/action`` permission at subscription scope (Contributor, Owner, or the Register
Contributor role; resource-providers-and-types), which a deployer scoped to a resource group does
not hold. So the project lists registrations and checks them (``amlplatform preflight``) instead
of declaring them.
"""

from dataclasses import dataclass
from typing import Dict, Iterable, Mapping, Optional, Tuple

RESOURCE_PROVIDERS_DOC = "https://learn.microsoft.com/azure/azure-resource-manager/management/resource-providers-and-types"
DEFAULT_REGISTERED_DOC = ("https://learn.microsoft.com/azure/azure-resource-manager/management/"
                          "azure-services-resource-providers")
PREVIEW_FEATURES_DOC = "https://learn.microsoft.com/azure/azure-resource-manager/management/preview-features"
AML_PROVIDERS_DOC = "https://learn.microsoft.com/azure/machine-learning/how-to-manage-workspace#resource-provider-errors"

# The REST calls that read the state (azure-rest-api-specs: Microsoft.Resources/stable/2021-04-01
# resources.json "Providers_List", GET /subscriptions/{id}/providers, pageable by nextLink;
# Microsoft.Features/stable/2021-07-01 features.json "Features_Get").
PROVIDERS_API_VERSION = "2021-04-01"
FEATURES_API_VERSION = "2021-07-01"

# Registered by default in every subscription (azure-services-resource-providers, footnote 1 rows,
# those a deploy of this project touches): role assignments and locks (Microsoft.Authorization),
# feature registrations (Microsoft.Features), resource groups and deployments (Microsoft.Resources).
REGISTERED_BY_DEFAULT = frozenset({"microsoft.authorization", "microsoft.features", "microsoft.resources"})

# Provider registrationState values (Providers_Get example "Registering"; az provider show); a
# feature's properties.state (SubscriptionFeatureRegistrationState in azure-native / the 2021-07-01
# spec): NotSpecified, NotRegistered, Pending (waits for a manual approval by Microsoft), Registering,
# Registered, Unregistering, Unregistered. The spec's own list example answers "registered" in lower
# case: compare without case.
REGISTERED = "registered"
IN_PROGRESS = frozenset({"registering", "pending"})


@dataclass(frozen=True)
class Requirement:
    """One registration: a provider namespace, or a preview feature of one (``feature`` set)."""

    namespace: str  # as Azure spells it, e.g. Microsoft.KubernetesConfiguration
    feature: Optional[str] = None  # a preview feature name (Microsoft.Features), e.g. EncryptionAtHost
    why: str = ""
    doc: str = RESOURCE_PROVIDERS_DOC

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.feature}" if self.feature else self.namespace

    @property
    def by_default(self) -> bool:
        return self.feature is None and self.namespace.lower() in REGISTERED_BY_DEFAULT

    def register_command(self) -> str:
        """The az CLI command that registers it. A feature also needs its provider registered again
        once it is Registered: ``az feature register`` itself says "Once the feature '...' is
        registered, invoking 'az provider register -n <namespace>' is required to get the change
        propagated" (quoted in Azure/azure-cli#29263), and enable-host-encryption does the same."""
        if self.feature:
            return (f"az feature register --namespace {self.namespace} --name {self.feature} && "
                    f"az provider register --namespace {self.namespace}")
        return f"az provider register --namespace {self.namespace}"

    def show_command(self) -> str:
        """The az CLI command that shows its state (what the preflight check reads over REST)."""
        if self.feature:
            return (f"az feature show --namespace {self.namespace} --name {self.feature} "
                    "--query properties.state")
        return f"az provider show --namespace {self.namespace} --query registrationState"


def namespace_of(arm_type: str) -> Optional[str]:
    """The provider namespace of an ARM resource type (``Microsoft.Storage/storageAccounts`` ->
    ``Microsoft.Storage``); None for anything that is not ``<namespace>/<type>``."""
    head, sep, rest = str(arm_type or "").partition("/")
    if not sep or not rest or "." not in head or head.startswith("("):
        return None
    return head


def provider(namespace: str, why: str, doc: str = RESOURCE_PROVIDERS_DOC) -> Requirement:
    return Requirement(namespace, None, why, doc)


_CMK_DOC = "https://learn.microsoft.com/azure/machine-learning/how-to-setup-customer-managed-keys#prerequisites"
_EXTENSION_DOC = "https://learn.microsoft.com/azure/aks/deploy-extensions-az-cli#prerequisites"
_HOST_ENCRYPTION_DOC = "https://learn.microsoft.com/azure/aks/enable-host-encryption"

# feature id -> what it needs beyond the namespaces of the plan's own resource types. The feature
# ids are what review/preflight.py detects in a plan.
FEATURES: Dict[str, Tuple[Requirement, ...]] = {
    # how-to-manage-workspace, "Resource provider errors" (include machine-learning-resource-provider):
    # "the resource providers required by Azure Machine Learning": the workspace's storage and key
    # vault, and the registry the workspace builds images in (made by the service on the first image
    # build when the stack declares none)
    "workspace": (
        provider("Microsoft.MachineLearningServices", "creating the Azure Machine Learning workspace", AML_PROVIDERS_DOC),
        provider("Microsoft.Storage", "the workspace's default storage", AML_PROVIDERS_DOC),
        provider("Microsoft.KeyVault", "the workspace keeps its secrets in a key vault", AML_PROVIDERS_DOC),
        provider("Microsoft.ContainerRegistry", "the workspace builds Docker images in a registry", AML_PROVIDERS_DOC),
    ),
    # same table: "Microsoft.Notebooks: Integrated notebooks on Azure Machine Learning compute instance"
    "compute_instance": (
        provider("Microsoft.Notebooks", "integrated notebooks on a compute instance", AML_PROVIDERS_DOC),
    ),
    # how-to-setup-customer-managed-keys, Prerequisites: "The following Azure resource providers must
    # be registered": Microsoft.MachineLearningServices, Microsoft.Storage, Microsoft.KeyVault,
    # Microsoft.DocumentDB (the Cosmos DB instance that logs the workspace's metadata), Microsoft.Search
    # (indexing for the workspace)
    "customer_managed_key": (
        provider("Microsoft.DocumentDB", "a customer-managed key workspace keeps its metadata in Azure Cosmos DB",
                 _CMK_DOC),
        provider("Microsoft.Search", "a customer-managed key workspace indexes its metadata with Azure AI Search",
                 _CMK_DOC),
        provider("Microsoft.Storage", "a customer-managed key workspace keeps metadata in Azure Storage", _CMK_DOC),
        provider("Microsoft.KeyVault", "the customer-managed key is in a key vault", _CMK_DOC),
    ),
    # how-to-managed-network, Prerequisites: "The Microsoft.Network resource provider must be registered
    # for your Azure subscription. This resource provider is used by the workspace when creating private
    # endpoints for the managed virtual network."
    "managed_network": (
        provider("Microsoft.Network", "the workspace creates the managed network's private endpoints",
                 "https://learn.microsoft.com/azure/machine-learning/how-to-managed-network#prerequisites"),
    ),
    # deploy-extensions-az-cli, Prerequisites: "The Microsoft.ContainerService and
    # Microsoft.KubernetesConfiguration resource providers must be registered on your subscription"
    "kubernetes_extension": (
        provider("Microsoft.KubernetesConfiguration", "cluster extensions (the Azure ML extension)", _EXTENSION_DOC),
        provider("Microsoft.ContainerService", "cluster extensions on AKS", _EXTENSION_DOC),
    ),
    # enable-host-encryption: "make sure the EncryptionAtHost feature is enabled on the subscription":
    # az feature register --namespace Microsoft.Compute --name EncryptionAtHost, wait for Registered,
    # then refresh the provider registration (az provider register --namespace Microsoft.Compute)
    "encryption_at_host": (
        Requirement("Microsoft.Compute", "EncryptionAtHost", "node pools with encryption at host",
                    _HOST_ENCRYPTION_DOC),
        provider("Microsoft.Compute", "the feature reaches the provider by registering it again", _HOST_ENCRYPTION_DOC),
    ),
}


def is_registered(state: Optional[str]) -> bool:
    return str(state or "").lower() == REGISTERED


def in_progress(state: Optional[str]) -> bool:
    return str(state or "").lower() in IN_PROGRESS


def merge(requirements: Iterable[Requirement]) -> Dict[str, Requirement]:
    """One requirement per key (the first row's reason and doc), in the order given."""
    out: Dict[str, Requirement] = {}
    for r in requirements:
        out.setdefault(r.key, r)
    return out


def states_by_namespace(providers_answer: Iterable[Mapping]) -> Dict[str, str]:
    """``{namespace lower case: registrationState}`` from the ``value`` items of Providers_List."""
    out: Dict[str, str] = {}
    for item in providers_answer:
        if isinstance(item, Mapping) and isinstance(item.get("namespace"), str):
            out[item["namespace"].lower()] = str(item.get("registrationState") or "")
    return out


__all__ = ["FEATURES", "FEATURES_API_VERSION", "PROVIDERS_API_VERSION", "REGISTERED_BY_DEFAULT", "Requirement",
           "in_progress", "is_registered", "merge", "namespace_of", "provider", "states_by_namespace"]
