"""``amlplatform scan``: checkov over the exported ARM template + the policy pack over the recorded
resources + the deployability rules over the recorded graph, one report.

checkov runs from its own virtualenv (it pins ``packaging<24``, Pulumi needs ``>=26``) as a
subprocess: ``checkov -f template.json --framework arm -o json --skip-download``. Its scanned
resource count must equal the number of exported resources: checkov skips what it does not
recognise without a word (a missing ``$schema``, a lower-cased type, two resources with the same
type and name), so a mismatch is a failure of the scan itself.

Deployability rules (:mod:`amlplatform.review.deployability`, ids ``AMLD-...``) are the third
family: cross-resource constraints under which a stack declared secure would deploy and then be
unusable (a private resource without a private endpoint, shared keys off without data roles...).
Each rule that finds nothing is one PASSED line; each finding is FAILED unless the stack excepts it.

Results: PASSED, FAILED, ADVISORY (an advisory policy is not met), SKIPPED (a known checkov fault,
with the reason), EXCEPTED (the stack breaks the rule on purpose: ``policy_exceptions``, with
the reason). The scan fails on any FAILED or a count mismatch.
"""

import json
import os
import shutil
import subprocess
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Dict, Iterable, List, Optional, Sequence, Tuple

from amlplatform.errors import UserError
from amlplatform.review import arm

PASSED, FAILED, ADVISORY, SKIPPED, EXCEPTED = "PASSED", "FAILED", "ADVISORY", "SKIPPED", "EXCEPTED"
CHECKOV_ENV = "AMLPLATFORM_CHECKOV"


@dataclass
class Finding:
    scanner: str  # checkov | policy | deployability | scan
    rule: str  # CKV_... or Azure Policy id
    resource: str  # logical name (Pulumi) or type.name (ARM) when no logical name is known
    result: str
    reason: str = ""
    title: str = ""
    arm_resource: str = ""


@dataclass
class ScanReport:
    stack: str
    exported: int
    checkov_scanned: Optional[int]
    checkov_version: Optional[str]
    policy_resources: int
    findings: List[Finding] = field(default_factory=list)
    errors: List[str] = field(default_factory=list)
    not_arm: List[str] = field(default_factory=list)
    deployability_rules: int = 0

    @property
    def failed(self) -> List[Finding]:
        return [f for f in self.findings if f.result == FAILED]

    @property
    def ok(self) -> bool:
        return not self.failed and not self.errors

    def count(self, scanner: str, result: str) -> int:
        return sum(1 for f in self.findings if f.scanner == scanner and f.result == result)

    def ids(self, scanner: Optional[str] = None, result: Optional[str] = None) -> set:
        return {f.rule for f in self.findings
                if (scanner is None or f.scanner == scanner) and (result is None or f.result == result)}

    def stale_exceptions(self) -> int:
        """Policy exceptions the stack lists although nothing breaks their rule (remove them)."""
        return sum(1 for f in self.findings if f.title == STALE_EXCEPTION)

    def to_dict(self) -> Dict[str, Any]:
        return {
            "stack": self.stack, "ok": self.ok, "exported_resources": self.exported,
            "stale_exceptions": self.stale_exceptions(),
            "checkov": {"scanned_resources": self.checkov_scanned, "version": self.checkov_version,
                        **{r.lower(): self.count("checkov", r) for r in (PASSED, FAILED, SKIPPED, EXCEPTED)}},
            "policy": {"resources": self.policy_resources,
                       **{r.lower(): self.count("policy", r) for r in (PASSED, FAILED, ADVISORY, EXCEPTED)}},
            "deployability": {"rules": self.deployability_rules,
                              **{r.lower(): self.count("deployability", r) for r in (PASSED, FAILED, EXCEPTED)}},
            "not_arm_resources": self.not_arm,
            "errors": self.errors,
            "findings": [asdict(f) for f in self.findings],
        }

    def render(self) -> str:
        lines = [f"Security scan of stack {self.stack}", ""]
        scanned = "n/a" if self.checkov_scanned is None else str(self.checkov_scanned)
        match = "" if self.checkov_scanned == self.exported else "  <-- MISMATCH"
        lines.append(f"checkov {self.checkov_version or '?'}: scanned {scanned} of {self.exported} exported "
                     f"ARM resources{match}")
        lines.append(f"policy pack: evaluated {self.policy_resources} recorded resources")
        found = self.count("deployability", FAILED) + self.count("deployability", EXCEPTED)
        lines.append(f"deployability: {self.deployability_rules} rules, {found} finding{'s' if found != 1 else ''} "
                     f"({self.count('deployability', FAILED)} failed, {self.count('deployability', EXCEPTED)} excepted)")
        if self.not_arm:
            lines.append(f"not ARM resources (policy pack and picture only): {', '.join(self.not_arm)}")
        lines.append("")
        order = {FAILED: 0, EXCEPTED: 1, SKIPPED: 2, ADVISORY: 3, PASSED: 4}
        rows = sorted(self.findings, key=lambda f: (order.get(f.result, 9), f.scanner, f.resource, f.rule))
        width_res = max([len(f.resource) for f in rows] + [8])
        width_rule = max([len(f.rule) for f in rows] + [4])
        width_scanner = max([len(f.scanner) for f in rows] + [8])
        lines.append(f"{'RESULT':<9} {'SCANNER':<{width_scanner}} {'RULE':<{width_rule}} {'RESOURCE':<{width_res}} DETAIL")
        for f in rows:
            detail = f.reason or f.title
            lines.append(f"{f.result:<9} {f.scanner:<{width_scanner}} {f.rule:<{width_rule}} {f.resource:<{width_res}} "
                         f"{detail}")
        lines.append("")
        for err in self.errors:
            lines.append(f"error: {err}")
        summary = ", ".join(f"{sum(1 for f in self.findings if f.result == r)} {r.lower()}"
                            for r in (FAILED, EXCEPTED, SKIPPED, ADVISORY, PASSED))
        stale = self.stale_exceptions()
        summary += f", {stale} stale exception{'s' if stale != 1 else ''}"
        lines.append(("FAIL: " if not self.ok else "OK: ") + summary)
        return "\n".join(lines) + "\n"


# ----------------------------------------------------------------------------- checkov

def find_checkov(explicit: Optional[str] = None, project_dir: Optional[Path] = None) -> str:
    """``--checkov``, then $AMLPLATFORM_CHECKOV, then <project>/.venv-scan/bin/checkov, then PATH."""
    candidates: List[Tuple[str, str]] = []
    if explicit:
        candidates.append(("--checkov", explicit))
    if os.environ.get(CHECKOV_ENV):
        candidates.append((f"${CHECKOV_ENV}", os.environ[CHECKOV_ENV]))
    for origin, path in candidates:
        if Path(path).is_file() and os.access(path, os.X_OK):
            return path
        found = shutil.which(path)
        if found:
            return found
        raise UserError(f"checkov not found at {path} (from {origin})")
    if project_dir is not None:
        local = project_dir / ".venv-scan" / "bin" / "checkov"
        if local.is_file():
            return str(local)
    found = shutil.which("checkov")
    if found:
        return found
    raise UserError("checkov is not installed: run `./dev setup` (it installs checkov 3.3.30 into .venv-scan), "
                    f"or pass --checkov PATH or set {CHECKOV_ENV}")


def run_checkov(template: Dict[str, Any], checkov: str, *, timeout: int = 600) -> Dict[str, Any]:
    """checkov's JSON report of ``template`` (one framework: a single object)."""
    with tempfile.TemporaryDirectory(prefix="amlplatform-scan-") as tmp:
        path = Path(tmp) / "template.json"
        path.write_text(arm.template_json(template), encoding="utf-8")
        env = dict(os.environ, BC_SKIP_MAPPING="TRUE", CHECKOV_RUN_SCA_PACKAGE_SCAN_V2="false")
        try:
            proc = subprocess.run([checkov, "-f", str(path), "--framework", "arm", "-o", "json",
                                   "--skip-download"], capture_output=True, text=True, cwd=tmp,
                                  timeout=timeout, env=env)
        except OSError as exc:
            raise UserError(f"could not run checkov ({checkov}): {exc}") from None
        except subprocess.TimeoutExpired:
            raise UserError(f"checkov took longer than {timeout} s") from None
    if proc.returncode not in (0, 1):
        raise UserError(f"checkov failed (exit {proc.returncode}): {proc.stderr.strip()[-2000:]}")
    try:
        data = json.loads(proc.stdout)
    except ValueError:
        raise UserError(f"checkov did not print JSON: {proc.stdout[:500]!r} {proc.stderr[-1000:]!r}") from None
    if isinstance(data, list):  # several frameworks: pick arm
        data = next((d for d in data if d.get("check_type") == "arm"), data[0] if data else {})
    return data


def checkov_findings(data: Dict[str, Any], names: Dict[str, str],
                     exceptions: Sequence[arm.Exception_]) -> Tuple[List[Finding], Optional[int], Optional[str]]:
    """Findings from checkov's JSON; ``names`` maps checkov's ``type.name`` to logical names."""
    summary = data.get("summary") or {}
    results = data.get("results") or {}
    fault_ids = {f.check_id for f in arm.KNOWN_CHECKOV_FAULTS}
    out: List[Finding] = []
    for key, result in (("passed_checks", PASSED), ("failed_checks", FAILED), ("skipped_checks", SKIPPED)):
        for check in results.get(key) or []:
            arm_res = check.get("resource", "")
            logical = names.get(arm_res, arm_res)
            reason = ""
            res = result
            stack_ex = next((e for e in exceptions
                             if e.rule == check.get("check_id") and e.applies_to(logical)), None)
            if result == SKIPPED:
                reason = (check.get("check_result") or {}).get("suppress_comment", "")
                if stack_ex and not (check.get("check_id") in fault_ids and reason.startswith("checkov fault")):
                    res = EXCEPTED
            elif result == FAILED and stack_ex is not None:
                # checkov ignores inline skips for its graph checks (CKV2_*): apply the stack's
                # reasoned exception to the result instead
                res, reason = EXCEPTED, stack_ex.reason
            out.append(Finding("checkov", check.get("check_id", "?"), logical, res, reason,
                               check.get("check_name", ""), arm_res))
    scanned = summary.get("resource_count")
    return out, (int(scanned) if scanned is not None else 0), summary.get("checkov_version")


# ----------------------------------------------------------------------------- policy pack

def policy_findings(graph: Any, exceptions: Sequence[arm.Exception_]) -> Tuple[List[Finding], int]:
    from amlplatform.review import policies

    out = []
    evaluated = set()
    for r in policies.evaluate(graph):
        if r.urn:
            evaluated.add(r.urn)
        if r.passed:
            result, reason = PASSED, ""
        else:
            ex = next((e for e in exceptions if e.rule in (r.rule.rule_id, r.rule.name)
                       and e.applies_to(r.resource)), None)
            if ex is not None:
                result, reason = EXCEPTED, ex.reason
            else:
                result, reason = (FAILED if r.rule.mandatory else ADVISORY), r.message
        reason = reason.replace(f" [{r.rule.rule_id}]", "")
        out.append(Finding("policy", r.rule.rule_id, r.resource or "(stack)", result, reason,
                           r.rule.name))
    return out, len(graph.custom_resources())


# ----------------------------------------------------------------------------- deployability

def deployability_findings(graph: Any, exceptions: Sequence[arm.Exception_]) -> Tuple[List[Finding], int]:
    """One FAILED (or EXCEPTED) finding per deployability finding; one PASSED line per rule that
    found nothing. Returns the findings and the number of rules run."""
    from amlplatform.review import deployability

    out: List[Finding] = []
    results = deployability.evaluate(graph, exceptions)
    for rule_id, spec in sorted(deployability.RULES.items()):
        mine = [r for r in results if r.finding.rule_id == rule_id]
        if not mine:
            out.append(Finding("deployability", rule_id, "(stack)", PASSED, "", spec.reason))
        for r in mine:
            f = r.finding
            if r.excepted is not None:
                out.append(Finding("deployability", rule_id, f.logical_name, EXCEPTED, r.excepted, f.message))
            else:
                out.append(Finding("deployability", rule_id, f.logical_name, FAILED,
                                   f"{f.message} ({spec.doc})", spec.reason))
    return out, len(deployability.RULES)


# ----------------------------------------------------------------------------- the scan

def scan_graph(graph: Any, *, checkov: Optional[str], exceptions: Iterable[Any] = (),
               run_checkov_fn=run_checkov) -> ScanReport:
    """Export, run checkov (unless ``checkov`` is None) and the policy pack; one report."""
    excepted = arm._as_exceptions(exceptions)
    template = arm.to_arm_template(graph, excepted)
    exported = arm.exported_resources(graph)
    names: Dict[str, str] = {}
    for res, body in zip(exported, template["resources"]):
        names[f"{body['type']}.{body['name']}"] = res.name
    report = ScanReport(stack=graph.stack, exported=len(template["resources"]), checkov_scanned=None,
                        checkov_version=None, policy_resources=0,
                        not_arm=list(template["metadata"].get("notArmResources", [])))
    if len(names) != len(template["resources"]):
        report.errors.append("two exported resources share a type and name: checkov would count them once")
    if checkov is not None:
        data = run_checkov_fn(template, checkov)
        found, scanned, version = checkov_findings(data, names, excepted)
        report.findings += found
        report.checkov_scanned, report.checkov_version = scanned, version
        if scanned != report.exported:
            report.errors.append(
                f"checkov scanned {scanned} resources but {report.exported} were exported: it skipped some "
                "without a word (check $schema/contentVersion, type casing, duplicate type+name)")
    found, count = policy_findings(graph, excepted)
    report.findings += found
    report.policy_resources = count
    found, count = deployability_findings(graph, excepted)
    report.findings += found
    report.deployability_rules = count
    for e in excepted:
        if not any(f.result == EXCEPTED and f.reason == e.reason and _same_rule(f.rule, e.rule)
                   for f in report.findings):
            report.findings.append(Finding("scan", e.rule, e.resource, PASSED,
                                           f"exception not needed, nothing breaks the rule: {e.reason}",
                                           STALE_EXCEPTION))
    return report


STALE_EXCEPTION = "unused policy exception"


def _same_rule(finding_rule: str, exception_rule: str) -> bool:
    from amlplatform.review import policies

    if finding_rule == exception_rule:
        return True
    return any(r.rule_id == finding_rule and r.name == exception_rule for r in policies.RULES)


def scan_stack(stack: str, *, project_dir: Optional[Path] = None, checkov: Optional[str] = None,
               require_checkov: bool = True) -> ScanReport:
    from amlplatform.offline.engine import evaluate_stack, project_dir_arg, stack_policy_exceptions

    folder = project_dir_arg(project_dir)
    graph = evaluate_stack(stack, project_dir=folder)
    exceptions = stack_policy_exceptions(stack, folder)
    binary = find_checkov(checkov, folder) if require_checkov else None
    return scan_graph(graph, checkov=binary, exceptions=exceptions)
