"""The job's own environment on this machine: a cached virtualenv built from what the job declares.

Azure ML builds a job's environment (an image plus a conda file, or a Docker build context) before the
job runs; "works locally" only means something if the local run uses the same packages. So a local run
builds, once, a virtualenv with the environment's **pip** requirements and runs the command in it:

- an inline ``conda_file`` (or mapping): its ``dependencies``' ``pip:`` list (``-r file`` relative to the
  conda file); ``python=3.X`` picks ``python3.X`` when this machine has it; other conda packages cannot
  be installed without conda and are named in a note (they are what the image/conda build adds on Azure);
- a ``build:`` context: its ``requirements.txt``, else a conda file in it (``conda.yml``, ``conda.yaml``,
  ``environment.yml``); a context with neither (only a Dockerfile) is built on Azure ML only;
- ``image`` alone, or a registered environment (``azureml:name:version``, a registry path, an ARM id):
  there is nothing to build here; the command runs with this machine's Python, and a note says so.

The virtualenv is keyed by the environment's content (the Python it is made from and the requirement
lines, in order), kept under ``$AMLPLATFORM_ENV_CACHE`` (default ``$XDG_CACHE_HOME/amlplatform/envs``,
i.e. ``~/.cache/amlplatform/envs``), built with ``uv`` when it is on PATH (``AMLPLATFORM_ENV_INSTALLER=pip``
or ``uv`` chooses) and ``pip`` otherwise, under a lock (parallel steps and sweep trials share one build),
in a temporary folder renamed into place only when complete: a failed build leaves nothing behind.
It has no access to the caller's packages (no system site-packages): a package the job does not
declare does not import. ``--environment current`` runs with the caller's environment instead.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional

from amlplatform.errors import UserError

KEY_VERSION = 1
MARKER = ".amlplatform-env.json"
CONTEXT_CONDA = ("conda.yml", "conda.yaml", "environment.yml", "environment.yaml")
CURRENT = "current"


@dataclass(frozen=True)
class Plan:
    """What a local run does about the job's environment."""

    kind: str  # "venv" (build/reuse a virtualenv) or "current" (this machine's Python)
    requirements: tuple[str, ...] = ()
    python: Optional[str] = None  # the interpreter the venv is made from
    notes: tuple[str, ...] = ()
    source: str = ""  # what the requirements came from
    conda_only: tuple[str, ...] = field(default=())


def _pip_lines(conda: Any, folder: Optional[Path], where: str) -> tuple[list[str], Optional[str], list[str]]:
    """(pip requirement lines, python version asked for, conda-only packages) of a conda mapping."""
    if not isinstance(conda, dict):
        raise UserError(f"{where}: a conda file is a mapping with dependencies:")
    deps = conda.get("dependencies") or []
    if not isinstance(deps, list):
        raise UserError(f"{where}: dependencies must be a list")
    pip: list[str] = []
    python = None
    conda_only: list[str] = []
    for d in deps:
        if isinstance(d, dict) and "pip" in d:
            for line in d["pip"] or []:
                line = str(line).strip()
                m = re.match(r"^-r\s+(\S+)$", line)
                if m:
                    if folder is None:
                        raise UserError(f"{where}: '-r {m.group(1)}' needs a conda file on disk")
                    req = (folder / m.group(1)).resolve()
                    try:
                        pip += [x.strip() for x in req.read_text(encoding="utf-8").splitlines()
                                if x.strip() and not x.strip().startswith("#")]
                    except OSError as exc:
                        raise UserError(f"{where}: cannot read {req}: {exc.strerror}") from None
                elif line:
                    pip.append(line)
        elif isinstance(d, str):
            name = re.split(r"[=<>!~ ]", d.strip(), maxsplit=1)[0].lower()
            if name == "python":
                m = re.search(r"(\d+\.\d+)", d)
                python = m.group(1) if m else None
            elif name != "pip":
                conda_only.append(d.strip())
    return pip, python, conda_only


def plan_for(env: Any, *, mode: str = "job") -> Plan:
    """The local plan for a job's ``runs.job.Environment`` (``mode`` "current" opts out)."""
    if mode == CURRENT:
        return Plan("current", notes=("--environment current: the command runs with this machine's Python "
                                      "and packages, not the job's environment",))
    if env is None:
        return Plan("current")
    label = env.ref or env.image or env.kind
    if env.kind != "inline":
        return Plan("current", notes=(f"the environment {label} is registered in Azure ML: nothing to build here, "
                                      "so the command runs with this machine's Python (give an inline conda_file "
                                      "to run in the job's own packages locally)",))
    if env.conda is not None:
        folder = env.conda_file.parent if env.conda_file is not None else None
        pip, python, conda_only = _pip_lines(env.conda, folder, "environment.conda_file")
        source = str(env.conda_file) if env.conda_file else "the inline conda_file"
    elif env.build_path is not None:
        ctx = env.build_path
        req = ctx / "requirements.txt"
        conda_file = next((ctx / n for n in CONTEXT_CONDA if (ctx / n).is_file()), None)
        if req.is_file():
            pip = [x.strip() for x in req.read_text(encoding="utf-8").splitlines()
                   if x.strip() and not x.strip().startswith("#")]
            python, conda_only, source = None, [], str(req)
        elif conda_file is not None:
            import yaml

            pip, python, conda_only = _pip_lines(yaml.safe_load(conda_file.read_text(encoding="utf-8")),
                                                 conda_file.parent, str(conda_file))
            source = str(conda_file)
        else:
            return Plan("current", notes=(f"the build context {ctx} has no requirements.txt or conda file: its "
                                          "Dockerfile is built on Azure ML only; the command runs with this "
                                          "machine's Python",))
    else:
        return Plan("current", notes=(f"the environment is the image {env.image} alone: images run on Azure ML "
                                      "(or under Docker); the command runs with this machine's Python",))
    notes = []
    interpreter = sys.executable
    if python and python != f"{sys.version_info.major}.{sys.version_info.minor}":
        found = shutil.which(f"python{python}")
        if found:
            interpreter = found
        else:
            notes.append(f"the environment asks for Python {python}; this machine has no python{python}, so the "
                         f"virtualenv uses Python {sys.version_info.major}.{sys.version_info.minor}")
    if conda_only:
        notes.append("conda packages are not installed locally (no conda here): " + ", ".join(conda_only)
                     + "; pip requirements are")
    return Plan("venv", requirements=tuple(pip), python=interpreter, notes=tuple(notes), source=source,
                conda_only=tuple(conda_only))


def cache_root(env: Optional[dict[str, str]] = None) -> Path:
    env = os.environ if env is None else env
    if env.get("AMLPLATFORM_ENV_CACHE"):
        return Path(env["AMLPLATFORM_ENV_CACHE"])
    base = Path(env["XDG_CACHE_HOME"]) if env.get("XDG_CACHE_HOME") else Path.home() / ".cache"
    return base / "amlplatform" / "envs"


def python_identity(python: str) -> str:
    """The interpreter a venv is made from: its real path and version (a venv is bound to it)."""
    real = os.path.realpath(python)
    if real == os.path.realpath(sys.executable):
        return f"{real} {sys.version.split()[0]}"
    done = subprocess.run([python, "-c", "import sys; print(sys.version.split()[0])"], capture_output=True,
                          text=True, timeout=30)
    return f"{real} {done.stdout.strip()}"


def env_key(plan: Plan) -> str:
    """The environment's content hash: the interpreter and the requirement lines, in order."""
    data = {"v": KEY_VERSION, "python": python_identity(plan.python or sys.executable),
            "requirements": list(plan.requirements)}
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:32]


def installer(env: Optional[dict[str, str]] = None) -> str:
    env = os.environ if env is None else env
    choice = env.get("AMLPLATFORM_ENV_INSTALLER", "")
    if choice in ("pip", "uv"):
        return choice
    if choice:
        raise UserError(f"AMLPLATFORM_ENV_INSTALLER: give pip or uv, got {choice!r}")
    return "uv" if shutil.which("uv") else "pip"


@dataclass
class Built:
    path: Path  # the virtualenv
    key: str
    cached: bool
    seconds: float

    @property
    def bin(self) -> Path:
        return self.path / "bin"

    def as_record(self) -> dict[str, Any]:
        return {"kind": "venv", "path": str(self.path), "key": self.key, "cache": "hit" if self.cached else "built",
                "seconds": round(self.seconds, 3)}


def ensure(plan: Plan, *, notes: Callable[[str], None] = lambda _: None,
           root: Optional[Path] = None) -> Built:
    """The virtualenv for ``plan``: the cached one, or built now (progress through ``notes``)."""
    start = time.monotonic()
    key = env_key(plan)
    root = root or cache_root()
    final = root / key
    if (final / MARKER).is_file():
        return Built(final, key, True, time.monotonic() - start)
    root.mkdir(parents=True, exist_ok=True, mode=0o700)
    with open(root / f"{key}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # one build per environment; the others wait and reuse it
        if (final / MARKER).is_file():
            return Built(final, key, True, time.monotonic() - start)
        tmp = root / f".{key}.tmp-{os.getpid()}"
        shutil.rmtree(tmp, ignore_errors=True)
        tool = installer()
        notes(f"building the job's environment ({len(plan.requirements)} requirements from {plan.source}, "
              f"with {tool}) into {final}; later runs reuse it")
        try:
            _build(plan, tmp, tool, notes)
            (tmp / MARKER).write_text(json.dumps({"key": key, "requirements": list(plan.requirements),
                                                  "python": plan.python, "source": plan.source,
                                                  "built_with": tool}, indent=2), encoding="utf-8")
            if final.exists():  # a half-made folder from a crash without a marker
                shutil.rmtree(final)
            os.replace(tmp, final)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
    notes(f"environment ready ({time.monotonic() - start:.1f} s)")
    return Built(final, key, False, time.monotonic() - start)


def _run(cmd: list[str], what: str, notes: Callable[[str], None]) -> None:
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    tail: list[str] = []
    assert proc.stdout is not None
    for line in proc.stdout:
        line = line.rstrip()
        tail = (tail + [line])[-25:]
        if line.startswith(("Collecting", "Installing", "Successfully", "Resolved", "Installed", "Prepared")):
            notes(f"  {line}")
    if proc.wait() != 0:
        raise UserError(f"the job's environment could not be built ({what} exited {proc.returncode}); "
                        "nothing was kept. Its last lines:", tail or ["(no output)"])


def _build(plan: Plan, target: Path, tool: str, notes: Callable[[str], None]) -> None:
    python = plan.python or sys.executable
    req = target.parent / f"{target.name}.requirements.txt"
    try:
        req.write_text("".join(line + "\n" for line in plan.requirements), encoding="utf-8")
        if tool == "uv":
            _run(["uv", "venv", "--quiet", "--python", python, str(target)], "uv venv", notes)
            if plan.requirements:
                _run(["uv", "pip", "install", "--python", str(target / "bin" / "python"), "-r", str(req)],
                     "uv pip install", notes)
        else:
            _run([python, "-m", "venv", str(target)], "python -m venv", notes)
            if plan.requirements:
                _run([str(target / "bin" / "python"), "-m", "pip", "install", "--disable-pip-version-check",
                      "--no-input", "-r", str(req)], "pip install", notes)
    finally:
        req.unlink(missing_ok=True)
