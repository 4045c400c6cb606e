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
    # information, never a result: the registrations the plan needs (review.preflight), unchecked offline
    registrations: List[str] = field(default_factory=list)

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
            "registrations": {"checked": False, "needed": self.registrations},
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
        if self.registrations:
            lines.append(f"subscription registrations the first deploy needs ({len(self.registrations)}, not checked "
                         f"offline; `amlplatform preflight --stack {self.stack} --check` checks them): "
                         + ", ".join(self.registrations))
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

CHECKOV_VERSION = "3.3.30"  # what checkov-lock.txt pins (a test checks), ./dev and the user cache install
CHECKOV_LOCK = Path(__file__).with_name("checkov-lock.txt")  # hash-locked: checkov and every dependency
CACHE_ENV = "XDG_CACHE_HOME"  # the XDG base directory spec: $XDG_CACHE_HOME, else ~/.cache


def checkov_cache_dir(version: str = CHECKOV_VERSION) -> Path:
    """The user cache virtualenv ``amlplatform scan`` provisions checkov into, once per version."""
    base = os.environ.get(CACHE_ENV) or ""
    root = Path(base) if os.path.isabs(base) else Path.home() / ".cache"  # the spec: relative values are ignored
    return root / "amlplatform" / f"checkov-{version}"


_COMPLETE = ".amlplatform-complete"  # written last: a venv without it is a half-made one


def _executable(path: Path) -> bool:
    return path.is_file() and os.access(path, os.X_OK)


def _beside_package() -> List[Tuple[str, Path]]:
    """checkov in the scripts folder of the environment amlplatform runs from (a venv's bin, or
    ``pip install --user``'s ~/.local/bin)."""
    import sys
    import sysconfig

    places = [("beside amlplatform", Path(sys.executable).parent / "checkov")]
    scripts = sysconfig.get_path("scripts")
    if scripts:
        places.append(("beside amlplatform", Path(scripts) / "checkov"))
    user_scheme = f"{os.name}_user"
    if user_scheme in sysconfig.get_scheme_names():
        places.append(("pip --user scripts", Path(sysconfig.get_path("scripts", user_scheme)) / "checkov"))
    seen, out = set(), []
    for origin, path in places:
        if path not in seen:
            seen.add(path)
            out.append((origin, path))
    return out


def _up_to_repository_root(folder: Path) -> List[Path]:
    """``folder`` and its parents, up to the first that holds ``.git`` (a repository's root), or all."""
    out = [folder]
    for parent in folder.parents:
        if (out[-1] / ".git").exists():
            break
        out.append(parent)
    return out


def _source_checkout() -> Optional[Path]:
    """The repository amlplatform is imported from when it is a checkout (an editable install or
    PYTHONPATH=components), not an installed wheel: ``./dev setup`` made its .venv-scan."""
    root = Path(__file__).resolve().parents[3]
    return root if (root / "dev").is_file() and (root / "components" / "amlplatform").is_dir() else None


def find_checkov(explicit: Optional[str] = None, project_dir: Optional[Path] = None, *,
                 provision: bool = False, progress: Any = None) -> str:
    """The checkov to run, as an absolute path (checkov runs with another working directory).

    ``--checkov`` (a path relative to the current folder, an absolute one, or a name on PATH),
    else $AMLPLATFORM_CHECKOV: when given, it must work (no silent fallback to another checkov).
    Otherwise the first that exists of: .venv-scan/bin/checkov (``./dev setup``) in the project
    folder or a parent up to the repository root, the scripts folder of amlplatform's own
    environment, the .venv-scan of the checkout amlplatform is imported from (if it is one),
    ``checkov`` on PATH, the user cache venv
    (:func:`checkov_cache_dir`); then, with ``provision``, that cache venv is made once from the
    hash-locked :data:`CHECKOV_LOCK`. The error names every place tried."""
    for origin, given in (("--checkov", explicit), (f"${CHECKOV_ENV}", os.environ.get(CHECKOV_ENV))):
        if not given:
            continue
        path = Path(given).expanduser()
        if _executable(path):
            return os.path.abspath(path)
        found = shutil.which(given) if os.sep not in given else None
        if found:
            return os.path.abspath(found)
        raise UserError(f"checkov not found at {given} (from {origin}: "
                        f"{'not an executable file' if path.exists() else 'no such file'}"
                        f"{', relative to ' + os.getcwd() if not path.is_absolute() else ''})")
    tried: List[str] = ["--checkov: not given", f"${CHECKOV_ENV}: not set"]
    if project_dir is not None:
        folders = _up_to_repository_root(Path(project_dir).resolve())
        for folder in folders:
            path = folder / ".venv-scan" / "bin" / "checkov"
            if _executable(path):
                return str(path)
        tried.append(f".venv-scan/bin/checkov (./dev setup) in {folders[0]}"
                     + (f" and its parents up to {folders[-1]}" if len(folders) > 1 else ""))
    places = _beside_package()
    checkout = _source_checkout()
    if checkout is not None:
        places.append(("the checkout amlplatform is imported from", checkout / ".venv-scan" / "bin" / "checkov"))
    for origin, path in places:
        if _executable(path):
            return os.path.abspath(path)
        tried.append(f"{origin}: {path}")
    found = shutil.which("checkov")
    if found:
        return os.path.abspath(found)
    tried.append("PATH: no checkov")
    cache = checkov_cache_dir()
    cached = cache / "bin" / "checkov"
    if _executable(cached) and (cache / _COMPLETE).is_file():
        return str(cached)
    if provision:
        try:
            return provision_checkov(cache, progress=progress)
        except UserError as exc:
            tried.append(f"the user cache venv {cache}: could not be made: {exc}")
    else:
        tried.append(f"the user cache venv {cache}: not made (`amlplatform scan` makes it unless --no-provision)")
    raise UserError("checkov is not installed; looked in:\n  " + "\n  ".join(tried) + "\n"
                    f"install it: `amlplatform scan` without --no-provision (installs checkov {CHECKOV_VERSION} "
                    "once into the user cache), `./dev setup` in a checkout (into .venv-scan), "
                    f"or pass --checkov PATH or set {CHECKOV_ENV}")


def provision_checkov(target: Path, *, lock: Optional[Path] = None, python: Optional[str] = None,
                      progress: Any = None, timeout: int = 1800) -> str:
    """Make the virtualenv ``target`` with checkov from ``lock`` (``pip --require-hashes``) and
    return its checkov. pip's own progress goes to ``progress`` (default stderr), never stdout (a
    report may be going there). A lock file next to it keeps two scans from building it at once; a
    half-made venv (no completion marker) is removed and made again."""
    import fcntl
    import sys

    out = sys.stderr if progress is None else progress
    lock = lock or CHECKOV_LOCK
    checkov = target / "bin" / "checkov"
    target.parent.mkdir(parents=True, exist_ok=True)
    with open(target.parent / f"{target.name}.lock", "w") as guard:
        fcntl.flock(guard, fcntl.LOCK_EX)
        if (target / _COMPLETE).is_file() and _executable(checkov):
            return str(checkov)  # another scan made it while this one waited
        if target.exists():
            shutil.rmtree(target)
        packages = sum(1 for line in lock.read_text(encoding="utf-8").splitlines() if line[:1].isalpha())
        print(f"note: checkov {CHECKOV_VERSION} is not installed: installing it once into {target} "
              f"({packages} hash-locked packages; later scans reuse it)", file=out, flush=True)
        python = python or sys.executable
        steps = ([python, "-m", "venv", str(target)],
                 [str(target / "bin" / "python"), "-m", "pip", "install", "--disable-pip-version-check",
                  "--no-input", "--require-hashes", "-r", str(lock)])
        try:
            out.fileno()
            sink: Any = out
        except (AttributeError, OSError, ValueError):  # not a real file (a test's capture): relay it
            sink = subprocess.PIPE
        try:
            for step in steps:
                proc = subprocess.run(step, stdout=sink, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                      timeout=timeout, text=True)
                if proc.stdout:
                    out.write(proc.stdout)
                if proc.returncode != 0:
                    raise UserError(f"`{' '.join(step[:5])} ...` failed (exit {proc.returncode}; its output is above)")
        except (OSError, subprocess.TimeoutExpired) as exc:
            shutil.rmtree(target, ignore_errors=True)
            raise UserError(f"{exc}") from None
        except UserError:
            shutil.rmtree(target, ignore_errors=True)
            raise
        if not _executable(checkov):
            shutil.rmtree(target, ignore_errors=True)
            raise UserError(f"{lock.name} installed no checkov executable")
        (target / _COMPLETE).write_text(f"checkov {CHECKOV_VERSION} from {lock.name}\n", encoding="utf-8")
        print(f"note: checkov installed in {target}", file=out, flush=True)
        return str(checkov)


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
    from amlplatform.review.preflight import preflight_graph

    report.registrations = [n.requirement.key for n in preflight_graph(graph).needs if not n.requirement.by_default]
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


def change_findings(earlier: Dict[str, Any], graph: Any) -> List[Finding]:
    """One FAILED finding (scanner ``change``, rule ``LOCKED``) per replace or remove of the change
    from ``earlier`` (a ``plan --format json``) to ``graph`` that a management lock refuses
    (:mod:`amlplatform.review.locks`): deployed as it is, the change fails with ScopeLocked."""
    from amlplatform.review.diff import diff_plans
    from amlplatform.review.locks import DOC, commands

    diff = diff_plans(earlier, graph)
    return [Finding("change", "LOCKED", c.resource, FAILED,
                    f"{c.message}; lift it for this change: {'; '.join(commands([c], graph.stack))} ({DOC})",
                    "a delete under a management lock fails until the lock is lifted")
            for c in diff.locked]


def scan_stack(stack: str, *, project_dir: Optional[Path] = None, checkov: Optional[str] = None,
               require_checkov: bool = True, provision: bool = False,
               earlier: Optional[Dict[str, Any]] = None) -> ScanReport:
    """Scan ``stack``; with ``earlier`` (an earlier ``plan --format json``) also the change from it:
    every delete a management lock refuses is a FAILED ``LOCKED`` finding."""
    from amlplatform.offline.engine import evaluate_stack, project_dir_arg, stack_policy_exceptions

    folder = project_dir_arg(project_dir)
    graph = evaluate_stack(stack, project_dir=folder)
    exceptions = stack_policy_exceptions(stack, folder)
    binary = find_checkov(checkov, folder, provision=provision) if require_checkov else None
    report = scan_graph(graph, checkov=binary, exceptions=exceptions)
    if earlier is not None:
        report.findings += change_findings(earlier, graph)
    return report
