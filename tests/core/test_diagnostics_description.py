"""``diagnostics.enabled`` says which resources it switches: every resource the shipped stacks send
logs from must be named in its description (and so in the configuration reference and the JSON schema)."""

from amlplatform.settings.core import DiagnosticsSettings

# resource type -> the words the description must use for it
NAMES = {
    "azure-native:machinelearningservices:Workspace": "workspace",
    "azure-native:keyvault:Vault": "key vault",
    "azure-native:storage:BlobServiceProperties": "blob",
    "fileServices": "file",  # the account's file service: not declared, its id is <account>/fileServices/default
    "azure-native:containerregistry:Registry": "container registry",
    "azure-native:containerservice:ManagedCluster": "AKS",
}


def _sources(graph):
    by_id = {r.id: r for r in graph.resources if r.id}
    out = set()
    for setting in graph.of_type("azure-native:monitor:DiagnosticSetting"):
        uri = setting.inputs["resourceUri"]
        target = by_id.get(uri)
        if target is None and uri.endswith("/fileServices/default"):
            account = by_id.get(uri[: -len("/fileServices/default")])
            assert account is not None and account.type == "azure-native:storage:StorageAccount", uri
            out.add("fileServices")
            continue
        assert target is not None, uri
        out.add(target.type)
    return out


def test_description_names_every_resource_the_setting_switches(shipped_graph):
    sources = _sources(shipped_graph)
    assert sources, "a shipped stack sends no logs"
    model_text = " ".join((DiagnosticsSettings.__doc__ or "").split())
    field_text = DiagnosticsSettings.model_fields["enabled"].description or ""
    for type_ in sources:
        assert type_ in NAMES, f"a new diagnostics source {type_}: name it in DiagnosticsSettings"
        assert NAMES[type_] in model_text and NAMES[type_] in field_text, (type_, model_text, field_text)
