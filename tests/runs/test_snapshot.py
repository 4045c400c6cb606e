"""Snapshot: ignore file, deny-list, pruning, symlinks, limits and the azure-ai-ml content hash."""

import hashlib
import os
import subprocess
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from amlplatform.errors import UserError
from amlplatform.runs import snapshot as snap
from amlplatform.runs.snapshot import content_hash, copy_snapshot, take_snapshot


def reference_hash(root: Path, relpaths) -> str:
    """An independent, naive write-up of runs.md's hash (whole-file reads, sort on str.lower)."""
    h = hashlib.sha256(str(len(relpaths)).encode())
    ordered = sorted(relpaths, key=lambda p: p.lower())
    for rel in ordered:
        h.update(f"#{rel}#{(root / rel).stat().st_size}".encode())
    for rel in ordered:
        h.update((root / rel).read_bytes())
    return h.hexdigest()


def make(root: Path, files: dict) -> Path:
    for rel, data in files.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data if isinstance(data, bytes) else data.encode())
    return root


# --- the hash -------------------------------------------------------------------------------------


def build_case_and_nesting(root: Path) -> None:
    (root / "Sub" / "deeper").mkdir(parents=True)
    (root / "sub2").mkdir()
    (root / "a.txt").write_bytes(b"a\n")
    (root / "B.txt").write_bytes(b"B\n")
    (root / "c.TXT").write_bytes(b"")
    (root / "Sub" / "x.py").write_bytes(b"print('x')\n")
    (root / "Sub" / "deeper" / "Z.bin").write_bytes(bytes(range(256)) * 5000)
    (root / "sub2" / "a").write_bytes(b"")
    (root / "sub_a.txt").write_bytes(b"underscore sorts after slash\n")
    (root / "\u00fcn\u00efc\u00f8de-\u65e5\u672c.txt").write_text("\u00e9\n", encoding="utf-8")


def build_ignore(root: Path) -> None:
    (root / "data" / "raw").mkdir(parents=True)
    (root / "src").mkdir()
    (root / "data" / "raw" / "big.csv").write_bytes(b"1,2,3\n" * 100)
    (root / "data" / "readme.md").write_bytes(b"# data\n")
    (root / "src" / "train.py").write_bytes(b"import mlflow\n")
    (root / "src" / "debug.log").write_bytes(b"log\n")
    (root / "keep.log").write_bytes(b"keep\n")
    (root / "notes.tmp").write_bytes(b"tmp\n")
    (root / ".gitignore").write_bytes(b"*.log\n")  # not read: .amlignore wins
    (root / ".amlignore").write_bytes(b"data/*\n!data/readme.md\n*.log\n!keep.log\n*.tmp\n")


def build_symlinks(root: Path) -> None:
    (root / "src" / "pkg").mkdir(parents=True)
    (root / "src" / "pkg" / "util.py").write_bytes(b"u\n")
    (root / "main.py").write_bytes(b"m\n")
    (root / "link.py").symlink_to("src/pkg/util.py")  # a file link: the link's path, the target's bytes
    (root / "pkglink").symlink_to("src/pkg")  # a folder link inside: followed


# Produced by azure-ai-ml 1.35.2's ``get_content_hash(folder, get_ignore_file(folder))`` on the
# folders the builders above make (run in a throwaway venv; azure-ai-ml is not a dependency).
AZURE_AI_ML_1_35_2 = {
    "case_and_nesting": (build_case_and_nesting, "477ff6a1aecb902c7e9e3f0bc08ddac8b604011edbe5af584b9404937b0b70e7"),
    "ignore": (build_ignore, "3f58fcb8c927b7aad767398033d7a61c25965cee87eab92cc4810f454d0703ff"),
    "symlinks": (build_symlinks, "758758d1002752cb15ec6a92895a4d433d4ce98c3153476355a533a0d18a37bd"),
    "empty": (lambda root: None, "5feceb66ffc86f38d952786c6d696c79c2dbc239dd4e91b46729d73a27fb57e9"),
}


@pytest.mark.parametrize("case", sorted(AZURE_AI_ML_1_35_2))
def test_hash_equals_azure_ai_ml(tmp_path, case):
    build, expected = AZURE_AI_ML_1_35_2[case]
    build(tmp_path)
    s = take_snapshot(tmp_path)
    assert s.content_hash == expected
    assert s.content_hash == reference_hash(tmp_path, s.relpaths)


def test_hash_by_hand_case_insensitive_order(tmp_path):
    make(tmp_path, {"B.txt": "B", "a.txt": "a", "empty": b""})
    by_hand = hashlib.sha256(b"3" + b"#a.txt#1" + b"#B.txt#1" + b"#empty#0" + b"a" + b"B").hexdigest()
    s = take_snapshot(tmp_path)
    assert [f.relpath for f in s.files] == ["a.txt", "B.txt", "empty"]
    assert s.content_hash == by_hand == content_hash(tmp_path, ["empty", "B.txt", "a.txt"])


def test_hash_of_the_ignore_case_matches_its_file_list(tmp_path):
    build_ignore(tmp_path)
    s = take_snapshot(tmp_path)
    assert s.ignore_file == ".amlignore"
    assert s.relpaths == [".amlignore", ".gitignore", "data/readme.md", "keep.log", "src/train.py"]
    reasons = {e.relpath: e.reason for e in s.excluded}
    assert reasons["data/raw/"] == ".amlignore: data/*"
    assert reasons["src/debug.log"] == ".amlignore: *.log"


def test_large_file_is_read_in_chunks(tmp_path, monkeypatch):
    monkeypatch.setattr(snap, "CHUNK_SIZE", 7)
    data = os.urandom(1000)
    make(tmp_path, {"big.bin": data})
    assert take_snapshot(tmp_path).content_hash == reference_hash(tmp_path, ["big.bin"])


def test_file_that_changes_size_while_hashing_is_an_error(tmp_path):
    make(tmp_path, {"a": "abc"})
    with pytest.raises(UserError, match="changed while"):
        snap.hash_files([("a", tmp_path / "a", 99)])


NAMES = st.text(alphabet="aAbBzZ_-.0\u00e9\u00c9\u65e5", min_size=1, max_size=6).filter(lambda s: s not in (".", ".."))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.dictionaries(st.lists(NAMES, min_size=1, max_size=3).map("/".join), st.binary(max_size=64), max_size=12), st.randoms())
def test_hash_matches_reference_and_ignores_input_order(tree, rnd):
    with tempfile.TemporaryDirectory() as d:
        root = Path(d)
        made = []
        for rel, data in tree.items():
            p = root / rel
            try:
                p.parent.mkdir(parents=True, exist_ok=True)
                p.write_bytes(data)
                made.append(rel)
            except (FileExistsError, NotADirectoryError, IsADirectoryError):
                continue
        made = [r for r in made if (root / r).is_file()]
        if any(snap._denied_path(Path(r).parts, False) for r in made):
            return
        # names differing only in case are ordered by exact text by us, by the file system in azure-ai-ml
        if len({r.lower() for r in made}) != len(made):
            return
        shuffled = list(made)
        rnd.shuffle(shuffled)
        assert content_hash(root, shuffled) == content_hash(root, made) == reference_hash(root, made)
        assert sorted(take_snapshot(root).relpaths) == sorted(made)


# --- ignore files ---------------------------------------------------------------------------------


def test_amlignore_wins_and_files_are_never_merged(tmp_path):
    make(tmp_path, {".gitignore": "*.csv\n", ".amlignore": "*.txt\n", "a.csv": "1", "b.txt": "2"})
    s = take_snapshot(tmp_path)
    assert "a.csv" in s.relpaths and "b.txt" not in s.relpaths


def test_gitignore_used_when_no_amlignore_with_negation(tmp_path):
    make(tmp_path, {".gitignore": "*.log\n!keep.log\n", "a.log": "1", "keep.log": "2"})
    s = take_snapshot(tmp_path)
    assert s.ignore_file == ".gitignore" and s.relpaths == [".gitignore", "keep.log"]


def test_nested_and_parent_gitignore_files_are_not_read(tmp_path):
    make(tmp_path, {".gitignore": "*.csv\n", "proj/sub/.gitignore": "*.py\n", "proj/sub/x.py": "1", "proj/a.csv": "1"})
    s = take_snapshot(tmp_path / "proj")
    assert s.ignore_file is None
    assert s.relpaths == ["a.csv", "sub/.gitignore", "sub/x.py"]


def test_negation_cannot_reinclude_inside_an_excluded_folder(tmp_path):
    make(tmp_path, {".gitignore": "data/\n!data/keep.csv\n", "data/keep.csv": "1", "data/x.csv": "2"})
    s = take_snapshot(tmp_path)
    assert s.relpaths == [".gitignore"]
    assert [(e.relpath, e.reason) for e in s.excluded] == [("data/", ".gitignore: data/")]


def test_ignored_folders_are_pruned_not_walked(tmp_path, monkeypatch):
    make(tmp_path, {".amlignore": "data/\n", "train.py": "x"})
    deep = tmp_path / "data" / "a" / "b"
    deep.mkdir(parents=True)
    for i in range(200):
        (deep / f"f{i}.bin").write_bytes(b"x")
    scanned = []
    real_scandir = os.scandir
    monkeypatch.setattr(snap.os, "scandir", lambda p: scanned.append(str(p)) or real_scandir(p))
    s = take_snapshot(tmp_path)
    assert s.relpaths == [".amlignore", "train.py"]
    assert scanned == [str(tmp_path)]


GIT_ENV = {**os.environ, "GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_NOSYSTEM": "1"}
PATTERNS = st.sampled_from(["*.log", "!keep.log", "data/", "data/*", "!data/a.csv", "/top", "build", "**/x/*.csv",
                            "sub/", "!sub/x/", "*.c?v", "a*", "!a1", "x/", "#comment", ""])
REL_FILES = st.sampled_from(["a1", "a2", "keep.log", "run.log", "top", "sub/top", "data/a.csv", "data/b.csv",
                             "data/x/a.csv", "sub/x/k.csv", "sub/x/b.txt", "build/out.o", "src/build", "x/y.py", "m/x/z.csv"])


@settings(max_examples=40, deadline=None)
@given(st.lists(PATTERNS, max_size=6), st.sets(REL_FILES, min_size=1))
def test_ignore_semantics_match_git_itself(patterns, files):
    """git's own ``ls-files --others --exclude-standard`` is the reference for the root .gitignore."""
    with tempfile.TemporaryDirectory() as d:
        root = Path(d)
        make(root, {f: "x" for f in files})
        (root / ".gitignore").write_text("\n".join(patterns) + "\n")
        subprocess.run(["git", "init", "-q", str(root)], check=True, env=GIT_ENV)
        out = subprocess.run(["git", "-C", str(root), "ls-files", "--others", "--exclude-standard", "-z"],
                             check=True, capture_output=True, env=GIT_ENV).stdout.decode()
        expected = sorted(p for p in out.split("\0") if p)
        got = sorted(take_snapshot(root).relpaths)
        assert got == expected, patterns


# --- the deny-list --------------------------------------------------------------------------------

SECRETS = [
    ".env", ".env.local", ".ENV.production", "server.pem", "tls.KEY", "id_rsa", "id_rsa.pub", "id_ed25519",
    "cert.pfx", "store.p12", ".netrc", ".pypirc", ".git-credentials", ".git/config", ".azure/accessTokens.json",
    ".aws/credentials", ".ssh/config", ".kube/config", ".docker/config.json", ".venv/bin/python",
    "venv/lib/site.py", "env2/pyvenv.cfg", "env2/lib/x.py", "__pycache__/m.pyc", ".pytest_cache/v",
    ".mypy_cache/x", ".ipynb_checkpoints/n.ipynb", "node_modules/p/index.js", "mlruns/0/meta.yaml",
    ".amlplatform/runs/r.json",
    # the review's verified leaks (file forms) and their families
    ".envrc", ".envs/.production/.postgres", ".pgpass", ".vault-token", ".dockercfg", "key.ppk", "client.jks",
    "release.keystore", "AuthKey_ABC123.p8", "kubeconfig", "kubeconfig.yaml", "prod.kubeconfig",
    "terraform.tfstate", "terraform.tfstate.backup", "prod.tfvars", "prod.auto.tfvars.json",
    ".terraform/terraform.tfstate", ".terraform/providers/registry/p", ".Renviron", "credentials.json",
    "application_default_credentials.json", "client_secret_1234.apps.googleusercontent.com.json",
    "service-account.json", "my-project-service-account-key.json", "gcp_service_account.json",
    "id_dsa", "id_ecdsa.pub", ".npmrc", "kubeconfig.yml", ".gnupg/pubring.kbx", ".ruff_cache/x", ".hypothesis/db",
]
# Secrets that are FOLDERS named like a denied file (a tree cannot hold both ``.env`` and ``.env/prod``).
SECRET_FOLDERS = [".env/prod", ".ENV/dev.txt", ".env.production/db", ".env.d/x"]
ROOT_ONLY = ["outputs/model.pkl", "logs/run.txt"]
REVIEWED_LEAKS = [".env/prod", ".envrc", ".envs/.production/.postgres", ".pgpass", ".vault-token", ".dockercfg",
                  "key.ppk", "client.jks", "kubeconfig", "terraform.tfstate", ".Renviron", "service-account.json"]


def test_seeded_secret_folder_never_reaches_a_snapshot(tmp_path):
    files = {s: "secret" for s in SECRETS + ROOT_ONLY}
    files.update({f"pkg/{s}": "secret" for s in SECRETS})
    files.update({f"dirs/{s}": "secret" for s in SECRET_FOLDERS})
    files.update({"train.py": "print()", "pkg/outputs/kept.py": "nested outputs/ is code", ".amlignore": "!*\n!.env\n!*.pem\n"})
    make(tmp_path, files)
    s = take_snapshot(tmp_path)
    assert s.relpaths == [".amlignore", "pkg/outputs/kept.py", "train.py"]
    assert all(e.reason.startswith("deny-list: ") for e in s.excluded)
    assert {e.relpath for e in s.excluded} >= {".env", ".git/", ".ssh/", "env2/", "outputs/", "pkg/.venv/",
                                                "dirs/.env/", "dirs/.env.production/", ".envs/", ".terraform/"}


def test_the_reviewed_leaks_are_denied(tmp_path):
    make(tmp_path, {**{s: "TOPSECRET" for s in REVIEWED_LEAKS}, "train.py": "x", "data/train.json": "{}"})
    s = take_snapshot(tmp_path)
    assert s.relpaths == ["data/train.json", "train.py"]
    reasons = {e.relpath: e.reason for e in s.excluded}
    assert reasons[".env/"] == "deny-list: environment secrets"
    assert reasons["service-account.json"] == "deny-list: cloud credentials"


def test_every_deny_pattern_is_exercised_by_the_secrets_list():
    """A pattern added to the deny-list without a seeded example here is a pattern nobody tested."""
    names = {part.lower() for rel in SECRETS + SECRET_FOLDERS + ROOT_ONLY for part in rel.split("/")}
    import fnmatch

    for table in (snap.DENY_FILES, snap.DENY_DIRS, snap.DENY_DIR_PATTERNS, snap.DENY_ROOT_DIRS):
        missing = [p for p in table if not any(fnmatch.fnmatchcase(n, p) for n in names)]
        assert missing == [], missing


# Real secret files as they are found in projects, written down independently of the deny-list
# (not derived from its patterns): credential stores of common tools, key files by extension,
# and env files by the naming schemes people use.
REAL_WORLD_SECRETS = [
    ".env", ".env/prod", ".env.local", ".env.production/db.env", ".envs/.production/.postgres", ".envrc",
    ".Renviron", ".netrc", ".pgpass", ".pypirc", ".npmrc", ".git-credentials", ".vault-token", ".dockercfg",
    ".docker/config.json", ".aws/credentials", ".aws/config", ".azure/msal_token_cache.json",
    ".azure/accessTokens.json", ".ssh/id_rsa", ".ssh/authorized_keys", ".kube/config", ".gnupg/secring.gpg",
    "kubeconfig", "cluster.kubeconfig", "terraform.tfstate", "terraform.tfstate.backup", "secrets.tfvars",
    ".terraform/terraform.tfstate", "credentials.json", "application_default_credentials.json",
    "service-account.json", "client_secret_42.apps.googleusercontent.com.json", ".git/config",
]
KEY_EXTENSIONS = ["pem", "key", "ppk", "jks", "keystore", "p8", "p12", "pfx", "tfstate", "tfvars", "kubeconfig"]
KEY_PREFIXES = ["id_rsa", "id_dsa", "id_ecdsa", "id_ed25519"]
STEMS = st.text(alphabet="abkeyprod_-0", min_size=1, max_size=8)


@st.composite
def secret_paths(draw):
    """A real secret's path at a random depth, with random casing (deny-list matching is case-insensitive)."""
    secret = draw(st.one_of(
        st.sampled_from(REAL_WORLD_SECRETS),
        st.builds(lambda stem, ext: f"{stem}.{ext}", STEMS, st.sampled_from(KEY_EXTENSIONS)),
        st.builds(lambda pre, tail: pre + tail, st.sampled_from(KEY_PREFIXES), st.sampled_from(["", ".pub", "_old", "-2"])),
        st.builds(lambda tail: f".env.{tail}", STEMS),
        st.builds(lambda tail: f".env/{tail}", STEMS),
    ))
    if CASE_SENSITIVE_TMP:
        flips = draw(st.lists(st.booleans(), min_size=len(secret), max_size=len(secret)))
        secret = "".join(c.upper() if f else c for c, f in zip(secret, flips))
    dirs = draw(st.lists(NAMES, max_size=4))
    return "/".join([*dirs, secret])


def _case_sensitive_tmp() -> bool:
    with tempfile.TemporaryDirectory() as d:
        Path(d, "a").write_text("")
        return not Path(d, "A").exists()


CASE_SENSITIVE_TMP = _case_sensitive_tmp()


@settings(max_examples=150, deadline=None)
@given(st.one_of(secret_paths(), st.lists(NAMES, max_size=3).flatmap(
           lambda dirs: st.sampled_from([x for x in SECRETS + SECRET_FOLDERS if x != "env2/lib/x.py"]).map(
               lambda s: "/".join([*dirs, s])))),
       st.sampled_from(["", "!*\n", "!.env*\n!*.pem\n!.git/\n!**/.env/**\n"]))
def test_secrets_at_any_depth_are_denied(rel, ignore):
    with tempfile.TemporaryDirectory() as d:
        root = Path(d)
        try:
            make(root, {rel: "TOPSECRET", "ok.py": "x", ".amlignore": ignore or "# nothing\n"})
        except (FileExistsError, NotADirectoryError):
            return
        s = take_snapshot(root)
        assert "ok.py" in s.relpaths
        assert all(b"TOPSECRET" not in f.path.read_bytes() for f in s.files), (rel, s.relpaths)


def test_symlinks_cannot_smuggle_secrets_or_escape(tmp_path):
    outside = tmp_path / "outside"
    make(outside, {"secret.txt": "TOPSECRET"})
    root = make(tmp_path / "proj", {"train.py": "x", ".env": "TOPSECRET", "src/util.py": "u"})
    (root / "escape.txt").symlink_to(outside / "secret.txt")
    (root / "escape_dir").symlink_to(outside)
    (root / "config.txt").symlink_to(".env")
    (root / "broken").symlink_to("nowhere")
    (root / "util_link.py").symlink_to("src/util.py")
    (root / "src_link").symlink_to("src")
    (root / "src" / "loop").symlink_to("..")
    s = take_snapshot(root)
    reasons = {e.relpath: e.reason for e in s.excluded}
    assert reasons["escape.txt"].startswith("symlink leaves the folder")
    assert reasons["escape_dir"].startswith("symlink leaves the folder")
    assert reasons["config.txt"].startswith("symlink to a denied path")
    assert reasons["broken"] == "broken symlink"
    assert reasons["src/loop/"] == "symlink loop"
    assert s.relpaths == ["src/util.py", "src_link/util.py", "train.py", "util_link.py"]
    assert all(b"TOPSECRET" not in f.path.read_bytes() for f in s.files)
    assert s.content_hash == reference_hash(root, s.relpaths)


# --- limits, errors, copies -----------------------------------------------------------------------


def test_limits_name_the_largest_offenders(tmp_path):
    make(tmp_path, {"data/big.bin": b"x" * 5000, "data/b2.bin": b"x" * 10, "small.py": "x", "model.pt": b"y" * 3000})
    with pytest.raises(UserError) as info:
        take_snapshot(tmp_path, max_bytes=4000)
    text = str(info.value)
    assert "more than the limit" in text and "file data/big.bin" in text and "folder data/" in text
    assert info.value.problems[0].startswith("file data/big.bin")
    with pytest.raises(UserError, match="4 files, more than the limit of 3"):
        take_snapshot(tmp_path, max_files=3)


def test_missing_or_non_folder_source(tmp_path):
    with pytest.raises(UserError, match="does not exist"):
        take_snapshot(tmp_path / "nope")
    (tmp_path / "f").write_text("x")
    with pytest.raises(UserError, match="is not a folder"):
        take_snapshot(tmp_path / "f")


def test_copy_holds_exactly_the_snapshot(tmp_path):
    root = make(tmp_path / "p", {"a.py": "a", "d/b.py": "b", ".env": "s", "data/x": "x", ".gitignore": "data/\n"})
    (root / "link.py").symlink_to("a.py")
    os.chmod(root / "a.py", 0o755)
    s = take_snapshot(root)
    copy_snapshot(s, tmp_path / "copy")
    copied = sorted(p.relative_to(tmp_path / "copy").as_posix() for p in (tmp_path / "copy").rglob("*") if p.is_file())
    assert copied == sorted(s.relpaths) == [".gitignore", "a.py", "d/b.py", "link.py"]
    assert not (tmp_path / "copy" / "link.py").is_symlink()
    assert os.access(tmp_path / "copy" / "a.py", os.X_OK)
    assert take_snapshot(tmp_path / "copy").content_hash == s.content_hash


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads any file: the monkeypatched test below covers it")
def test_an_unreadable_file_is_a_clear_error_naming_it(tmp_path):
    (tmp_path / "train.py").write_text("print(1)\n")
    secret = tmp_path / "locked.csv"
    secret.write_text("a,b\n")
    secret.chmod(0)
    with pytest.raises(UserError, match=r"locked\.csv: cannot be read for the snapshot"):
        take_snapshot(tmp_path)


def test_a_file_that_cannot_be_read_while_hashing_is_a_clear_error(tmp_path, monkeypatch):
    """What a file without read permission gives a non-root user (the tests run as root here)."""
    (tmp_path / "train.py").write_text("print(1)\n")
    (tmp_path / "locked.csv").write_text("a,b\n")
    real_open = open

    def refusing_open(path, *args, **kwargs):
        if str(path).endswith("locked.csv"):
            raise PermissionError(13, "Permission denied", str(path))
        return real_open(path, *args, **kwargs)

    monkeypatch.setattr(snap, "open", refusing_open, raising=False)
    with pytest.raises(UserError, match=r"locked\.csv: cannot be read for the snapshot \(Permission denied\)"):
        take_snapshot(tmp_path)
