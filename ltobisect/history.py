"""A kernel's git history, read without writing to it: revisions, ranges, commits, checkouts.

The bisection of commits (:mod:`ltobisect.conductor.first_bad`) needs git's answers but must leave the
user's repository as it found it (it may be read-only, shared, or in the middle of their own
work): no ``git bisect`` (it writes refs and a log in ``.git``), no ``git worktree`` (it writes
``.git/worktrees``), no checkout in the tree. Instead:

- revisions are checked out into a directory of our own with an index file of our own
  (``GIT_INDEX_FILE``): ``git read-tree --reset -u REV`` rewrites only the files that differ
  from the last revision checked out there, so the next build is incremental;
- the range left is ``git rev-list BAD --not GOOD...`` and the next revision to test is the one
  git's own bisection would pick (``--bisect-all``), skipped ones excepted;
- a commit is reverted in the checkout by applying its reverse diff (``git apply``, our index
  untouched), and undone by checking its files out again.

Every git command runs through the process room (:func:`ltobisect.process.run`): bounded by a
timeout, killed with its process group on a stop.
"""
from __future__ import annotations

import os
import re
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence, Tuple

from ltobisect import process
from ltobisect.errors import InfraError, UserError

#: Seconds a git command may take (a checkout of a whole kernel tree takes about a minute here).
GIT_TIMEOUT = 900.0
_SHA = re.compile(r"[0-9a-f]{40}")
#: What ``git log`` prints for a commit: one field a line.
_FIELDS = ("%H", "%s", "%an <%ae>", "%as", "%P")


@dataclass(frozen=True)
class Commit:
    """One commit as a report names it."""

    sha: str
    subject: str
    author: str
    date: str
    parents: Tuple[str, ...]

    @property
    def short(self) -> str:
        return self.sha[:12]

    def fixes_line(self) -> str:
        """The kernel's ``Fixes:`` tag for this commit, ready to paste."""
        return f'Fixes: {self.short} ("{self.subject}")'


class Repo:
    """A git repository, read only (``git_dir`` is its ``.git``)."""

    def __init__(self, path: Path, stop: Optional[threading.Event] = None) -> None:
        self.path = Path(path)
        self.stop = stop
        found = self._git_dir(self.path)
        if found is None:
            raise UserError(f"{self.path} is not a git checkout",
                            hint="give --repo, a git clone of the kernel the session's tree came from")
        self.git_dir = found

    @staticmethod
    def _git_dir(path: Path) -> Optional[Path]:
        dotgit = path / ".git"
        if dotgit.is_dir():
            return dotgit.resolve()
        if dotgit.is_file():  # a worktree or submodule: "gitdir: <path>"
            text = dotgit.read_text(errors="replace").strip()
            if text.startswith("gitdir:"):
                target = Path(text.split(":", 1)[1].strip())
                return (path / target).resolve() if not target.is_absolute() else target
        if (path / "HEAD").is_file() and (path / "objects").is_dir():
            return path.resolve()  # a bare repository
        return None

    # -- running git -------------------------------------------------------------------------
    def git(self, *args: str, cwd: Optional[Path] = None, env: Optional[Dict[str, str]] = None,
            check: bool = True, timeout: float = GIT_TIMEOUT) -> Tuple[int, str]:
        """Run ``git --git-dir=<ours> args``; its exit status and output (stdout and stderr)."""
        full = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
        full.update(LC_ALL="C", GIT_DIR=str(self.git_dir), GIT_CONFIG_NOSYSTEM="1",
                    GIT_TERMINAL_PROMPT="0", GIT_OPTIONAL_LOCKS="0")
        full.update(env or {})
        argv = ["git", "-c", f"safe.directory={self.git_dir}", "-c", "core.hooksPath=/dev/null",
                *args]
        try:
            code, text = process.capture(argv, cwd=cwd, env=full, timeout=timeout, stop=self.stop)
        except OSError as exc:
            raise InfraError(f"cannot run git: {exc}") from exc
        if code == -1:
            raise InfraError(f"git {args[0]} was stopped (over {timeout:.0f} s, or a stop)")
        if check and code != 0:
            tail = " | ".join(text.strip().splitlines()[-2:])
            raise InfraError(f"git {' '.join(args[:2])} failed ({code}): {tail}")
        return code, text

    # -- revisions ---------------------------------------------------------------------------
    def resolve(self, rev: str, what: str) -> str:
        """The full sha of the commit ``rev`` names; UserError when it names none."""
        code, text = self.git("rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}", check=False)
        sha = next((w for w in text.split() if _SHA.fullmatch(w)), None)
        if code != 0 or sha is None:
            raise UserError(f"{what} {rev!r} is not a commit of {self.path}",
                            hint="give a tag, a branch or a commit id (git log --oneline)")
        return sha

    def is_ancestor(self, old: str, new: str) -> bool:
        code, _ = self.git("merge-base", "--is-ancestor", old, new, check=False)
        return code == 0

    def commit(self, sha: str) -> Commit:
        _, text = self.git("log", "-1", "--no-show-signature", "--format=" + "%n".join(_FIELDS), sha)
        lines = text.splitlines()
        at = next(i for i, ln in enumerate(lines) if _SHA.fullmatch(ln))
        sha_, subject, author, date, parents = (lines[at:at + 5] + [""] * 5)[:5]
        return Commit(sha_, subject, author, date, tuple(parents.split()))

    def between(self, bads: Sequence[str], goods: Sequence[str]) -> List[str]:
        """The commits every bad one reaches and no good one does, newest first (topological)."""
        common: Optional[set] = None
        order: List[str] = []
        for bad in bads:
            _, text = self.git("rev-list", "--topo-order", bad, "--not", *goods)
            got = [w for w in text.split() if _SHA.fullmatch(w)]
            if common is None:
                order, common = got, set(got)
            else:
                common &= set(got)
        return [c for c in order if common is not None and c in common]

    def bisect_order(self, bad: str, goods: Sequence[str]) -> List[str]:
        """The range's commits in the order git's bisection would rather test them (the one
        that halves the range first)."""
        _, text = self.git("rev-list", "--bisect-all", bad, "--not", *goods)
        return [ln.split()[0] for ln in text.splitlines() if ln and _SHA.fullmatch(ln.split()[0])]

    # -- checkouts ---------------------------------------------------------------------------
    def checkout(self, sha: str, where: Path, index: Path) -> None:
        """Make ``where`` hold revision ``sha``: only files that differ from what the index
        file ``index`` says is there are written."""
        where.mkdir(parents=True, exist_ok=True)
        self.git("read-tree", "--reset", "-u", sha, cwd=where,
                 env={"GIT_WORK_TREE": str(where), "GIT_INDEX_FILE": str(index)})

    def restore(self, where: Path, index: Path, paths: Sequence[str]) -> None:
        """Write ``paths`` back as the index file says (undo a revert)."""
        if not paths:
            return
        self.git("checkout-index", "-f", "-q", "--", *paths, cwd=where,
                 env={"GIT_WORK_TREE": str(where), "GIT_INDEX_FILE": str(index)}, check=False)
        # Files the revert created (they are not in the index) go away.
        _, text = self.git("ls-files", "--others", "--", *paths, cwd=where,
                           env={"GIT_WORK_TREE": str(where), "GIT_INDEX_FILE": str(index)}, check=False)
        for name in text.splitlines():
            if name and (where / name).is_file():
                (where / name).unlink()

    def revert_in(self, sha: str, where: Path, index: Path,
                  before: Callable[[List[str]], None] = lambda paths: None) -> Tuple[bool, List[str], str]:
        """Apply the reverse of commit ``sha`` to the checkout ``where``: (applied, the paths it
        touches, why not). A merge commit or a diff that does not apply is not reverted.
        ``before(paths)`` is called once the revert is known to apply, before any file changes
        (the caller records what to undo should it be killed half way)."""
        parents = self.commit(sha).parents
        if len(parents) != 1:
            return False, [], "a merge commit" if parents else "the first commit"
        _, names = self.git("diff", "--name-only", "--no-renames", sha, parents[0])
        paths = [n for n in names.splitlines() if n]
        with tempfile.NamedTemporaryFile(suffix=".patch") as patch:
            self.git("diff", "--binary", "--no-renames", f"--output={patch.name}", sha, parents[0])
            env = {"GIT_WORK_TREE": str(where), "GIT_INDEX_FILE": str(index)}
            code, said = self.git("apply", "--check", patch.name, cwd=where, env=env, check=False)
            if code != 0:
                return False, [], "it does not revert cleanly: " + " | ".join(said.strip().splitlines()[-2:])
            before(paths)
            self.git("apply", patch.name, cwd=where, env=env)
        return True, paths, ""


def describe(tree: Path, timeout: float = 30.0) -> Optional[str]:
    """``git describe --always --dirty --tags`` of a tree that is a git checkout (None when it
    is not one, or git cannot say in ``timeout`` seconds): the report's "Version" line."""
    if not (Path(tree) / ".git").exists():
        return None
    try:
        code, text = process.capture(["git", "-C", str(tree), "describe", "--always", "--dirty",
                                      "--tags"], timeout=timeout,
                                     env={**os.environ, "LC_ALL": "C", "GIT_OPTIONAL_LOCKS": "0"})
    except OSError:
        return None
    line = text.strip().splitlines()[-1].strip() if text.strip() else ""
    return line if code == 0 and line else None

