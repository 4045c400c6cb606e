"""An internal package mirror instead of the public package sources (issue 20, supply chain): each
mirror host is an FQDN outbound rule, the public sources are left out (a job could upload to them),
and AMLD-007 accepts the mirror as the place pip and conda install from."""

import copy
from pathlib import Path

import pytest
import yaml

from amlplatform.errors import UserError
from amlplatform.offline.engine import evaluate_stack
from amlplatform.review.deployability import run_rules
from amlplatform.settings import settings_from_config

ROOT = Path(__file__).resolve().parents[2]
PROD = yaml.safe_load((ROOT / "stacks" / "Pulumi.prod.yaml").read_text())["config"]


def _with_outbound(outbound):
    config = copy.deepcopy(PROD)
    config["amlplatform:network"]["outbound"] = {**config["amlplatform:network"]["outbound"], **outbound}
    return config


def test_a_mirror_replaces_the_public_sources_with_its_own_rules(make_stack):
    config = _with_outbound({"package_sources": [], "package_mirrors": ["pkgs.dev.azure.com", "nexus.contoso.com"]})
    project = make_stack(config, name="mirror")
    graph = evaluate_stack("mirror", project_dir=project)
    rules = graph.one("azure-native:machinelearningservices:Workspace").inputs["managedNetwork"]["outboundRules"]
    fqdn = {n: r["destination"] for n, r in rules.items() if r["type"] == "FQDN"}
    assert fqdn == {"pkg-mirror-pkgs-dev-azure-com": "pkgs.dev.azure.com",
                    "pkg-mirror-nexus-contoso-com": "nexus.contoso.com"}
    assert not any("pypi" in d or "anaconda" in d or "pythonhosted" in d for d in fqdn.values())
    assert run_rules(graph, ["AMLD-007"]) == []


def test_no_source_and_no_mirror_still_fails_amld_007(make_stack):
    config = _with_outbound({"package_sources": []})
    project = make_stack(config, name="nothing")
    graph = evaluate_stack("nothing", project_dir=project)
    assert [f.rule_id for f in run_rules(graph, ["AMLD-007"])] == ["AMLD-007"]


@pytest.mark.parametrize("outbound,message", [
    ({"package_sources": ["pypi"], "package_mirrors": ["pkgs.dev.azure.com"]},
     "package_mirrors replace the public package_sources: give one of them"),
    ({"package_sources": [], "package_mirrors": ["not a host"]}, "network.outbound.package_mirrors[0]: string should match pattern"),
])
def test_a_bad_mirror_setting_is_named(outbound, message):
    with pytest.raises(UserError) as err:
        settings_from_config(_with_outbound(outbound))
    assert message in str(err.value) + " ".join(getattr(err.value, "problems", []))
