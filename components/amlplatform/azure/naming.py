"""Physical Azure names: deterministic, rule-checked, overridable.

Every name comes from the stack's workload and environment plus a short stable hash for the
kinds that are globally unique, using the Cloud Adoption Framework prefixes (st, kv, cr, mlw,
log, appi, aks, rg). The same settings always give the same names, so a redeploy never renames
(and so never recreates) a resource. A user may override any name; an override is checked
against the same rule as a generated one.

Pure functions only: no Pulumi, no I/O.
"""

import hashlib
import re
from dataclasses import dataclass
from typing import Callable, Dict, List, Optional


@dataclass(frozen=True)
class NameRule:
    """What Azure accepts for one kind of name."""

    kind: str
    min_len: int
    max_len: int
    pattern: str  # full-match regular expression
    rule: str  # the rule in words, for error messages
    globally_unique: bool = False
    extra: Optional[Callable[[str], Optional[str]]] = None  # returns a problem or None

    def problems(self, name: str) -> List[str]:
        out: List[str] = []
        if not isinstance(name, str):
            return [f"must be a string ({self.rule})"]
        if not self.min_len <= len(name) <= self.max_len:
            out.append(f"must be {self.min_len}-{self.max_len} characters long, has {len(name)}")
        if not re.fullmatch(self.pattern, name):
            out.append(f"must match the {self.kind} naming rule: {self.rule}")
        if self.extra is not None and not out:
            problem = self.extra(name)
            if problem:
                out.append(problem)
        return out


def _no_double_hyphen(name: str) -> Optional[str]:
    return "must not contain '--'" if "--" in name else None


def _hyphen_followed_by_letter(name: str) -> Optional[str]:
    # Azure ML rejects compute names whose last hyphen is followed only by digits ("gpu-1").
    for i, ch in enumerate(name):
        if ch == "-" and not re.search(r"[A-Za-z]", name[i + 1:]):
            return "every hyphen must be followed later by a letter (Azure ML rejects names like 'gpu-1')"
    return None


_NETWORK_NAME_TEXT = "letters, digits, '_', '.', '-'; starts with a letter or digit, ends with a letter, digit or '_'"

RULES: Dict[str, NameRule] = {
    r.kind: r
    for r in (
        NameRule("resource_group", 1, 90, r"[A-Za-z0-9_().-]*[A-Za-z0-9_()-]",
                 "letters, digits, '_', '-', '.', '(', ')'; must not end with '.'"),
        NameRule("storage_account", 3, 24, r"[a-z0-9]+",
                 "lowercase letters and digits only", globally_unique=True),
        NameRule("key_vault", 3, 24, r"[A-Za-z][A-Za-z0-9-]*[A-Za-z0-9]",
                 "letters, digits and hyphens; starts with a letter, ends with a letter or digit",
                 globally_unique=True, extra=_no_double_hyphen),
        NameRule("container_registry", 5, 50, r"[A-Za-z0-9]+",
                 "letters and digits only", globally_unique=True),
        NameRule("workspace", 3, 33, r"[A-Za-z0-9][A-Za-z0-9_-]*",
                 "letters, digits, '_' and '-'; starts with a letter or digit"),
        NameRule("log_analytics", 4, 63, r"[A-Za-z0-9][A-Za-z0-9-]*[A-Za-z0-9]",
                 "letters, digits and hyphens; starts and ends with a letter or digit"),
        NameRule("app_insights", 1, 260, r"[^%&\\?/<>]*[^%&\\?/<>. ]",
                 "no % & \\ ? / < > characters; must not end with a space or '.'"),
        NameRule("aks", 1, 63, r"[A-Za-z0-9]([A-Za-z0-9_-]*[A-Za-z0-9])?",
                 "letters, digits, '_' and '-'; starts and ends with a letter or digit"),
        # a name every compute kind accepts (the intersection of COMPUTE_RULES below); the
        # per-kind rules are what settings and components check
        NameRule("compute", 3, 16, r"[A-Za-z][A-Za-z0-9-]*[A-Za-z0-9]",
                 "letters, digits and hyphens; starts with a letter, ends with a letter or digit",
                 extra=_hyphen_followed_by_letter),
        # Microsoft.Network (learn.microsoft.com/azure/azure-resource-manager/management/
        # resource-name-rules#microsoftnetwork): alphanumerics, '_', '.', '-'; start alphanumeric;
        # end alphanumeric or '_'
        *(NameRule(kind, 2, 64, r"[A-Za-z0-9][A-Za-z0-9_.-]*[A-Za-z0-9_]", _NETWORK_NAME_TEXT)
          for kind in ("virtual_network", "private_endpoint")),
        *(NameRule(kind, 1, 80, r"[A-Za-z0-9]([A-Za-z0-9_.-]*[A-Za-z0-9_])?", _NETWORK_NAME_TEXT)
          for kind in ("subnet", "network_security_group", "firewall", "route_table", "public_ip")),
        NameRule("environment_asset", 1, 255, r"[A-Za-z0-9][A-Za-z0-9._-]*",
                 "letters, digits, '.', '_' and '-'; starts with a letter or digit"),
    )
}

# CAF abbreviations (learn.microsoft.com, "Abbreviation recommendations for Azure resources")
PREFIXES = {
    "resource_group": "rg",
    "storage_account": "st",
    "key_vault": "kv",
    "container_registry": "cr",
    "workspace": "mlw",
    "log_analytics": "log",
    "app_insights": "appi",
    "aks": "aks",
}

WORKLOAD_RULE = NameRule("workload", 2, 12, r"[a-z][a-z0-9]*",
                         "lowercase letters and digits, starting with a letter")
ENVIRONMENT_RULE = NameRule("environment", 1, 8, r"[a-z][a-z0-9]*",
                            "lowercase letters and digits, starting with a letter")

HASH_LEN = 5
_ALPHABET = "0123456789abcdefghijklmnopqrstuvwxyz"


def stable_hash(*parts: str, length: int = HASH_LEN) -> str:
    """A short lowercase base-36 digest of ``parts``; the same parts always give the same text."""
    digest = hashlib.sha256("\x1f".join(parts).encode("utf-8")).digest()
    number = int.from_bytes(digest[:16], "big")
    out = []
    for _ in range(length):
        number, rem = divmod(number, 36)
        out.append(_ALPHABET[rem])
    return "".join(out)


def name_part(value: str, *, secret: bool, where: str, length: int = 8) -> str:
    """The part of a name that identifies ``value`` (a principal id, a user): its first ``length``
    characters, or - when ``value`` is a secret - ``s`` and a hash of ``where`` (the setting that
    holds it, ``role_assignments[2]``), never of the value.

    Not of the value, because a secret must not reach a URN (Pulumi cannot mask a URN) and because
    the name must be the same in a real run (the program reads the plaintext) and offline (only a
    stand-in for the ciphertext is known): ``where`` is known to both. The price: a secret entry
    moved to another position in its list gets another name (a replacement).
    """
    if not secret:
        return value[:length]
    return "s" + stable_hash("secret-setting", where, length=max(length - 1, 1))


def check(kind: str, name: str) -> List[str]:
    """Problems with ``name`` as a ``kind`` name; empty when Azure accepts it."""
    return RULES[kind].problems(name)


def ensure(kind: str, name: str) -> str:
    """``name`` if valid, else ``ValueError`` naming the rule."""
    problems = check(kind, name)
    if problems:
        raise ValueError(f"{kind} name {name!r}: " + "; ".join(problems))
    return name


@dataclass(frozen=True)
class NameSet:
    """The physical names of one stack's shared resources."""

    resource_group: str
    storage_account: str
    key_vault: str
    container_registry: str
    workspace: str
    log_analytics: str
    app_insights: str
    aks: str


def _squeeze(text: str, budget: int) -> str:
    return text[:max(budget, 0)]


def generate(workload: str, environment: str, *, seed: str = "",
             overrides: Optional[Dict[str, str]] = None) -> NameSet:
    """Names for every shared resource of a stack.

    ``seed`` (for example the subscription id, or the location) feeds the hash that makes the
    globally unique names unique; changing it renames - and so recreates - those resources.
    ``overrides`` maps a kind (``storage_account`` ...) to a name the user chose; it is checked
    against the same rule and ``ValueError`` lists every problem.
    """
    for rule, value in ((WORKLOAD_RULE, workload), (ENVIRONMENT_RULE, environment)):
        problems = rule.problems(value)
        if problems:
            raise ValueError(f"{rule.kind} {value!r}: " + "; ".join(problems))
    h = stable_hash(workload, environment, seed)
    w, e = workload, environment
    # global, alphanumeric only: st + workload + env + hash, workload shortened to fit 24
    st_budget = 24 - len("st") - len(e) - len(h)
    kv_budget = 24 - len("kv--") - len(e) - len(h) - 1
    names = {
        "resource_group": f"rg-{w}-{e}",
        "storage_account": f"st{_squeeze(w, st_budget)}{e}{h}",
        "key_vault": f"kv-{_squeeze(w, kv_budget)}-{e}-{h}",
        "container_registry": f"cr{w}{e}{h}",
        "workspace": f"mlw-{w}-{e}",
        "log_analytics": f"log-{w}-{e}",
        "app_insights": f"appi-{w}-{e}",
        "aks": f"aks-{w}-{e}",
    }
    problems: List[str] = []
    for kind, name in (overrides or {}).items():
        if kind not in names:
            problems.append(f"{kind}: unknown kind of name (known: {', '.join(sorted(names))})")
            continue
        if name is None:
            continue
        bad = check(kind, name)
        if bad:
            problems.append(f"{kind} {name!r}: " + "; ".join(bad))
        names[kind] = name
    if problems:
        raise ValueError("invalid name override: " + " | ".join(problems))
    for kind, name in names.items():  # generated names must pass too (a bug otherwise)
        ensure(kind, name)
    return NameSet(**names)


@dataclass(frozen=True)
class NetworkNames:
    """Physical names of a stack's network (CAF prefixes vnet, snet, nsg)."""

    virtual_network: str
    private_endpoints_subnet: str
    aks_subnet: str
    private_endpoints_nsg: str
    aks_nsg: str
    # the egress firewall (CAF abbreviations afw, afwp, pip, rt)
    firewall: str = ""
    firewall_policy: str = ""
    firewall_public_ip: str = ""
    aks_route_table: str = ""


def network_names(workload: str, environment: str, *, vnet: Optional[str] = None) -> NetworkNames:
    """Names of the VNet the stack creates, its subnets and their NSGs; ``vnet`` overrides the VNet's."""
    w, e = workload, environment
    names = NetworkNames(
        virtual_network=ensure("virtual_network", vnet or f"vnet-{w}-{e}"),
        private_endpoints_subnet=ensure("subnet", "snet-private-endpoints"),
        aks_subnet=ensure("subnet", "snet-aks"),
        private_endpoints_nsg=ensure("network_security_group", f"nsg-{w}-{e}-private-endpoints"),
        aks_nsg=ensure("network_security_group", f"nsg-{w}-{e}-aks"),
        firewall=ensure("firewall", f"afw-{w}-{e}"),
        firewall_policy=ensure("firewall", f"afwp-{w}-{e}"),
        firewall_public_ip=ensure("public_ip", f"pip-afw-{w}-{e}"),
        aks_route_table=ensure("route_table", f"rt-{w}-{e}-aks"),
    )
    return names


def private_endpoint_name(resource_name: str, group: str) -> str:
    """``pe-<resource>-<group>``, shortened to 64 characters with a stable hash when the resource's
    name is long (a registry may have 50)."""
    name = f"pe-{resource_name}-{group}"
    if len(name) > 64:
        h = stable_hash(resource_name, group, length=5)
        name = f"pe-{resource_name[:64 - len(group) - len(h) - 5]}-{h}-{group}"
    return ensure("private_endpoint", name)


# One name rule per compute kind, as the Azure ML service states it in its errors:
# - AmlCompute clusters and attached computes (Kubernetes, AKS): "It can include letters, digits and
#   dashes. It must start with a letter, end with a letter or digit, and be between 2 and 16
#   characters in length" (the service's 400 answer, quoted in MicrosoftDocs/azure-docs#55961 for an
#   AKS attach and in MicrosoftLearning/DP100#50 for a cluster).
# - Compute instances: "must be between 3 and 24 characters in length and must use only numbers,
#   letters and minus symbol (-), must start with letters. Numbers cannot be the ending of the name
#   if the previous character is a minus symbol (-)" (quoted in MicrosoftDocs/pipelines-azureml#19;
#   the 24 also in hashicorp/terraform-provider-azurerm#15364, which lifted its 16 for instances).
# A job names its compute without saying which kind it is: it is checked against the union
# ("any"), the stack against the kind it declares.
_COMPUTE_CHARS = r"[A-Za-z]([A-Za-z0-9-]*[A-Za-z0-9])?"
COMPUTE_RULES: Dict[str, NameRule] = {
    "cluster": NameRule("compute cluster", 2, 16, _COMPUTE_CHARS,
                        "letters, digits and hyphens; starts with a letter, ends with a letter or digit",
                        extra=_hyphen_followed_by_letter),
    "kubernetes": NameRule("attached compute", 2, 16, _COMPUTE_CHARS,
                           "letters, digits and hyphens; starts with a letter, ends with a letter or digit"),
    "instance": NameRule("compute instance", 3, 24, _COMPUTE_CHARS,
                         "letters, digits and hyphens; starts with a letter; no digits right after the "
                         "last hyphen at the end", extra=_hyphen_followed_by_letter),
    "any": NameRule("compute", 2, 24, _COMPUTE_CHARS,
                    "letters, digits and hyphens; starts with a letter, ends with a letter or digit"),
}


def compute_name_problems(name: str, kind: str = "any") -> List[str]:
    """Problems with ``name`` as the name of a compute of ``kind`` (cluster, instance, kubernetes,
    or ``any`` when the kind is not known, as in a job); empty when Azure accepts it. Pure: the
    runtime shim may import it (no Pulumi)."""
    if kind not in COMPUTE_RULES:
        raise ValueError(f"unknown compute kind {kind!r} (known: {', '.join(COMPUTE_RULES)})")
    return COMPUTE_RULES[kind].problems(name)


def compute_name(name: str, kind: str = "cluster") -> str:
    """A compute name, checked against its kind's rule (``ValueError`` naming the rule)."""
    problems = compute_name_problems(name, kind)
    if problems:
        raise ValueError(f"{COMPUTE_RULES[kind].kind} name {name!r}: " + "; ".join(problems))
    return name


def instance_name(prefix: str, user_key: str) -> str:
    """A per-user compute instance name: ``prefix`` + a stable hash of the user, 3-16 characters.

    Instance names are unique per Azure region, so the hash keeps two workspaces' users apart
    as long as their keys differ.
    """
    h = stable_hash(user_key, length=6)
    base = re.sub(r"[^A-Za-z0-9]", "", prefix)[: 16 - len(h) - 1] or "ci"
    if not base[0].isalpha():
        base = "ci" + base
        base = base[: 16 - len(h) - 1]
    # a hyphen must be followed later by a letter ("ci-12345" is invalid): drop it when the hash has none
    return compute_name(f"{base}-{h}" if re.search(r"[a-z]", h) else f"{base}{h}", "instance")
