"""``amlplatform preflight``: which registrations a stack's plan needs (offline), and what Azure
answers about them (a loopback Resource Manager answering with the spec examples' shapes)."""

import copy
import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from fake_arm import SUBSCRIPTION, FakeArm, client, recorded  # noqa: E402

from amlplatform.azure import providers as facts  # noqa: E402
from amlplatform.errors import UserError  # noqa: E402
from amlplatform.review import preflight  # noqa: E402

# ------------------------------------------------------------------ the table of facts


def test_every_feature_row_cites_its_azure_page_and_says_why():
    for feature, rows in facts.FEATURES.items():
        assert rows, feature
        for r in rows:
            assert r.doc.startswith("https://learn.microsoft.com/"), (feature, r)
            assert r.why and r.namespace.startswith("Microsoft."), (feature, r)


@pytest.mark.parametrize("arm_type,namespace", [
    ("Microsoft.Storage/storageAccounts", "Microsoft.Storage"),
    ("Microsoft.KubernetesConfiguration/extensions", "Microsoft.KubernetesConfiguration"),
    ("Microsoft.MachineLearningServices/workspaces/onlineEndpoints/deployments", "Microsoft.MachineLearningServices"),
    ("(generic: {resourceProviderNamespace}/{parentResourcePath}/{resourceType})", None),
    ("storageAccounts", None),
    ("", None),
])
def test_a_resource_types_namespace_is_its_provider(arm_type, namespace):
    assert facts.namespace_of(arm_type) == namespace


def test_commands_register_a_provider_and_a_feature_then_its_provider_again():
    assert facts.provider("Microsoft.Search", "x").register_command() == "az provider register --namespace Microsoft.Search"
    feature = facts.FEATURES["encryption_at_host"][0]
    assert feature.key == "Microsoft.Compute/EncryptionAtHost"
    assert feature.register_command() == ("az feature register --namespace Microsoft.Compute --name EncryptionAtHost"
                                          " && az provider register --namespace Microsoft.Compute")
    assert feature.show_command().endswith("--query properties.state")
    assert facts.provider("Microsoft.Authorization", "x").by_default
    assert not facts.provider("Microsoft.Network", "x").by_default


def test_states_compare_without_case_as_the_spec_example_spells_them():
    example = recorded("listProviderFeatures.json")["value"]
    assert [facts.is_registered(f["properties"]["state"]) for f in example] == [True, False]
    assert facts.in_progress("Registering") and facts.in_progress("Pending") and not facts.in_progress("Registered")


# ------------------------------------------------------------------ what a plan needs


def _keys(report):
    return {n.requirement.key for n in report.needs}


def test_prod_needs_what_its_features_need_beyond_its_resource_types(stack_graph):
    report = preflight.preflight_graph(stack_graph("prod"))
    keys = _keys(report)
    # the customer-managed key workspace (how-to-setup-customer-managed-keys)
    assert {"Microsoft.DocumentDB", "Microsoft.Search"} <= keys
    # the Azure ML extension on AKS, host encryption on its node pools
    assert {"Microsoft.KubernetesConfiguration", "Microsoft.ContainerService", "Microsoft.Compute/EncryptionAtHost",
            "Microsoft.Compute"} <= keys
    # resource types name their own provider
    assert {"Microsoft.MachineLearningServices", "Microsoft.Network", "Microsoft.Insights",
            "Microsoft.OperationalInsights", "Microsoft.ManagedIdentity"} <= keys
    by_key = {n.requirement.key: n for n in report.needs}
    assert by_key["Microsoft.DocumentDB"].reasons == {
        "a customer-managed key workspace keeps its metadata in Azure Cosmos DB": ["ml-workspace-workspace"]}
    assert report.unknown_types == []
    assert not report.checked and report.ok and all(not n.checked for n in report.needs)


def test_dev_needs_no_key_no_extension_and_says_nothing_is_checked(stack_graph):
    report = preflight.preflight_graph(stack_graph("dev"))
    keys = _keys(report)
    assert "Microsoft.DocumentDB" not in keys and "Microsoft.KubernetesConfiguration" not in keys
    assert "Microsoft.Compute/EncryptionAtHost" not in keys
    assert {"Microsoft.MachineLearningServices", "Microsoft.Storage", "Microsoft.KeyVault"} <= keys
    text = report.render()
    assert "offline" in text and "none checked" in text
    assert "az provider register --namespace Microsoft.MachineLearningServices" in text
    # registered by default: listed, never a command
    assert "registered by default" in text
    assert "az provider register --namespace Microsoft.Resources" not in text


def test_every_azure_native_type_of_the_shipped_stacks_has_a_known_provider(shipped_graph):
    assert preflight.preflight_graph(shipped_graph).unknown_types == []


def test_a_type_the_preflight_cannot_place_is_named_not_dropped(stack_graph):
    g = copy.deepcopy(stack_graph("dev"))
    res = copy.deepcopy(g.resources[-1])
    res.type, res.urn, res.custom = "azure-native:somewhere:Thing", res.urn + "-thing", True
    g.resources.append(res)
    report = preflight.preflight_graph(g)
    assert report.unknown_types == ["azure-native:somewhere:Thing"]
    assert "azure-native:somewhere:Thing" in report.render()


# ------------------------------------------------------------------ what Azure answers

REGISTERED_ALL = {ns: "Registered" for ns in (
    "Microsoft.Authorization", "Microsoft.Compute", "Microsoft.ContainerRegistry", "Microsoft.ContainerService",
    "Microsoft.DocumentDB", "Microsoft.Features", "Microsoft.Insights", "Microsoft.KeyVault",
    "Microsoft.KubernetesConfiguration", "Microsoft.MachineLearningServices", "Microsoft.ManagedIdentity",
    "Microsoft.Network", "Microsoft.Notebooks", "Microsoft.OperationalInsights", "Microsoft.Resources",
    "Microsoft.Search", "Microsoft.Storage")}


@pytest.fixture
def fake_arm(tmp_path):
    fakes = []

    def make(**kwargs):
        fake = FakeArm(tmp_path / f"cert{len(fakes)}", **kwargs).start()
        fakes.append(fake)
        return fake

    yield make
    for fake in fakes:
        fake.stop()


def test_check_reads_every_page_and_each_feature_and_names_what_is_missing(stack_graph, fake_arm):
    states = {**REGISTERED_ALL, "Microsoft.KubernetesConfiguration": "NotRegistered",
              "Microsoft.Search": "Registering", "Microsoft.DocumentDB": "Unregistered"}
    states.pop("Microsoft.Notebooks")  # not in the subscription's list at all
    fake = fake_arm(providers=states, features={"Microsoft.Compute/EncryptionAtHost": "Pending"}, page_size=4)
    report = preflight.check(preflight.preflight_graph(stack_graph("prod")), client(fake))

    assert report.checked and report.subscription == SUBSCRIPTION and not report.ok
    by_key = {n.requirement.key: n for n in report.needs}
    assert by_key["Microsoft.Storage"].state == "Registered" and by_key["Microsoft.Storage"].registered
    assert {n.requirement.key: n.state for n in report.missing} == {
        "Microsoft.KubernetesConfiguration": "NotRegistered", "Microsoft.Search": "Registering",
        "Microsoft.DocumentDB": "Unregistered", "Microsoft.Notebooks": preflight.ABSENT,
        "Microsoft.Compute/EncryptionAtHost": "Pending"}
    # every page of Providers_List was read (16 providers, 4 a page), then one Features_Get
    assert len(states) == 16
    lists = [r for r in fake.requests if r["path"].endswith("/providers")]
    assert [r["query"].get("$skiptoken") for r in lists] == [None, "4", "8", "12"]
    assert all(r["query"]["api-version"] == "2021-04-01" for r in lists)
    [feature] = [r for r in fake.requests if "/features/" in r["path"]]
    assert feature["path"].endswith("/providers/Microsoft.Features/providers/Microsoft.Compute/features/EncryptionAtHost")
    assert feature["query"]["api-version"] == "2021-07-01"
    text = report.render()
    assert "FAIL: 5 registrations not Registered" in text
    assert "az provider register --namespace Microsoft.KubernetesConfiguration" in text
    assert "az provider register --namespace Microsoft.Storage" not in text  # registered: no command
    # in progress: look again, do not register again
    assert "az provider show --namespace Microsoft.Search --query registrationState" in text
    assert "az feature show --namespace Microsoft.Compute --name EncryptionAtHost --query properties.state" in text


def test_check_passes_when_azure_answers_registered_in_any_case(stack_graph, fake_arm):
    states = {ns: ("registered" if i % 2 else "Registered") for i, ns in enumerate(REGISTERED_ALL)}
    fake = fake_arm(providers=states, features={"Microsoft.Compute/EncryptionAtHost": "registered"})
    report = preflight.check(preflight.preflight_graph(stack_graph("prod")), client(fake))
    assert report.ok and report.missing == []
    assert report.render().rstrip().endswith("OK: every registration is Registered")
    assert report.to_dict()["ok"] is True


def test_a_next_link_to_another_host_is_refused(stack_graph, fake_arm):
    fake = fake_arm(providers=REGISTERED_ALL, features={}, page_size=2, next_host="https://evil.example")
    with pytest.raises(UserError, match="nextLink"):
        preflight.check(preflight.preflight_graph(stack_graph("dev")), client(fake))


def test_an_unknown_feature_is_an_error_naming_the_call(stack_graph, fake_arm):
    fake = fake_arm(providers=REGISTERED_ALL, features={})
    with pytest.raises(UserError, match="read feature Microsoft.Compute/EncryptionAtHost.*404"):
        preflight.check(preflight.preflight_graph(stack_graph("prod")), client(fake))


def test_a_bad_subscription_id_is_refused_before_any_call():
    with pytest.raises(UserError, match="GUID"):
        preflight.RegistrationClient("my-subscription")


# ------------------------------------------------------------------ the command line


def _run_cli(argv, capsys):
    from amlplatform.cli import main

    code = main(argv)
    out = capsys.readouterr()
    return code, out.out, out.err


def test_cli_offline_lists_and_exits_0(project_root, capsys):
    code, out, _ = _run_cli(["preflight", "--stack", "prod", "--project-dir", str(project_root), "--format", "json"],
                            capsys)
    assert code == 0
    data = json.loads(out)
    assert data["checked"] is False and data["ok"] is None
    by_key = {(n["namespace"], n["feature"]): n for n in data["needs"]}
    assert by_key[("Microsoft.Search", None)]["register"] == "az provider register --namespace Microsoft.Search"
    assert all(n["state"] is None for n in data["needs"])


def test_cli_check_exits_1_on_a_missing_registration_and_0_when_all_are_there(project_root, fake_arm, monkeypatch,
                                                                                capsys):
    from amlplatform.exit_codes import EXIT_FAILED, EXIT_OK

    missing = fake_arm(providers={**REGISTERED_ALL, "Microsoft.Notebooks": "NotRegistered"}, features={})
    monkeypatch.setattr(preflight, "client_for", lambda subscription: client(missing))
    code, out, _ = _run_cli(["preflight", "--stack", "dev", "--project-dir", str(project_root),
                             "--subscription", SUBSCRIPTION], capsys)
    assert code == EXIT_FAILED and "Microsoft.Notebooks" in out and "NotRegistered" in out

    fine = fake_arm(providers=REGISTERED_ALL, features={})
    monkeypatch.setattr(preflight, "client_for", lambda subscription: client(fine))
    monkeypatch.setenv("AZURE_SUBSCRIPTION_ID", SUBSCRIPTION)
    code, out, _ = _run_cli(["preflight", "--stack", "dev", "--project-dir", str(project_root), "--check"], capsys)
    assert code == EXIT_OK and "OK: every registration is Registered" in out


def test_cli_check_without_a_subscription_says_where_it_looked(project_root, monkeypatch, capsys):
    monkeypatch.delenv("AZURE_SUBSCRIPTION_ID", raising=False)
    code, _, err = _run_cli(["preflight", "--stack", "dev", "--project-dir", str(project_root), "--check"], capsys)
    assert code == 2 and "azure-native:subscriptionId" in err and "AZURE_SUBSCRIPTION_ID" in err


def test_scan_shows_the_registrations_as_information_never_as_a_result(stack_graph):
    from amlplatform.review import scan

    report = scan.scan_graph(stack_graph("prod"), checkov=None)
    assert "Microsoft.Search" in report.registrations and "Microsoft.Compute/EncryptionAtHost" in report.registrations
    assert "Microsoft.Resources" not in report.registrations  # registered by default
    assert not any(f.scanner == "preflight" or f.rule in report.registrations for f in report.findings)
    text = report.render()
    assert "not checked offline; `amlplatform preflight --stack prod --check` checks them" in text
    data = report.to_dict()
    assert data["registrations"]["checked"] is False and "Microsoft.DocumentDB" in data["registrations"]["needed"]


def test_check_takes_the_subscription_the_stack_file_names(make_stack):
    project = make_stack({"azure-native:subscriptionId": SUBSCRIPTION, "azure-native:location": "westeurope"},
                         name="own")
    assert preflight.stack_subscription("own", project) == SUBSCRIPTION
    other = make_stack({"azure-native:location": "westeurope"}, name="other")
    assert preflight.stack_subscription("other", other) is None
