"""Deployability rules about what the subscription must hold before a deploy (``AMLD-2xx``).

Registrations of resource providers and preview features are subscription-wide, outside any stack:
``amlplatform preflight`` lists the ones a stack needs and checks them on Azure
(:mod:`amlplatform.review.preflight`, facts in :mod:`amlplatform.azure.providers`). ``amlplatform scan``
shows that list as information (offline, no state is known); the rules here fire on what a plan can
get wrong by itself.
"""

from typing import Any, Iterable

from amlplatform.review.deployability import Finding, rule
from amlplatform.review.deployability import _graph as g


@rule("AMLD-201", reason="a preview feature registration declared as a resource does not work: azure-native refuses "
      "to create it (the feature always exists, pulumi-azure-native#1722) and its PUT returns while the state is "
      "still Registering; register it before the deploy and check it (amlplatform preflight --check)",
      doc="https://learn.microsoft.com/azure/azure-resource-manager/management/preview-features")
def feature_registrations_are_not_stack_resources(graph: Any) -> Iterable[Finding]:
    """A ``features:SubscriptionFeatureRegistration`` in the plan: Features_Get answers 200 for every
    feature, registered or not, so the provider's create-time existence check fails ("cannot create
    already existing resource", pulumi/pulumi-azure-native#1722, open when read); where the PUT does go
    through, it returns with the state Registering and the resources needing the feature fail
    (Azure/terraform-provider-azapi#366). A registration also needs ``*/register/action`` on the
    whole subscription (resource-providers-and-types), which a deployer scoped to a resource group
    does not hold, and it serves every stack of the subscription, not this one."""
    for reg in graph.of_type(g.FEATURE_REGISTRATION):
        namespace = reg.inputs.get("providerNamespace") or "?"
        feature = reg.inputs.get("featureName") or "?"
        yield Finding("AMLD-201", reg.name,
                      f"declares the subscription feature registration {namespace}/{feature}: the first deploy "
                      "fails on it or runs ahead of it. Remove it from the stack; register the feature once, before "
                      f"the deploy: `az feature register --namespace {namespace} --name {feature}`, wait for "
                      f"`az feature show --namespace {namespace} --name {feature} --query properties.state` to "
                      f"answer \"Registered\", then `az provider register --namespace {namespace}`; "
                      f"`amlplatform preflight --stack {graph.stack} --check` checks it")
