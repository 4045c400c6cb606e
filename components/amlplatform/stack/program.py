"""The stack program: the validated stack file -> the ``MLPlatform`` component -> stack outputs.

``infra/__main__.py`` calls :func:`run`. Every platform decision is the component's
(:mod:`amlplatform.iac.platform`); this program only reads what a component cannot (Pulumi config,
the project's files, secret config) and passes it on, so the same mapping is what ``pulumi up``
deploys and what ``amlplatform plan`` evaluates offline.
"""

from typing import Any, Dict, Mapping, Optional

import pulumi

from amlplatform.errors import UserError, redact
from amlplatform import MLPlatform, MLPlatformArgs
from amlplatform.settings import StackSettings, settings_from_pulumi
from amlplatform.stack.inputs import datastore_secrets, kubernetes_tls, project_dir, read_project_files
from amlplatform.stack.secrets import mark_secrets, secret_if_contains

PLATFORM_NAME = "ml"


def platform_component_args(settings: StackSettings, files: Mapping[str, str],
                            secrets: Optional[Mapping[str, Any]] = None,
                            tls: Optional[Mapping[str, Any]] = None) -> MLPlatformArgs:
    """``MLPlatformArgs`` of a validated stack: its settings as the stack file gives them (only what
    the file sets; the component applies the same defaults), the files they name, the datastores'
    credentials, and which of the values are secret config (names made from them use a hash)."""
    args: Dict[str, Any] = settings.model_dump(mode="json", exclude_unset=True)
    args["location"] = settings.location  # may come from azure-native:location, not the file
    if files:
        args["files"] = dict(files)
    if secrets:
        args["datastore_secrets"] = dict(secrets)
    if tls:
        args["kubernetes_tls"] = dict(tls)
    if settings._secret_texts:
        args["secret_values"] = list(settings._secret_texts)
    return args  # type: ignore[return-value]


def declare(settings: StackSettings, files: Optional[Mapping[str, str]] = None) -> Dict[str, Any]:
    """Declare every resource of the stack; returns the stack outputs.

    ``files`` maps the project-relative paths the settings name (conda files, setup scripts) to
    their content; by default they are read from the project folder."""
    if files is None:
        files = read_project_files(settings, project_dir())
    platform = MLPlatform(PLATFORM_NAME, platform_component_args(settings, files, datastore_secrets(settings),
                                                                   kubernetes_tls(settings)))
    outputs: Dict[str, Any] = {
        "location": settings.location,
        "resource_group_name": platform.resource_group_name,
        "workspace_id": platform.workspace_id,
        "workspace_name": platform.workspace_name,
        "discovery_url": platform.discovery_url,
        "mlflow_tracking_uri": platform.mlflow_tracking_uri,
        "workspace_principal_id": platform.principal_id,
        "storage_account_id": platform.storage_account_id,
        "key_vault_id": platform.key_vault_id,
        "app_insights_id": platform.app_insights_id,
        "log_analytics_id": platform.log_analytics_id,
        "container_registry_id": platform.container_registry_id,
        "registry_login_server": platform.registry_login_server,
        "compute_ids": platform.compute_id_inputs,
    }
    if platform.network is not None:
        outputs.update(vnet_id=platform.network.vnet_id,
                       private_endpoints_subnet_id=platform.network.private_endpoints_subnet_id)
    outputs.update(platform.serving)
    return outputs


def run() -> None:
    """Entry point of ``infra/__main__.py``: read, validate, declare, export."""
    secrets: list = []
    try:
        settings, secrets = settings_from_pulumi()
        files = read_project_files(settings, project_dir())
    except UserError as exc:
        # RunError prints the message without a Python traceback, before any resource exists;
        # secret values never (settings_from_pulumi redacts its own problems, this the rest)
        raise pulumi.RunError(redact(str(exc), secrets)) from None
    mark_secrets(secrets)
    try:
        outputs = declare(settings, files)
    except ValueError as exc:
        # components check their arguments (names, combinations) before declaring children
        raise pulumi.RunError(redact(f"invalid settings: {exc}", secrets)) from None
    for key, value in outputs.items():
        pulumi.export(key, secret_if_contains(value, secrets))
