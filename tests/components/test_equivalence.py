"""The shipped program is MLPlatform's first consumer, nothing more: a program of one's own that
reads a stack file and passes it to the public component declares the very same graph - types,
names, URNs, parents, inputs, dependencies, options - for each shipped stack."""

import os
import runpy
from pathlib import Path

import pytest

from amlplatform.offline.engine import evaluate

CONSUMER = Path(__file__).resolve().parents[1] / "fixtures" / "platform_consumer" / "__main__.py"


@pytest.mark.parametrize("stack", ["dev", "staging", "prod"])
def test_a_consumer_of_the_component_gets_the_shipped_graph(stack, stack_graph, project_root, monkeypatch):
    monkeypatch.setenv("PLATFORM_STACK_FILE", str(project_root / "stacks" / f"Pulumi.{stack}.yaml"))
    consumer = evaluate(lambda: runpy.run_path(str(CONSUMER), run_name="__main__"),
                        project="amlplatform", stack=stack)
    shipped = stack_graph(stack)
    assert [r.urn for r in consumer.resources] == [r.urn for r in shipped.resources]
    for ours, theirs in zip(consumer.resources, shipped.resources):
        assert ours == theirs, ours.urn
    assert consumer.aliases == shipped.aliases


def test_the_component_refuses_bad_arguments_naming_the_field():
    from amlplatform import MLPlatform
    from amlplatform.iac._base import ComponentArgsError

    args = {"location": "westeurope", "naming": {"workload": "fraud", "environment": "dev"},
            "storage": {"skuu": "Standard_LRS"}, "clusters": [{"name": "cpu", "max_nodes": "many"}]}
    with pytest.raises(ComponentArgsError) as info:
        evaluate(lambda: MLPlatform("ml", args), project="p", stack="s")
    text = str(info.value)
    assert "args.storage.skuu: is not a known setting (did you mean 'sku'?)" in text
    assert "args.clusters[0].max_nodes" in text


def test_the_component_needs_the_content_of_the_files_its_arguments_name():
    from amlplatform import MLPlatform
    from amlplatform.iac._base import ComponentArgsError

    args = {"location": "westeurope", "naming": {"workload": "fraud", "environment": "dev"},
            "workspace": {"public_network_access": "Enabled"},
            "environments": [{"name": "train", "conda_file": "envs/train.yml"}]}
    with pytest.raises(ComponentArgsError, match=r"args.files: needs the content of 'envs/train.yml' "
                                                 r"\(environments\[0\].conda_file\)"):
        evaluate(lambda: MLPlatform("ml", args), project="p", stack="s")


def test_a_private_platform_without_a_network_is_refused_naming_the_fix():
    """The component's defaults are the stack file's: a private workspace, whose dependencies follow
    it; with no network to put their private endpoints in, nothing could reach them."""
    from amlplatform import MLPlatform
    from amlplatform.iac._base import ComponentArgsError

    with pytest.raises(ComponentArgsError) as info:
        evaluate(lambda: MLPlatform("ml", {"location": "westeurope",
                                           "naming": {"workload": "fraud", "environment": "dev"}}),
                 project="p", stack="s")
    assert "Set network.vnet or network.existing_subnets, or workspace.public_network_access: Enabled" in str(
        info.value)


def test_a_public_platform_has_reachable_storage_and_a_private_one_gets_its_private_path():
    from amlplatform import MLPlatform

    naming = {"workload": "fraud", "environment": "dev"}
    public = evaluate(lambda: MLPlatform("ml", {"location": "westeurope", "naming": naming, "workspace": {
        "public_network_access": "Enabled", "managed_network": "Disabled"}}), project="p", stack="s")
    account = public.one("azure-native:storage:StorageAccount").inputs
    assert (account["publicNetworkAccess"], account["networkRuleSet"]["defaultAction"]) == ("Enabled", "Allow")
    private = evaluate(lambda: MLPlatform("ml", {"location": "westeurope", "naming": naming, "network": {
        "vnet": {"address_space": ["10.60.0.0/24"], "private_endpoints_subnet": "10.60.0.0/26"}}}),
        project="p", stack="s")
    account = private.one("azure-native:storage:StorageAccount")
    assert account.inputs["publicNetworkAccess"] == "Disabled"
    groups = sorted(g for pe in private.of_type("azure-native:network:PrivateEndpoint")
                    for c in pe.inputs["privateLinkServiceConnections"] for g in c["groupIds"])
    # azuremonitor: a private platform's monitoring sits behind an Azure Monitor Private Link Scope
    assert groups == ["amlworkspace", "azuremonitor", "blob", "file", "vault"]


def test_pulumis_schema_analyzer_accepts_the_component():
    """Other languages see MLPlatform through the schema Pulumi infers from its Args and outputs."""
    from pulumi.provider.experimental.analyzer import Analyzer

    from amlplatform import MLPlatform

    found = Analyzer("amlplatform").analyze([MLPlatform])["component_definitions"]["MLPlatform"]
    assert {"location", "naming", "network", "clusters", "datastoreSecrets"} <= set(found.inputs)
    assert {"workspaceId", "computeIds", "storageAccountId"} <= set(found.outputs)


def test_a_nested_platform_carries_no_root_alias():
    """Only a platform at the stack root can be the successor of the program's root resources."""
    import pulumi

    from amlplatform import MLPlatform

    class Team(pulumi.ComponentResource):
        def __init__(self, name):
            super().__init__("team:index:Team", name)
            MLPlatform("ml", {"location": "westeurope", "naming": {"workload": "fraud", "environment": "dev"},
                              "workspace": {"public_network_access": "Enabled"}},
                       opts=pulumi.ResourceOptions(parent=self))

    nested = evaluate(lambda: Team("team"), project="p", stack="s")
    assert nested.aliases == {}
    root = evaluate(lambda: MLPlatform("ml", {"location": "westeurope", "naming": {
        "workload": "fraud", "environment": "dev"}, "workspace": {"public_network_access": "Enabled"}}),
        project="p", stack="s")
    assert root.aliases["urn:pulumi:s::p::amlplatform:index:MLPlatform$azure-native:resources:ResourceGroup"
                        "::resource-group"] == ["urn:pulumi:s::p::azure-native:resources:ResourceGroup::resource-group"]
