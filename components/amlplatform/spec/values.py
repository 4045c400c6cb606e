"""Value types shared by the compute settings (clusters, instances, Kubernetes, environments):
names, VM sizes, ISO-8601 durations, cron expressions, Kubernetes names and taints, ARM ids.

Declares no resources; the defaults are the components' own (amlplatform.iac._base.defaults).
"""

import re
from typing import Annotated, List, Optional

from pydantic import AfterValidator, ValidationInfo

from amlplatform.azure import naming
from amlplatform.errors import Problems
from amlplatform.spec.core import arm_id


def _compute_name(kind: str):
    def check(value: str) -> str:
        problems = naming.compute_name_problems(value, kind)  # one rule per kind (naming.COMPUTE_RULES)
        if problems:
            raise Problems(problems)
        return value

    return AfterValidator(check)


ComputeName = Annotated[str, _compute_name("cluster")]
InstanceName = Annotated[str, _compute_name("instance")]
KubernetesComputeName = Annotated[str, _compute_name("kubernetes")]

_VM_SIZE = re.compile(r"Standard_[A-Za-z0-9_]+")


def _vm_size(value: str) -> str:
    if not _VM_SIZE.fullmatch(value):
        raise ValueError("must be an Azure VM size like Standard_DS3_v2 (Standard_ + letters, digits, '_')")
    return value


VmSize = Annotated[str, AfterValidator(_vm_size)]

_DURATION = re.compile(r"P(?:(?P<d>\d+)D)?(?:T(?:(?P<h>\d+)H)?(?:(?P<m>\d+)M)?(?:(?P<s>\d+)S)?)?")


def duration_seconds(value: str) -> Optional[int]:
    """Seconds of an ISO-8601 duration made of days/hours/minutes/seconds (``PT120S``, ``PT1H30M``,
    ``P1D``); None when ``value`` is not one."""
    m = _DURATION.fullmatch(value or "")
    if not m or value in ("P", "PT") or value.endswith("T"):
        return None
    d, h, mi, s = (int(m.group(k) or 0) for k in "dhms")
    return ((d * 24 + h) * 60 + mi) * 60 + s


def _duration(low: int, high: int, words: str):
    def check(value: str) -> str:
        seconds = duration_seconds(value)
        if seconds is None:
            raise ValueError("must be an ISO-8601 duration like PT120S, PT60M or PT1H30M")
        if not low <= seconds <= high:
            raise ValueError(f"must be {words}")
        return value
    return AfterValidator(check)


# Cluster scale-down: below a minute nodes churn between back-to-back jobs; above a day an idle
# node costs more than a cold start ever saves.
ScaleDownDelay = Annotated[str, _duration(60, 86400, "between PT60S and P1D")]
# Compute instance idle shutdown: the service accepts 15 minutes to 3 days.
IdleShutdown = Annotated[str, _duration(15 * 60, 3 * 86400, "between PT15M and P3D (the service's range)")]

# (name, lowest, highest) of the five cron fields
_CRON_FIELDS = (("minute", 0, 59), ("hour", 0, 23), ("day", 1, 31), ("month", 1, 12), ("weekday", 0, 6))
_CRON_ITEM = re.compile(r"(?:\*|(?P<a>[0-9]+)(?:-(?P<b>[0-9]+))?)(?:/(?P<step>[0-9]+))?")


def cron_problems(value: str) -> List[str]:
    """Problems of a 5-field cron expression (minute hour day month weekday): each field ``*``,
    a number, a range ``a-b``, any of them with a step ``/n``, or a comma list of those; numbers in
    the field's range. Empty when it is valid."""
    fields = value.split()
    if len(fields) != 5:
        return [f"has {len(fields)} fields, not 5"]
    problems = []
    for text, (label, low, high) in zip(fields, _CRON_FIELDS):
        for item in text.split(","):
            m = _CRON_ITEM.fullmatch(item)
            if not m:
                problems.append(f"{label} {item!r} is not *, a number, a range a-b or a step /n")
                continue
            numbers = [int(g) for g in (m.group("a"), m.group("b")) if g is not None]
            if any(not low <= n <= high for n in numbers):
                problems.append(f"{label} {item!r} is outside {low}-{high}")
            elif len(numbers) == 2 and numbers[0] > numbers[1]:
                problems.append(f"{label} range {item!r} runs backwards")
            if m.group("step") is not None and int(m.group("step")) == 0:
                problems.append(f"{label} step in {item!r} is 0")
    return problems


def _cron(value: str) -> str:
    problems = cron_problems(value.strip())
    if problems:
        raise ValueError("must be a 5-field cron expression like '0 8 * * 1-5' (minute 0-59, hour 0-23, "
                         "day 1-31, month 1-12, weekday 0-6): " + "; ".join(problems))
    return value.strip()


Cron = Annotated[str, AfterValidator(_cron)]

_K8S_NAME = re.compile(r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?")


def _k8s_name(value: str) -> str:
    if not _K8S_NAME.fullmatch(value):
        raise ValueError("must be a Kubernetes name: 1-63 lowercase letters, digits and '-', "
                         "starting and ending with a letter or digit")
    return value


K8sName = Annotated[str, AfterValidator(_k8s_name)]

_TAINT = re.compile(r"[A-Za-z0-9./_-]+(=[A-Za-z0-9._-]*)?:(NoSchedule|PreferNoSchedule|NoExecute)")


def _taints(value: List[str]) -> List[str]:
    bad = [t for t in value if not _TAINT.fullmatch(t)]
    if bad:
        raise ValueError(f"taints must look like key=value:NoSchedule (effects NoSchedule, PreferNoSchedule, "
                         f"NoExecute); bad: {', '.join(map(repr, bad))}")
    return value


Taints = Annotated[List[str], AfterValidator(_taints)]

SubnetId = Annotated[Optional[str], arm_id("Microsoft.Network/virtualNetworks/subnets")]
IdentityId = Annotated[Optional[str], arm_id("Microsoft.ManagedIdentity/userAssignedIdentities")]


def _max_not_below_min(min_field: str):
    """A field validator for a maximum: it must not be below ``min_field`` (validated earlier)."""
    def check(value: int, info: ValidationInfo) -> int:
        low = info.data.get(min_field)
        if isinstance(low, int) and value < low:
            raise ValueError(f"must be at least {min_field} ({low})")
        return value
    return check


