"""What the stack program reads besides the stack file, before declaring anything: the files the
settings name (components never read files) and the datastores' credentials from Pulumi secret
configuration (a credential never comes from plain configuration)."""

import sys
from pathlib import Path
from typing import Dict, List, Optional

import pulumi

from amlplatform.errors import UserError
from amlplatform.iac.platform.compute import needed_files
from amlplatform.spec.platform import StackSettings


def project_dir() -> Path:
    """The folder of ``Pulumi.yaml``: above the running program (``infra/__main__.py``), else the
    working directory."""
    main_file = getattr(sys.modules.get("__main__"), "__file__", None)
    starts = [Path(main_file).resolve().parent] if main_file else []
    starts.append(Path.cwd().resolve())
    for start in starts:
        for folder in (start, *start.parents):
            if (folder / "Pulumi.yaml").is_file():
                return folder
    return Path.cwd()


def project_paths(settings: StackSettings) -> Dict[str, str]:
    """Setting -> project-relative path of every file the settings name."""
    return needed_files(settings)


def read_project_files(settings: StackSettings, root: Path) -> Dict[str, str]:
    """The content of every file the settings name, read at settings time (components never read
    files). A missing file is a :class:`UserError` naming the setting."""
    contents: Dict[str, str] = {}
    problems: List[str] = []
    base = root.resolve()
    for field, rel in project_paths(settings).items():
        path = (base / rel).resolve()
        if base not in path.parents:
            problems.append(f"{field}: {rel!r} must be inside the project folder {base}")
            continue
        try:
            contents[rel] = path.read_text(encoding="utf-8")
        except (FileNotFoundError, IsADirectoryError):
            problems.append(f"{field}: no file {rel!r} in the project folder {base}")
        except UnicodeDecodeError:
            problems.append(f"{field}: {rel!r} is not UTF-8 text")
    if problems:
        raise UserError(f"files named in the stack settings ({len(problems)} problem"
                        f"{'s' if len(problems) != 1 else ''}):", problems)
    return contents


def datastore_secret(settings: StackSettings, index: int) -> Optional[pulumi.Output]:
    """The credential of ``datastores[index]`` from Pulumi *secret* configuration (None when the
    datastore is identity-based). A missing key, or one that is not a secret, is refused naming the
    setting: a credential never comes from plain configuration."""
    from pulumi.runtime.config import get_config, get_config_secret_keys_env, is_config_secret

    ds = settings.datastores[index]
    if ds.auth == "identity" or ds.secret_config_key is None:
        return None
    key = ds.secret_config_key
    namespace, _, name = key.partition(":")
    field = f"datastores[{index}].secret_config_key"
    if get_config(key) is None:  # (Config.get would read a secret in the clear)
        raise ValueError(f"{field}: the stack has no config key {key!r}; set it with "
                         f"`pulumi config set --secret {key} <value>`")
    if not (is_config_secret(key) or key in get_config_secret_keys_env()):
        raise ValueError(f"{field}: config key {key!r} is not a secret; plain values are refused, set it with "
                         f"`pulumi config set --secret {key} <value>`")
    return pulumi.Config(namespace).require_secret(name)


def secret_config(key: str, field: str) -> pulumi.Output:
    """The value of the Pulumi *secret* config key ``key`` (``namespace:name``), which ``field`` names.
    A missing key, or one that is not a secret, is refused naming the setting; the value is never
    echoed."""
    from pulumi.runtime.config import get_config, get_config_secret_keys_env, is_config_secret

    namespace, _, name = key.partition(":")
    if get_config(key) is None:  # (Config.get would read a secret in the clear)
        raise ValueError(f"{field}: the stack has no config key {key!r}; set it with "
                         f"`pulumi config set --secret {key} <value>`")
    if not (is_config_secret(key) or key in get_config_secret_keys_env()):
        raise ValueError(f"{field}: config key {key!r} is not a secret; plain values are refused, set it with "
                         f"`pulumi config set --secret {key} <value>`")
    return pulumi.Config(namespace).require_secret(name)


def kubernetes_tls(settings: StackSettings) -> Dict[str, pulumi.Output]:
    """``<target>/cert`` and ``<target>/key`` -> the scoring certificate and key of each Kubernetes
    target whose extension names them by secret config key (extension.ssl_cert_config_key)."""
    out: Dict[str, pulumi.Output] = {}
    for i, target in enumerate(settings.kubernetes):
        ext = target.extension
        for part, key in (("cert", ext.ssl_cert_config_key), ("key", ext.ssl_key_config_key)):
            if key:
                out[f"{target.name}/{part}"] = secret_config(
                    key, f"kubernetes[{i}].extension.ssl_{part}_config_key")
    return out


def datastore_secrets(settings: StackSettings) -> Dict[str, pulumi.Output]:
    """Datastore name -> credential, for every datastore that is not identity-based."""
    out: Dict[str, pulumi.Output] = {}
    for i, ds in enumerate(settings.datastores):
        secret = datastore_secret(settings, i)
        if secret is not None:
            out[ds.name] = secret
    return out
