"""Which files of a source folder a run gets, and their azure-ai-ml compatible content hash.

Rules, in order, for every entry met while walking the folder (``os.scandir``, sorted by name):

1. Symlinks: one whose target lies outside the folder is excluded ("symlink leaves the folder");
   a broken one is excluded; one to a file inside is kept under the link's own path with the
   target's bytes (as azure-ai-ml does); one to a folder inside is followed, unless that folder
   is the link's own ancestor (a loop, excluded). A link whose target is on the deny-list is
   excluded too, so a secret cannot ride in under another name.
2. The built-in deny-list (``DENY_*`` below), always, whatever the ignore file says. Names are
   compared case-insensitively; ``.env`` / ``.env.*`` / ``.envs`` are denied as files AND as folders.
3. The ignore file: the root ``.amlignore`` if it exists, else the root ``.gitignore``; never
   merged; gitignore semantics via ``pathspec.GitIgnoreSpec``. Like azure-ai-ml, parent
   ``.gitignore`` files and ``.gitignore`` files in sub-folders are NOT read (azure-ai-ml only
   ever reads the root file), and the ignore file itself is uploaded unless it ignores itself.

An excluded folder is pruned: the walk never descends into it, so a 50,000-file ``data/``
that is ignored costs one ``stat``. This is git's rule too: a negation (``!data/keep.csv``)
cannot re-include a file whose parent folder is excluded; use ``data/*`` + ``!data/keep.csv``.
(azure-ai-ml itself walks everything and matches files one by one, so with ``data/`` +
``!data/keep.csv`` it would upload ``keep.csv``; we follow git.)

The content hash is azure-ai-ml's ``get_content_hash`` (hash version 202208): SHA-256 over
the number of files as decimal text; then, for each file sorted by ``relpath.lower()``,
``#<relpath>#`` and its size as decimal text; then every file's bytes in the same order.
Relative paths are POSIX, UTF-8 encoded. Names that differ only in case sort by their exact
text next (azure-ai-ml keeps the file system's order there, which is not stable).
"""

import fnmatch
import os
import shutil
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Optional, Sequence

from amlplatform.errors import UserError

HASH_VERSION = "202208"
CHUNK_SIZE = 1024 * 1024
DEFAULT_MAX_BYTES = 300 * 1024 * 1024
DEFAULT_MAX_FILES = 2000
IGNORE_FILES = (".amlignore", ".gitignore")

# Folder names denied at any depth -> why.
DENY_DIRS = {
    ".git": "version control metadata",
    ".azure": "cloud credentials",
    ".aws": "cloud credentials",
    ".ssh": "ssh keys",
    ".kube": "cluster credentials",
    ".docker": "registry credentials",
    ".gnupg": "private keys",
    ".env": "environment secrets",  # a folder of env files (.env/prod, .env/dev)
    ".envs": "environment secrets",  # cookiecutter-django's .envs/.production/.postgres
    ".terraform": "terraform state and providers",
    ".venv": "virtualenv",
    "venv": "virtualenv",
    "__pycache__": "cache",
    ".pytest_cache": "cache",
    ".mypy_cache": "cache",
    ".ruff_cache": "cache",
    ".ipynb_checkpoints": "cache",
    ".hypothesis": "cache",
    "node_modules": "node packages",
    "mlruns": "local MLflow store",
    ".amlplatform": "local runs",
}
# Folder name patterns (case-insensitive) denied at any depth -> why.
DENY_DIR_PATTERNS = {
    ".env.*": "environment secrets",  # .env.production/, .env.d/
}
# Folder names denied only at the top of the source folder: Azure ML's own run folders there.
DENY_ROOT_DIRS = {
    "outputs": "run outputs folder",
    "logs": "run logs folder",
}
# File name patterns (lowercase; matched against the lowercased name) denied at any depth -> why.
#
# Cloud credential JSON files: Google's service-account keys and OAuth client secrets are real
# secrets, and their usual names (``credentials.json``, ``application_default_credentials.json``,
# ``client_secret*.json``, ``*service-account*.json`` / ``*service_account*.json``) are rarely the
# names of a data file a training script needs. We deny them; the price is that a dataset that
# happens to be called ``credentials.json`` must be renamed (the ``--dry-run`` listing says why it
# is missing). A key saved under an arbitrary name (``my-project-1a2b3c.json``) cannot be told
# from data by its name and is NOT caught: keep keys out of the source folder.
DENY_FILES = {
    ".git": "version control metadata",  # a worktree's or submodule's .git file
    ".env": "environment secrets",
    ".env.*": "environment secrets",
    ".envrc": "environment secrets",  # direnv
    ".renviron": "environment secrets",  # R
    "*.pem": "private key or certificate",
    "*.key": "private key",
    "id_rsa*": "private key",
    "id_dsa*": "private key",
    "id_ecdsa*": "private key",
    "id_ed25519*": "private key",
    "*.pfx": "private key or certificate",
    "*.p12": "private key or certificate",
    "*.p8": "private key",
    "*.ppk": "private key",  # PuTTY
    "*.jks": "private key store",
    "*.keystore": "private key store",
    ".netrc": "credentials",
    ".pypirc": "credentials",
    ".npmrc": "credentials",
    ".git-credentials": "credentials",
    ".pgpass": "credentials",
    ".vault-token": "credentials",
    ".dockercfg": "registry credentials",
    "kubeconfig": "cluster credentials",
    "kubeconfig.yaml": "cluster credentials",
    "kubeconfig.yml": "cluster credentials",
    "*.kubeconfig": "cluster credentials",
    "*.tfstate": "terraform state (holds secrets)",
    "*.tfstate.*": "terraform state (holds secrets)",
    "*.tfvars": "terraform variables (often secrets)",
    "*.tfvars.json": "terraform variables (often secrets)",
    "credentials.json": "cloud credentials",
    "application_default_credentials.json": "cloud credentials",
    "client_secret*.json": "cloud credentials",
    "*service-account*.json": "cloud credentials",
    "*service_account*.json": "cloud credentials",
    "pyvenv.cfg": "virtualenv",
}


@dataclass(frozen=True)
class SnapshotFile:
    relpath: str  # POSIX, relative to the root
    path: Path  # where to read the bytes (the target for a symlink)
    size: int


@dataclass(frozen=True)
class Excluded:
    relpath: str  # folders end with "/"
    reason: str


@dataclass
class Snapshot:
    root: Path
    files: list[SnapshotFile]  # sorted the way the hash sorts them
    excluded: list[Excluded]
    total_bytes: int
    content_hash: str
    ignore_file: Optional[str]  # ".amlignore", ".gitignore" or None

    @property
    def relpaths(self) -> list[str]:
        return [f.relpath for f in self.files]


def hash_order(relpaths: Iterable[str]) -> list[str]:
    """The order of the hash: ``str.lower()`` of the relative path, then the exact text."""
    return sorted(relpaths, key=lambda p: (p.lower(), p))


def _update_from_file(h, path: Path, buf: bytearray) -> int:
    view = memoryview(buf)
    n_total = 0
    with open(path, "rb", buffering=0) as fh:
        while True:
            n = fh.readinto(buf)
            if not n:
                break
            h.update(view[:n])
            n_total += n
    return n_total


def hash_files(items: Sequence[tuple[str, Path, int]]) -> str:
    """Hash ``(relpath, path, size)`` items already in hash order; sizes as recorded at walk time.

    A file whose length changed since it was measured raises ``UserError`` (the hash would no
    longer describe what gets uploaded).
    """
    import hashlib

    h = hashlib.sha256()
    h.update(str(len(items)).encode())
    for relpath, _path, size in items:
        h.update(("#" + relpath + "#").encode("utf-8", "surrogateescape"))
        h.update(str(size).encode())
    buf = bytearray(CHUNK_SIZE)
    for relpath, path, size in items:
        try:
            read = _update_from_file(h, path, buf)
        except OSError as exc:  # unreadable (permissions), gone, or not a regular file any more
            raise UserError(f"{relpath}: cannot be read for the snapshot ({exc.strerror or exc}); "
                            "fix its permissions or leave it out with .amlignore") from None
        if read != size:
            raise UserError(f"{relpath} changed while it was being snapshotted ({size} bytes, then {read}); try again")
    return h.hexdigest()


def content_hash(root: Path, relpaths: Sequence[str]) -> str:
    """azure-ai-ml's content hash (version 202208) of these files under ``root``, as hex SHA-256."""
    root = Path(root)
    items = []
    for rel in hash_order(relpaths):
        p = root / rel
        items.append((rel, p, os.path.getsize(p)))
    return hash_files(items)


def _deny_reason(name: str, is_dir: bool, at_root: bool) -> Optional[str]:
    lower = name.lower()
    if is_dir:
        why = DENY_DIRS.get(lower) or (DENY_ROOT_DIRS.get(lower) if at_root else None)
        if why is None:
            why = next((w for pattern, w in DENY_DIR_PATTERNS.items() if fnmatch.fnmatchcase(lower, pattern)), None)
        return f"deny-list: {why}" if why else None
    for pattern, why in DENY_FILES.items():
        if fnmatch.fnmatchcase(lower, pattern):
            return f"deny-list: {why}"
    return None


def _denied_path(rel_parts: Sequence[str], is_dir: bool) -> Optional[str]:
    """Deny reason for a path given by its parts (used for symlink targets inside the root)."""
    for i, part in enumerate(rel_parts[:-1]):
        why = _deny_reason(part, True, i == 0)
        if why:
            return why
    if not rel_parts:
        return None
    return _deny_reason(rel_parts[-1], is_dir, len(rel_parts) == 1)


def load_ignore(root: Path):
    """``(name, GitIgnoreSpec)`` of the root ``.amlignore``, else ``.gitignore``, else ``(None, None)``."""
    for name in IGNORE_FILES:
        p = root / name
        if p.is_file():
            import pathspec

            try:
                text = p.read_text(encoding="utf-8", errors="replace")
            except OSError as exc:
                raise UserError(f"cannot read {p}: {exc.strerror}") from None
            # azure-ai-ml strips trailing whitespace from every line; so do we (same file set)
            lines = [line.rstrip() for line in text.splitlines()]
            return name, pathspec.GitIgnoreSpec.from_lines(lines)
    return None, None


def special_file_kind(path: Path) -> Optional[str]:
    """What ``path`` is when it exists but is neither a regular file nor a folder (after symlinks):
    "a character device" (``/dev/zero``), "a block device", "a FIFO (named pipe)", "a socket";
    ``None`` for a regular file, a folder or a missing path. Such a path is never read (it could
    hang or flood) nor uploaded (Azure ML uploads files and folders only)."""
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return None
    if stat.S_ISREG(mode) or stat.S_ISDIR(mode):
        return None
    return ("a character device" if stat.S_ISCHR(mode) else "a block device" if stat.S_ISBLK(mode)
            else "a FIFO (named pipe)" if stat.S_ISFIFO(mode) else "a socket" if stat.S_ISSOCK(mode)
            else "a special file")


def _is_venv(path: str) -> bool:
    return os.path.isfile(os.path.join(path, "pyvenv.cfg"))


def _within(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip(os.sep) + os.sep)


# Entries (kept, left out or pruned) one walk examines at most, whatever the file limits: a folder of
# symlink mazes or millions of ignored files gives a clear error instead of a walk that never ends.
MAX_ENTRIES = 200_000


class WalkLimit(UserError):
    """The walk stopped at a limit; ``files``/``excluded`` hold what it had met by then."""

    def __init__(self, message: str, files: list["SnapshotFile"], excluded: list["Excluded"],
                 ignore_name: Optional[str]) -> None:
        super().__init__(message)
        self.files = files
        self.excluded = excluded
        self.ignore_name = ignore_name


def _filesystem_root(path: str) -> bool:
    return os.path.dirname(path) == path  # "/" (or a drive root on Windows)


def walk(root: Path, *, max_files: Optional[int] = None, max_bytes: Optional[int] = None,
         max_entries: Optional[int] = MAX_ENTRIES) -> tuple[list[SnapshotFile], list[Excluded], Optional[str]]:
    """The files a snapshot of ``root`` holds and the entries left out (with reasons).

    Bounded: the walk stops (``WalkLimit``) as soon as the kept files pass ``max_files`` or
    ``max_bytes``, or ``max_entries`` entries have been examined, so ``code: /`` or a home folder
    fails at the limit in a moment instead of walking the disk. A file system root is refused before
    walking. Folder symlinks are followed only inside the folder, never into one of their own
    ancestors (a loop), and at most once per target folder (by device and inode): a maze of links
    to the same folders is walked once, not once per path through it.
    """
    root = Path(root)
    if not root.exists():
        raise UserError(f"source folder {root} does not exist")
    if not root.is_dir():
        raise UserError(f"source {root} is not a folder")
    root_real = os.path.realpath(root)
    if _filesystem_root(root_real):
        raise UserError(f"source folder {root} is the root of the file system; give the project's own folder")
    ignore_name, spec = load_ignore(root)
    files: list[SnapshotFile] = []
    excluded: list[Excluded] = []
    linked: set[tuple[int, int]] = set()  # folders already entered through a symlink
    count = {"entries": 0, "bytes": 0}

    def stop(why: str) -> None:
        raise WalkLimit(f"stopped walking {root}: {why}", files, excluded, ignore_name)

    def ignored(rel: str) -> Optional[str]:
        if spec is None:
            return None
        res = spec.check_file(rel)
        if res.include:
            return f"{ignore_name}: {spec.patterns[res.index].pattern}"
        return None

    def visit(dir_abs: str, prefix: str, ancestors: frozenset) -> None:
        entries = []
        try:
            with os.scandir(dir_abs) as it:
                for entry in it:  # counted while listing: a folder of millions of entries stops at the bound
                    entries.append(entry)
                    count["entries"] += 1
                    if max_entries is not None and count["entries"] > max_entries:
                        stop(f"more than {max_entries} entries examined")
        except OSError as exc:
            excluded.append(Excluded(prefix or "./", f"cannot read folder: {exc.strerror}"))
            return
        entries.sort(key=lambda e: e.name)
        at_root = not prefix
        for entry in entries:
            rel = prefix + entry.name
            target = entry.path
            try:
                is_link = entry.is_symlink()
                if is_link:
                    target = os.path.realpath(entry.path)
                    if not _within(target, root_real):
                        excluded.append(Excluded(rel, f"symlink leaves the folder (-> {os.readlink(entry.path)})"))
                        continue
                    if not os.path.exists(target):
                        excluded.append(Excluded(rel, "broken symlink"))
                        continue
                st = os.stat(target)
            except OSError as exc:
                excluded.append(Excluded(rel, f"cannot read: {exc.strerror}"))
                continue
            is_dir = stat.S_ISDIR(st.st_mode)
            shown = rel + "/" if is_dir else rel
            why = _deny_reason(entry.name, is_dir, at_root)
            if why is None and is_dir and _is_venv(target):
                why = "deny-list: virtualenv"
            if why is None and is_link and target != root_real:
                target_parts = Path(os.path.relpath(target, root_real)).parts
                inner = _denied_path(target_parts, is_dir)
                if inner:
                    why = f"symlink to a denied path ({inner})"
            if why is None:
                why = ignored(shown)
            if why is not None:
                excluded.append(Excluded(shown, why))
                continue
            if is_dir:
                real = os.path.realpath(target)
                if real in ancestors:
                    excluded.append(Excluded(shown, "symlink loop"))
                    continue
                if is_link:
                    key = (st.st_dev, st.st_ino)
                    if key in linked:
                        excluded.append(Excluded(shown, f"symlink to a folder already followed (-> {os.readlink(entry.path)})"))
                        continue
                    linked.add(key)
                visit(target, shown, ancestors | {real})
            elif stat.S_ISREG(st.st_mode):
                files.append(SnapshotFile(rel, Path(target), st.st_size))
                count["bytes"] += st.st_size
                if max_files is not None and len(files) > max_files:
                    stop(f"more than {max_files} files")
                if max_bytes is not None and count["bytes"] > max_bytes:
                    stop(f"more than {format_bytes(max_bytes)}")
            else:
                excluded.append(Excluded(rel, "not a regular file"))

    try:
        visit(str(root), "", frozenset({root_real}))
    except RecursionError:
        raise UserError(f"source folder {root}: folders nested too deeply to walk") from None
    return files, excluded, ignore_name


def _largest_offenders(files: Sequence[SnapshotFile], n: int = 5) -> list[str]:
    human = format_bytes
    by_file = sorted(files, key=lambda f: -f.size)[:n]
    folders: dict[str, list[int]] = {}
    for f in files:
        if "/" in f.relpath:
            top = f.relpath.split("/", 1)[0] + "/"
            acc = folders.setdefault(top, [0, 0])
            acc[0] += f.size
            acc[1] += 1
    by_folder = sorted(folders.items(), key=lambda kv: (-kv[1][0], -kv[1][1]))[:n]
    lines = [f"file {f.relpath}: {human(f.size)}" for f in by_file]
    lines += [f"folder {name}: {human(b)} in {c} files" for name, (b, c) in by_folder]
    return lines


def format_bytes(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n} B"


def take_snapshot(root: Path, *, max_bytes: int = DEFAULT_MAX_BYTES, max_files: int = DEFAULT_MAX_FILES) -> Snapshot:
    """Walk ``root``, apply the deny-list and the ignore file, check the limits, hash the result."""
    root = Path(root)
    stopped = None
    try:
        found, excluded, ignore_name = walk(root, max_files=max_files, max_bytes=max_bytes)
    except WalkLimit as limit:  # the limits were passed while walking: what was met so far is enough to say why
        found, excluded, ignore_name, stopped = limit.files, limit.excluded, limit.ignore_name, limit
    total = sum(f.size for f in found)
    over = []
    if len(found) > max_files:
        over.append(f"{'at least ' if stopped else ''}{len(found)} files, more than the limit of {max_files}")
    if total > max_bytes:
        over.append(f"{'at least ' if stopped else ''}{format_bytes(total)}, more than the limit of {format_bytes(max_bytes)}")
    if stopped is not None and not over:
        over.append(str(stopped))
    if over:
        hint = ignore_name or ".amlignore"
        raise UserError(
            f"source folder {root} is too big to snapshot: {' and '.join(over)}"
            + (" (the walk stopped there)" if stopped else "")
            + f". Largest (add them to {hint}, or raise max_snapshot_bytes / max_snapshot_files):",
            _largest_offenders(found),
        )
    by_rel = {f.relpath: f for f in found}
    ordered = [by_rel[r] for r in hash_order(by_rel)]
    digest = hash_files([(f.relpath, f.path, f.size) for f in ordered])
    return Snapshot(root, ordered, excluded, total, digest, ignore_name)


def copy_snapshot(snapshot: Snapshot, dest: Path) -> None:
    """Materialise the snapshot's files (and only them) under ``dest``; symlinks become copies."""
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    made: set[str] = set()
    for f in snapshot.files:
        out = dest / f.relpath
        parent = str(out.parent)
        if parent not in made:
            out.parent.mkdir(parents=True, exist_ok=True)
            made.add(parent)
        shutil.copyfile(f.path, out)
        shutil.copymode(f.path, out)


# ---------------------------------------------------------------- data inputs (LocalUpload)

OBJECT_HASH_SEED = b"Initialize for october 2021 AML CLI version"


def object_hash(root: Path, files: Sequence[SnapshotFile], *, single_file: bool = False) -> str:
    """azure-ai-ml's ``get_object_hash`` (``_utils/_asset_utils.py``): the hash that names a local data
    input's upload folder ``LocalUpload/<hash>/<name>``, so equal data lands in the same place as
    azure-ai-ml would put it (and is not uploaded again).

    SHA-256 seeded with ``OBJECT_HASH_SEED``; a file adds its bytes; a folder adds, for every entry
    sorted by its path lower-cased, the entry's name, then the file's bytes or, for a sub-folder,
    the same recursively. Only the files the walk kept count (the deny-list and ignore file apply,
    as azure-ai-ml applies the ignore file); folders are those that hold kept files.
    """
    import hashlib

    h = hashlib.sha256(OBJECT_HASH_SEED)
    buf = bytearray(CHUNK_SIZE)
    if single_file:
        (f,) = files
        _update_from_file(h, f.path, buf)
        return h.hexdigest()
    tree: dict = {}
    for f in files:
        node = tree
        parts = f.relpath.split("/")
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = f

    def visit(node: dict) -> None:
        for name in sorted(node, key=lambda n: n.lower()):
            h.update(name.encode("utf-8", "surrogateescape"))
            child = node[name]
            if isinstance(child, dict):
                visit(child)
            else:
                read = _update_from_file(h, child.path, buf)
                if read != child.size:
                    raise UserError(f"{child.relpath} changed while it was being hashed; try again")

    visit(tree)
    return h.hexdigest()


@dataclass
class DataSnapshot:
    """A local data input: its files (relative to ``root`` for a folder; one file named like the
    source for a file), their azure-ai-ml object hash and the upload folder it names."""

    source: Path
    is_file: bool
    files: list[SnapshotFile]
    excluded: list[Excluded]
    total_bytes: int
    object_hash: str

    @property
    def name(self) -> str:
        return self.source.name

    @property
    def upload_prefix(self) -> str:
        """``LocalUpload/<hash>/<name>``: azure-ai-ml's ``generate_asset_id`` + the source's name."""
        return f"LocalUpload/{self.object_hash}/{self.name}"


def take_data_snapshot(source: Path) -> DataSnapshot:
    """The files of a local data input (no size limits: data is not code)."""
    source = Path(source)
    special = special_file_kind(source)
    if special:
        raise UserError(f"data input {source} is {special}, not a regular file or a folder")
    if source.is_file():
        size = source.stat().st_size
        f = SnapshotFile(source.name, source.resolve(), size)
        return DataSnapshot(source, True, [f], [], size, object_hash(source.parent, [f], single_file=True))
    if not source.is_dir():
        raise UserError(f"data input {source} does not exist")
    found, excluded, _ignore = walk(source, max_entries=None)  # data may hold millions of files
    by_rel = {f.relpath: f for f in found}
    ordered = [by_rel[r] for r in hash_order(by_rel)]
    if not ordered:
        raise UserError(f"data input folder {source} has no files to upload (empty, or all ignored)")
    return DataSnapshot(source, False, ordered, excluded, sum(f.size for f in ordered), object_hash(source, ordered))
