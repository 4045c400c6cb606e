"""Deployability rules: what would fail (or be unsafe) at ``pulumi up`` although every resource
is well-formed on its own, checked over a recorded graph (:class:`amlplatform.offline.engine.Graph`).

Minimal version of the package API that the rule modules are written against (the ``access``
engineer owns the full package; the integrator keeps theirs): ``@rule(id, reason=, doc=)``
registers a check ``graph -> Iterable[Finding]``; :func:`evaluate` runs every rule of every module
in this package and applies the stack's reasoned exceptions (``policy_exceptions``: rule id and
logical resource name or ``*``).
"""

import importlib
import pkgutil
from dataclasses import dataclass
from typing import Any, Callable, Dict, Iterable, List, Optional, Sequence


@dataclass(frozen=True)
class Finding:
    rule_id: str
    resource: str  # logical (Pulumi) name
    message: str


@dataclass(frozen=True)
class Rule:
    rule_id: str
    reason: str
    doc: str
    check: Callable[[Any], Iterable[Finding]]


RULES: Dict[str, Rule] = {}


def rule(rule_id: str, *, reason: str, doc: str) -> Callable:
    """Register ``check`` under ``rule_id`` (ids are unique)."""
    def register(check: Callable[[Any], Iterable[Finding]]) -> Callable:
        if rule_id in RULES and RULES[rule_id].check is not check:
            raise ValueError(f"deployability rule {rule_id} is registered twice")
        RULES[rule_id] = Rule(rule_id, reason, doc, check)
        return check
    return register


def load_rules() -> Dict[str, Rule]:
    """Import every rule module of this package (each registers its rules)."""
    for info in pkgutil.iter_modules(__path__):
        importlib.import_module(f"{__name__}.{info.name}")
    return RULES


@dataclass(frozen=True)
class Result:
    finding: Finding
    excepted: Optional[str] = None  # the exception's reason when the stack accepts the finding


def evaluate(graph: Any, exceptions: Sequence[Any] = (), rule_ids: Optional[Iterable[str]] = None) -> List[Result]:
    """Every finding of every (or the given) rule over ``graph``; a finding the stack excepts (same
    rule id, resource name or ``*``) carries the exception's reason."""
    rules = load_rules()
    wanted = set(rule_ids) if rule_ids is not None else set(rules)
    out: List[Result] = []
    for rule_id in sorted(wanted):
        for finding in rules[rule_id].check(graph):
            reason = next((getattr(e, "reason", None) for e in exceptions
                           if getattr(e, "rule", None) == finding.rule_id
                           and getattr(e, "resource", "*") in ("*", finding.resource)), None)
            out.append(Result(finding, reason))
    return out
