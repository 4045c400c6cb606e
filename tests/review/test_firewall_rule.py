"""AMLD-014: a storage account or key vault whose firewall denies everyone needs a private path
(an IP rule, a VNet rule, a private endpoint, or the managed network of the workspace that uses it).
The rule judges a user's own program exactly as a shipped stack."""

from pulumi_azure_native import storage

from amlplatform import MLWorkspace, WorkspaceKeyVault, WorkspaceStorage
from amlplatform.offline.engine import evaluate
from amlplatform.review import scan
from amlplatform.review.deployability import run_rules

COORDS = {"resource_group_name": "rg-fw", "location": "westeurope"}
NAMES = {"storage_account": "stfw", "key_vault": "kv-fw", "container_registry": "crfw12345",
         "workspace": "mlw-fw", "log_analytics": "log-fw", "app_insights": "appi-fw"}


def _findings(program):
    return [(f.resource, f.message) for f in run_rules(evaluate(program, project="p", stack="s"), ["AMLD-014"])]


def test_a_denying_firewall_without_any_path_fires():
    def program():
        WorkspaceStorage("raw", {**COORDS, "account_name": "stfwraw", "network_default_action": "Deny"})
        WorkspaceKeyVault("kv", {**COORDS, "vault_name": "kv-fw-raw", "tenant_id": "t",
                                 "network_default_action": "Deny"})

    found = _findings(program)
    assert [name for name, _ in found] == ["kv-vault", "raw-account"]
    assert "no IP rule, no VNet rule, no private endpoint" in found[0][1]
    assert "key vault's firewall" in found[0][1] and "storage account's firewall" in found[1][1]


def test_an_ip_rule_or_a_vnet_rule_is_a_path():
    def program():
        for name, rules in (("ip", {"ip_rules": [{"i_p_address_or_range": "203.0.113.0/24"}]}),
                            ("vnet", {"virtual_network_rules": [{"virtual_network_resource_id": "/subscriptions/s/"
                                      "resourceGroups/r/providers/Microsoft.Network/virtualNetworks/v/subnets/a"}]})):
            storage.StorageAccount(name, account_name=f"stfw{name}", kind="StorageV2", sku={"name": "Standard_ZRS"},
                                   network_rule_set={"default_action": "Deny", **rules}, **COORDS)

    assert _findings(program) == []


def test_the_workspaces_managed_network_is_the_path_to_its_own_storage_and_vault():
    args = {**COORDS, "tenant_id": "t", "subscription_id": "s", "names": NAMES,
            "storage": {"network_default_action": "Deny"}, "key_vault": {"network_default_action": "Deny"}}
    assert _findings(lambda: MLWorkspace("fw", {**args, "workspace": {"managed_network": "AllowInternetOutbound"}})) == []
    found = _findings(lambda: MLWorkspace("fw", {**args, "workspace": {"managed_network": "Disabled"}}))
    assert [name for name, _ in found] == ["fw-keyvault-vault", "fw-storage-account"]


def test_the_bare_components_defaults_do_not_fire():
    def program():
        MLWorkspace("fw", {**COORDS, "tenant_id": "t", "subscription_id": "s", "names": NAMES,
                           "workspace": {"managed_network": "Disabled"}})
        WorkspaceStorage("raw", {**COORDS, "account_name": "stfwraw"})

    assert _findings(program) == []


def test_scan_of_a_users_own_project_reports_it(tmp_path):
    project = tmp_path / "own"
    project.mkdir()
    (project / "Pulumi.yaml").write_text("name: own\nruntime: python\n")
    (project / "__main__.py").write_text(
        "from amlplatform import WorkspaceStorage\n"
        "WorkspaceStorage('raw', {'resource_group_name': 'rg-own', 'location': 'westeurope',\n"
        "                         'account_name': 'stownraw', 'network_default_action': 'Deny'})\n")
    report = scan.scan_stack("dev", project_dir=project, checkov=None, require_checkov=False)
    found = [(f.rule, f.resource, f.result) for f in report.findings if f.scanner == "deployability"
             and f.result != scan.PASSED]
    # (AMLD-002 too: shared keys are off and nobody holds a blob data role on it)
    assert ("AMLD-014", "raw-account", scan.FAILED) in found
    fixed = project / "__main__.py"
    fixed.write_text(fixed.read_text().replace("'network_default_action': 'Deny'", "'network_default_action': 'Allow'"))
    report = scan.scan_stack("dev", project_dir=project, checkov=None, require_checkov=False)
    assert not [f for f in report.findings if f.rule == "AMLD-014" and f.result != scan.PASSED]
