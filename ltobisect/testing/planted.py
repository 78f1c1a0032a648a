"""Planted-fault kernel trees: real builds that fail in a known way, for self-tests and benchmarks.

A *scratch tree* is a cheap copy of the pristine Linux tree: a hard-link farm (``cp -al``, ~2 s
for 1.5 GB when source and destination share a file system; otherwise a plain ``cp -a``). The
files we plant faults into are REPLACED (unlink, then write a new file), never written through,
so the pristine tree behind the hard links is never modified. Builds use ``O=`` outside the tree.

A :class:`Fault` is a few lines appended to one source file, active only when all its
``requires`` options are enabled (``IS_ENABLED``, so ``=y`` or ``=m``):

- ``kind="error"``: ``#error "<message>"``, a compile error of that file;
- ``kind="undefined"``: an initcall that calls the undefined function ``<message>``, an
  ``ld.lld: error: undefined symbol`` at the final link of vmlinux;
- ``kind="raw"``: ``code`` verbatim inside the ``#if``.

Ready-made faults, chosen so that a tinyconfig (all of the options below are ``n`` there) plus
ThinLTO passes, and so that each option touches only a few files (cheap incremental builds):

- :data:`PAIR_ERROR`: ``fs/fhandle.c`` fails with ``#error`` when FHANDLE and
  CROSS_MEMORY_ATTACH are both set (fhandle.c is built only with FHANDLE).
- :data:`OTHER_ERROR`: same file, another message, when FHANDLE and USELIB are set.
- :data:`PAIR_UNDEFINED`: ``fs/exec.c`` (always built) references an undefined symbol when
  USELIB and CROSS_MEMORY_ATTACH are set: a link failure (target ``vmlinux``).
- :data:`LTO_UNDEFINED`: ``fs/exec.c`` references another undefined symbol when LTO_CLANG and
  USELIB are set: a link failure that needs LTO (by preprocessor condition, not by an LTO
  code-generation quirk).
- :data:`COMPILER_CRASH`: clang crashes (``#pragma clang __debug crash``) compiling fs/fhandle.c
  when FHANDLE and SYSFS_SYSCALL are set.

:func:`demo_kcov_tree` is of another kind: the embedded demo with kcov as Linux has it, where
clang-16 ThinLTO meets a real LLVM bug at the link (the reducer's and the log priors' case).

The options were picked because no header mentions them (FHANDLE, CROSS_MEMORY_ATTACH, USELIB
appear only in fs/fhandle.c, fs/exec.c, fs/binfmt_elf.c and mm/), so kbuild's per-option
dependency tracking rebuilds a handful of objects when one flips. (ADVISE_SYSCALLS, by contrast,
is in linux/syscalls.h and rebuilds most of the tree.)

Usage (the real-kernel tests and ``benchmarks/build_bench.py`` use it this way)::

    tree = scratch_tree(kernel_tree, tmp / "tree", [PAIR_ERROR, OTHER_ERROR])
    spec = lto_spec(tree, ccache_dir)
    text = kernel_config(spec, tmp / "cfg", enable=["FHANDLE", "CROSS_MEMORY_ATTACH"])
    resolved = resolved_config(text)      # a model.Resolved to hand to an oracle
"""
from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, Iterable, List, Optional, Sequence, Tuple

from ltobisect.build import build_env, make_args
from ltobisect.config import BuildSpec
from ltobisect.model import Resolved, candidate


@dataclass(frozen=True)
class Fault:
    """A planted fault: code appended to ``path`` that is active only when ``requires`` are all set."""

    path: str
    requires: tuple
    kind: str = "error"  # error | undefined | raw
    message: str = "ltobisect planted fault"
    code: str = ""

    def snippet(self, index: int = 0) -> str:
        """The C text appended to the file."""
        cond = " && ".join(f"IS_ENABLED(CONFIG_{o})" for o in self.requires) or "1"
        if self.kind == "error":
            body = f'#error "{self.message}"\n'
        elif self.kind == "undefined":
            fn = f"ltobisect_planted_call_{index}"
            body = (
                f"extern void {self.message}(void);\n"
                f"static int __init {fn}(void)\n{{\n\t{self.message}();\n\treturn 0;\n}}\n"
                f"late_initcall({fn});\n"
            )
        elif self.kind == "raw":
            body = self.code.rstrip("\n") + "\n"
        else:
            raise ValueError(f"unknown fault kind {self.kind!r}")
        head = "#include <linux/init.h>\n" if self.kind == "undefined" else ""
        return f"\n/* ltobisect planted fault {index} */\n{head}#if {cond}\n{body}#endif\n"


PAIR_ERROR = Fault("fs/fhandle.c", ("FHANDLE", "CROSS_MEMORY_ATTACH"), "error",
                   "ltobisect planted fault: fhandle with cross memory attach")
OTHER_ERROR = Fault("fs/fhandle.c", ("FHANDLE", "USELIB"), "error",
                    "ltobisect planted fault: fhandle with uselib")
PAIR_UNDEFINED = Fault("fs/exec.c", ("USELIB", "CROSS_MEMORY_ATTACH"), "undefined",
                       "ltobisect_planted_missing")
LTO_UNDEFINED = Fault("fs/exec.c", ("LTO_CLANG", "USELIB"), "undefined",
                      "ltobisect_planted_lto_missing")
COMPILER_CRASH = Fault("fs/fhandle.c", ("FHANDLE", "SYSFS_SYSCALL"), "raw", "clang crashes on purpose",
                       code="#pragma clang __debug crash")


def replace_file(path: Path, text: str) -> None:
    """Write ``text`` as a NEW file at ``path`` (unlink first: never write through a hard link)."""
    mode = path.stat().st_mode & 0o7777 if path.exists() else 0o644
    if path.exists() or path.is_symlink():
        path.unlink()
    path.write_text(text)
    path.chmod(mode)


def plant(tree: Path, faults: Iterable[Fault]) -> None:
    """Append every fault to its file in ``tree`` (a scratch tree), replacing the files."""
    by_file: dict = {}
    for n, fault in enumerate(faults):
        by_file.setdefault(fault.path, []).append((n, fault))
    for rel, items in by_file.items():
        path = tree / rel
        text = path.read_text()
        for n, fault in items:
            text += fault.snippet(n)
        replace_file(path, text)


def scratch_tree(source: Path, dest: Path, faults: Sequence[Fault] = ()) -> Path:
    """A hard-link copy of ``source`` at ``dest`` (which must not exist) with ``faults`` planted."""
    dest = Path(dest)
    if dest.exists():
        raise FileExistsError(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    linked = subprocess.run(["cp", "-al", str(source), str(dest)], capture_output=True, text=True)
    if linked.returncode != 0:
        shutil.rmtree(dest, ignore_errors=True)
        subprocess.run(["cp", "-a", str(source), str(dest)], check=True)
    plant(dest, faults)
    return dest


def lto_spec(tree: Path, ccache_dir: Optional[Path] = None, *, target: Optional[str] = None,
             make_vars: Sequence[str] = (), jobs: int = 2, llvm: str = "-16") -> BuildSpec:
    """The BuildSpec of the tests: x86_64, LLVM=-16 (or ``llvm``), ccache, bubblewrap when it works."""
    return BuildSpec(tree=Path(tree), arch="x86_64", llvm=llvm, make_vars=tuple(make_vars), target=target,
                     jobs=jobs, ccache_dir=ccache_dir)


def kernel_config(spec: BuildSpec, work: Path, *, base: str = "tinyconfig", lto: str = "thin",
                  enable: Iterable[str] = (), disable: Iterable[str] = ()) -> str:
    """A resolved .config made by the kernel's own tools: ``make <base>``, set options, olddefconfig.

    ``lto`` is ``thin``, ``full`` or ``none``. Options are names without ``CONFIG_``. Runs in
    ``work`` (an O= directory of its own) with the same make arguments as the builds, so the
    CC-derived symbols agree. The base config is made once per ``work`` directory (~10 s the
    first time, for the kconfig tools); each further config is one ``olddefconfig`` (~4 s).
    """
    work.mkdir(parents=True, exist_ok=True)
    args = ["make", *make_args(spec, work)]
    env = build_env(spec, work)
    (work / "tmp").mkdir(exist_ok=True)
    (work / "home").mkdir(exist_ok=True)

    def run(*argv: str) -> None:
        subprocess.run(list(argv), cwd=work, env=env, check=True, stdout=subprocess.DEVNULL,
                       stderr=subprocess.PIPE)

    cached = work / f"base-{base}.config"
    if not cached.is_file():
        run(*args, base)
        shutil.copyfile(work / ".config", cached)
    shutil.copyfile(cached, work / ".config")
    cfg = ["-d", "LTO_NONE", "-d", "LTO_CLANG_THIN", "-d", "LTO_CLANG_FULL"]
    cfg += {"thin": ["-e", "LTO_CLANG_THIN"], "full": ["-e", "LTO_CLANG_FULL"], "none": ["-e", "LTO_NONE"]}[lto]
    for opt in enable:
        cfg += ["-e", opt]
    for opt in disable:
        cfg += ["-d", opt]
    run(str(Path(spec.tree) / "scripts" / "config"), "--file", str(work / ".config"), *cfg)
    run(*args, "olddefconfig")
    return (work / ".config").read_text()


def digest_of(config_text: str) -> str:
    """A digest of a config's settings (comment lines other than 'is not set' ignored)."""
    keep = [ln for ln in config_text.splitlines() if ln and (not ln.startswith("#") or ln.endswith(" is not set"))]
    return hashlib.sha256("\n".join(keep).encode()).hexdigest()[:16]


def resolved_config(config_text: str) -> Resolved:
    """A :class:`~ltobisect.model.Resolved` for a full config text (empty candidate)."""
    return Resolved(candidate=candidate(), config_text=config_text, digest=digest_of(config_text))


# -- the demo with kcov as Linux has it: a real LLVM 16 crash at the ThinLTO link ------------------
DEMO_KCOV_C = """\
/* The coverage callbacks, as the kernel's kernel/kcov.c defines them (built uninstrumented). */
unsigned long kcov_area[64];

void __sanitizer_cov_trace_pc(void) { kcov_area[0]++; }
void __sanitizer_cov_trace_cmp1(unsigned char a, unsigned char b) { kcov_area[(a ^ b) & 63]++; }
void __sanitizer_cov_trace_cmp2(unsigned short a, unsigned short b) { kcov_area[(a ^ b) & 63]++; }
void __sanitizer_cov_trace_cmp4(unsigned int a, unsigned int b) { kcov_area[(a ^ b) & 63]++; }
void __sanitizer_cov_trace_cmp8(unsigned long a, unsigned long b) { kcov_area[(a ^ b) & 63]++; }
void __sanitizer_cov_trace_const_cmp1(unsigned char a, unsigned char b) { kcov_area[(a ^ b) & 63] += 2; }
void __sanitizer_cov_trace_const_cmp2(unsigned short a, unsigned short b) { kcov_area[(a ^ b) & 63] += 2; }
void __sanitizer_cov_trace_const_cmp4(unsigned int a, unsigned int b) { kcov_area[(a ^ b) & 63] += 2; }
void __sanitizer_cov_trace_const_cmp8(unsigned long a, unsigned long b) { kcov_area[(a ^ b) & 63] += 2; }
void __sanitizer_cov_trace_switch(unsigned long v, unsigned long *cases) { kcov_area[v & 63] += cases[0]; }
"""
DEMO_IRQ_C = """\
/* A flags check written as request_threaded_irq() writes it (Linux's kernel/irq/manage.c). */
#define IRQF_SHARED 0x80UL
#define IRQF_NO_SUSPEND 0x4000UL
#define IRQF_COND_SUSPEND 0x40000UL
#define IRQF_NO_AUTOEN 0x80000UL

__attribute__((used)) int irq_flags_valid(unsigned long irqflags, void *dev_id)
{
	if (((irqflags & IRQF_SHARED) && !dev_id) ||
	    ((irqflags & IRQF_SHARED) && (irqflags & IRQF_NO_AUTOEN)) ||
	    (!(irqflags & IRQF_SHARED) && (irqflags & IRQF_COND_SUSPEND)) ||
	    ((irqflags & IRQF_NO_SUSPEND) && (irqflags & IRQF_COND_SUSPEND)))
		return -22;
	return 0;
}
"""
def demo_kcov_tree(demo: Path, tmp: Path) -> Tuple[Path, Path]:
    """A copy of the demo with kcov as Linux has it: CONFIG_KCOV builds kernel/kcov.c and
    instruments the rest (``-fsanitize-coverage=trace-pc``, ``trace-cmp`` with the comparisons),
    and the demo's CONFIG_DEBUG_INFO adds ``-g``. With clang-16 ThinLTO, ld.lld-16 then aborts
    on a broken module (ClangBuiltLinux issue 1721, fixed in LLVM 17), as Linux 6.1's
    tinyconfig with the same options does. The bad config: the demo's randconfig without its
    planted link error, plus the three options (``CONFIG_KCOV``,
    ``CONFIG_KCOV_ENABLE_COMPARISONS``, ``CONFIG_DEBUG_INFO``). Returns (tree, bad config)."""
    tree = tmp / "tree"
    shutil.copytree(demo, tree)
    (tree / "kernel" / "kcov.c").write_text(DEMO_KCOV_C)
    (tree / "kernel" / "irq.c").write_text(DEMO_IRQ_C)
    with open(tree / "kernel" / "Kbuild", "a") as f:
        f.write("obj-y += irq.o\nobj-$(CONFIG_KCOV) += kcov.o\n")
    with open(tree / "kernel" / "Kconfig", "a") as f:
        f.write("\nconfig KCOV\n\tbool \"Code coverage for fuzzing\"\n"
                "\nconfig KCOV_ENABLE_COMPARISONS\n\tbool \"Comparison operands\"\n"
                "\tdepends on KCOV\n")
    make = (tree / "Makefile").read_text()
    make = make.replace("-include $(KCONFIG_CONFIG)\n", "-include $(KCONFIG_CONFIG)\n"
                        "ifdef CONFIG_DEBUG_INFO\nCFLAGS += -g\nendif\n"
                        "kcov-flags-$(CONFIG_KCOV) += -fsanitize-coverage=trace-pc\n"
                        "kcov-flags-$(CONFIG_KCOV_ENABLE_COMPARISONS) += "
                        "-fsanitize-coverage=trace-cmp\n", 1)
    make = make.replace("$(Q)$(CC) $(CFLAGS) $(DEMO_CFLAGS) -MD",
                        "$(Q)$(CC) $(CFLAGS) $(if $(filter kernel/kcov.o,$@),,$(kcov-flags-y)) "
                        "$(DEMO_CFLAGS) -MD", 1)
    if "$(kcov-flags-y)) $(DEMO_CFLAGS)" not in make:
        raise ValueError(f"{demo}/Makefile has no compile rule of the demo's form")
    (tree / "Makefile").write_text(make)
    bad = tmp / "bad.config"
    bad.write_text((tree / "configs" / "randconfig.config").read_text().replace(
        "CONFIG_NET_SCHED_STATS=y", "# CONFIG_NET_SCHED_STATS is not set")
        + "CONFIG_KCOV=y\nCONFIG_KCOV_ENABLE_COMPARISONS=y\n")  # DEBUG_INFO=y is in it
    return tree, bad


#: The demo's history for ``ltobisect bisect``: (subject, path, what the commit makes the file).
#: The first commit is the demo whose net/tso.c does not use the GSO fields yet (it builds).
_TSO_BEFORE = """\
// SPDX-License-Identifier: GPL-2.0
/* TCP segmentation offload: hand large packets to the device in one piece. */
#include <demo/kernel.h>
#include <demo/skbuff.h>

unsigned int tso_segments(const struct sk_buff *skb, unsigned int mss);

unsigned int tso_segments(const struct sk_buff *skb, unsigned int mss)
{
	return (skb->len + mss - 1) / mss;
}
"""


def demo_git_history(demo: Path, tmp: Path) -> Tuple[Path, Dict[str, str], Path]:
    """A git repository of the demo with a history of six commits on a first one that builds:

    1. an unrelated comment in lib/;  2. another in fs/;
    3. net/Kbuild broken another way (make stops before compiling anything: a skip);
    4. net/Kbuild fixed;  5. net/tso.c uses the GSO fields (the failure: the first bad commit);
    6. an unrelated comment in lib/.

    Returns (the checkout, ``{"good": sha, "broken": sha, "first_bad": sha, "bad": sha, ...}``,
    the bad config: the demo's randconfig with only the net/tso.c failure)."""
    repo = tmp / "linux"
    shutil.copytree(demo, repo)
    tso = (repo / "net" / "tso.c").read_text()
    replace_file(repo / "net" / "tso.c", _TSO_BEFORE)
    env = dict(os.environ, GIT_AUTHOR_NAME="A. Developer", GIT_AUTHOR_EMAIL="dev@example.org",
               GIT_COMMITTER_NAME="A. Developer", GIT_COMMITTER_EMAIL="dev@example.org",
               GIT_CONFIG_NOSYSTEM="1", HOME=str(tmp))
    day = [0]

    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=repo, env=env, check=True, capture_output=True,
                              text=True).stdout.strip()

    def commit(subject: str) -> str:
        day[0] += 1
        when = f"2026-11-{day[0]:02d}T12:00:00+00:00"
        env.update(GIT_AUTHOR_DATE=when, GIT_COMMITTER_DATE=when)
        git("add", "-A")
        git("commit", "-q", "-m", subject)
        return git("rev-parse", "HEAD")

    git("init", "-q", "-b", "master")
    revs = {"good": commit("demo: the tree")}
    kbuild = (repo / "net" / "Kbuild").read_text()
    steps = [
        ("lib", "lib: say what crc.c computes", lambda: _append(repo / "lib" / "crc.c", "/* CRC-32 */\n")),
        ("fs", "fs: a comment on the superblock", lambda: _append(repo / "fs" / "super.c", "/* super */\n")),
        ("broken", "net: list the objects by option", lambda: replace_file(
            repo / "net" / "Kbuild", kbuild.replace("obj-$(CONFIG_NET) += core.o",
                                                    "obj-$(CONFIG_NET) += core.o\n  objects by option"))),
        ("fixed", "net: fix the Kbuild line", lambda: replace_file(repo / "net" / "Kbuild", kbuild)),
        ("first_bad", "net: tso: use the device's GSO size", lambda: replace_file(repo / "net" / "tso.c", tso)),
        ("bad", "lib: a comment on init", lambda: _append(repo / "lib" / "init.c", "/* init */\n")),
    ]
    for key, subject, change in steps:
        change()
        revs[key] = commit(subject)
    bad = tmp / "bad.config"
    bad.write_text((repo / "configs" / "randconfig.config").read_text().replace(
        "CONFIG_NET_SCHED_STATS=y", "# CONFIG_NET_SCHED_STATS is not set").replace(
        "CONFIG_NET_GSO=y", "# CONFIG_NET_GSO is not set"))
    return repo, revs, bad


def _append(path: Path, text: str) -> None:
    replace_file(path, path.read_text() + text)


def git_history_over(tree: Path, git_dir: Path, commits: Sequence[Tuple[str, Dict[str, str]]],
                     first: str = "the tree") -> List[str]:
    """A bare repository at ``git_dir`` whose first commit is ``tree`` as it is (read, never
    written: a kernel tree of 1.5 GB is not copied) and then one commit per ``(subject,
    {path: new text})``, each made with git's plumbing on an index of its own. Returns the
    commits' shas, oldest first; ``master`` (and HEAD) is the last."""
    git_dir = Path(git_dir)
    index = git_dir.parent / f"{git_dir.name}.index"
    env = dict(os.environ, GIT_DIR=str(git_dir), GIT_INDEX_FILE=str(index),
               GIT_AUTHOR_NAME="A. Developer", GIT_AUTHOR_EMAIL="dev@example.org",
               GIT_COMMITTER_NAME="A. Developer", GIT_COMMITTER_EMAIL="dev@example.org",
               GIT_CONFIG_NOSYSTEM="1", HOME=str(git_dir.parent))

    def git(*args: str, text: Optional[str] = None, **kw: str) -> str:
        return subprocess.run(["git", *args], env={**env, **kw}, input=text, check=True,
                              capture_output=True, text=True, cwd=tree).stdout.strip()

    git("init", "-q", "--bare", "-b", "master", str(git_dir))
    # -f: the tree as it is (Debian's kernel tree ignores everything at its top: "/*")
    git("add", "-A", "-f", "--", ".", GIT_WORK_TREE=str(Path(tree).resolve()))
    shas: List[str] = []
    for n, (subject, files) in enumerate([(first, {})] + list(commits), start=1):
        for path, text in files.items():
            blob = git("hash-object", "-w", "--stdin", text=text)
            git("update-index", "--add", "--cacheinfo", f"100644,{blob},{path}")
        when = f"2026-11-{n:02d}T12:00:00+00:00"
        parent = ["-p", shas[-1]] if shas else []
        shas.append(git("commit-tree", git("write-tree"), *parent, "-m", subject,
                        GIT_AUTHOR_DATE=when, GIT_COMMITTER_DATE=when))
    git("update-ref", "refs/heads/master", shas[-1])
    index.unlink(missing_ok=True)
    return shas
