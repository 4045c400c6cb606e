"""Azure service rules the components check before declaring anything (and the settings check
before that, with the same wording): pure functions returning a list of problems.
"""

import re
from typing import List, Mapping

# ---------------------------------------------------------------- Azure ML endpoint names
# Begin with a letter, 3-32 characters, letters and digits with single dashes
# (learn.microsoft.com/azure/machine-learning/how-to-manage-quotas, "Azure Machine Learning online
# endpoints and batch endpoints").
_ENDPOINT_NAME = re.compile(r"[A-Za-z](?:[A-Za-z0-9]|-(?=[A-Za-z0-9]))*")


def endpoint_name_problems(value: str) -> List[str]:
    """Problems of an endpoint or deployment name (the Azure ML rule above); empty when it is valid."""
    problems = []
    if not 3 <= len(value) <= 32:
        problems.append(f"must be 3-32 characters long, has {len(value)}")
    if not _ENDPOINT_NAME.fullmatch(value):
        problems.append("must begin with a letter and hold only letters, digits and single dashes, "
                        "not ending with a dash (Azure ML endpoint naming rule)")
    return problems


# ---------------------------------------------------------------- the Azure ML cluster extension

def _has_certificate(extension: Mapping) -> bool:
    return bool(extension.get("ssl_secret")) or (
        extension.get("ssl_cert_pem") is not None and extension.get("ssl_key_pem") is not None) or (
        bool(extension.get("ssl_cert_config_key")) and bool(extension.get("ssl_key_config_key")))


def extension_problems(extension: Mapping) -> List[str]:
    """Problems of an extension block: HTTPS scoring needs a certificate, which the az CLI also
    refuses to go without ("Provide ssl certificate and key. Otherwise explicitly allow insecure
    connection")."""
    problems = []
    insecure = extension.get("allow_insecure_connections", False)
    pem = [k for k in ("ssl_cert_pem", "ssl_key_pem") if extension.get(k) is not None]
    keys = [k for k in ("ssl_cert_config_key", "ssl_key_config_key") if extension.get(k)]
    if len(pem) == 1:
        problems.append("ssl_cert_pem and ssl_key_pem go together")
    if len(keys) == 1:
        problems.append("ssl_cert_config_key and ssl_key_config_key go together")
    if pem and keys:
        problems.append("give ssl_cert_pem/ssl_key_pem or ssl_cert_config_key/ssl_key_config_key, not both")
    pem = pem + keys
    if extension.get("ssl_secret") and pem:
        problems.append("give ssl_secret or ssl_cert_pem/ssl_key_pem, not both")
    if not insecure and not _has_certificate(extension):
        problems.append("allow_insecure_connections false (HTTPS scoring) needs a certificate: ssl_secret "
                        "(a Kubernetes TLS secret in the azureml namespace) or ssl_cert_pem + ssl_key_pem")
    if not insecure and _has_certificate(extension) and not extension.get("ssl_cname"):
        problems.append("a scoring certificate needs ssl_cname (the name the certificate is issued for)")
    if insecure and (extension.get("ssl_secret") or pem or extension.get("ssl_cname")):
        problems.append("ssl_* settings are only used with allow_insecure_connections false")
    return problems


__all__ = ["endpoint_name_problems", "extension_problems"]
