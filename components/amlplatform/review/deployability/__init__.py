"""Deployability rules: would the declared stack *work* on Azure, not only be declared secure?

A third family of findings in ``amlplatform scan``, next to checkov and the policy pack. Each rule
is a cross-resource constraint Azure documents (a private resource needs an inbound path, shared
keys off needs data-plane roles, a private registry needs an image build compute, ...) that no
single-resource scanner sees. Rules read the recorded graph of the mock engine
(:class:`amlplatform.offline.engine.Graph`: types, wire-name inputs, dependencies).

Writing a rule (one module of this package per concern; every module is imported below, so
rules register themselves)::

    from amlplatform.review.deployability import rule, Finding

    @rule("AMLD-001", reason="one line why, with the Azure doc", doc="https://learn.microsoft.com/...")
    def check(graph) -> Iterable[Finding]:
        yield Finding("AMLD-001", "ml-workspace-workspace", "what is wrong and how to fix it")

Ids: ``AMLD-001``..``AMLD-099`` platform (workspace, storage, key vault, registry, computes, AKS),
``AMLD-1xx`` datastores and endpoints (:mod:`.endpoints`), ``AMLD-2xx`` what the subscription must
hold before a deploy (:mod:`.subscription`), ``AMLD-3xx`` where a deployment's bits come from
(:mod:`.supply`). A stack that breaks a rule on purpose
lists the id under ``policy_exceptions`` with its reason: :func:`evaluate` applies those exceptions
(the one place they are applied; the scan shows such a finding as EXCEPTED). :func:`run_rules`
gives the raw findings.
"""

import importlib
import pkgutil
import re
from dataclasses import dataclass
from typing import Any, Callable, Dict, Iterable, List, Mapping, Optional

RULE_ID = re.compile(r"^AMLD-\d{3}$")


@dataclass(frozen=True)
class Finding:
    """One resource that makes the stack undeployable or unusable, and why."""

    rule_id: str
    resource: str  # logical name (or URN) of the resource the finding is about
    message: str

    @property
    def logical_name(self) -> str:
        """The logical name, also when ``resource`` is a URN (what policy exceptions name)."""
        return self.resource.rsplit("::", 1)[-1] if self.resource.startswith("urn:pulumi:") else self.resource


@dataclass(frozen=True)
class Rule:
    rule_id: str
    reason: str  # one line, why (with the Azure doc it comes from)
    doc: str  # the Azure documentation page
    check: Callable[[Any], Iterable[Finding]]


RULES: Dict[str, Rule] = {}


def rule(rule_id: str, *, reason: str, doc: str) -> Callable[[Callable[[Any], Iterable[Finding]]],
                                                               Callable[[Any], Iterable[Finding]]]:
    """Register ``check(graph) -> Iterable[Finding]`` under ``rule_id``."""
    if not RULE_ID.match(rule_id):
        raise ValueError(f"deployability rule id {rule_id!r} must look like AMLD-001")
    if not reason.strip() or "\n" in reason.strip():
        raise ValueError(f"{rule_id}: reason must be one line")
    if not doc.startswith("https://"):
        raise ValueError(f"{rule_id}: doc must be the https address of the Azure documentation")

    def register(check: Callable[[Any], Iterable[Finding]]) -> Callable[[Any], Iterable[Finding]]:
        existing = RULES.get(rule_id)
        if existing is not None and (existing.check.__module__, existing.check.__qualname__) != (
                check.__module__, check.__qualname__):
            raise ValueError(f"deployability rule {rule_id} is registered twice "
                             f"({existing.check.__module__} and {check.__module__})")
        RULES[rule_id] = Rule(rule_id, reason.strip(), doc, check)
        return check

    return register


def run_rules(graph: Any, rule_ids: Iterable[str] = ()) -> List[Finding]:
    """Every finding of every registered rule (or of ``rule_ids``) over ``graph``, sorted."""
    wanted = list(rule_ids) or sorted(RULES)
    out: List[Finding] = []
    for rule_id in wanted:
        spec = RULES[rule_id]
        for finding in spec.check(graph) or ():
            if finding.rule_id != rule_id:
                raise ValueError(f"{rule_id} ({spec.check.__module__}) returned a finding of {finding.rule_id}")
            out.append(finding)
    return sorted(out, key=lambda f: (f.rule_id, f.resource, f.message))


@dataclass(frozen=True)
class Result:
    """A finding, and the reason of the stack's exception that accepts it (None: not excepted)."""

    finding: Finding
    excepted: Optional[str] = None


def excepting(finding: Finding, exceptions: Iterable[Any]) -> Optional[Any]:
    """The first exception (a stack's ``policy_exceptions`` entry: an object or a mapping with
    ``rule``, ``resource`` (default ``*``) and ``reason``) naming the finding's rule id and its
    logical resource name or ``*``."""
    for e in exceptions:
        field = e.get if isinstance(e, Mapping) else (lambda key, default=None, e=e: getattr(e, key, default))
        if field("rule") == finding.rule_id and field("resource", "*") in ("*", finding.logical_name):
            return e
    return None


def evaluate(graph: Any, exceptions: Iterable[Any] = (), rule_ids: Iterable[str] = ()) -> List[Result]:
    """:func:`run_rules` with the stack's reasoned exceptions applied: each finding carries the
    reason of the exception that accepts it."""
    exceptions = list(exceptions)
    out = []
    for finding in run_rules(graph, rule_ids):
        accepted = excepting(finding, exceptions)
        reason = None if accepted is None else (
            accepted["reason"] if isinstance(accepted, Mapping) else accepted.reason)
        out.append(Result(finding, reason))
    return out


def _import_rule_modules() -> None:
    for info in pkgutil.iter_modules(__path__):
        importlib.import_module(f"{__name__}.{info.name}")


_import_rule_modules()

__all__ = ["Finding", "Result", "Rule", "RULES", "evaluate", "excepting", "rule", "run_rules"]
