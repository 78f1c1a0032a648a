"""The long help of each command (``ltobisect COMMAND --help``): what it does, what it writes,
its exit codes and an example. Plain text, laid out by :mod:`.parser`'s formatter as written."""

MAIN_HELP = """\
Minimize a failing kernel config (clang, lld, LTO) to the few options that
still fail the same way.

examples:
  ltobisect demo                    minimize the embedded demo (no kernel)
  ltobisect minimize bad.config --tree linux --arch x86_64 --llvm -16
  ltobisect hook --build-dir out --log build.log --budget 2h
  ltobisect resume ltobisect-state  continue a stopped or killed session
  ltobisect changes tinyconfig bad.config --tree linux --llvm -16 > all.config
  ltobisect resolve tinyconfig all.config --tree linux --llvm -16 --explain

exit codes: 0 minimized, 1 bad input, 2 infrastructure error, 3 partial
(budget, limit or Ctrl-C; best so far written), 4 the failure does not
reproduce, 130 killed by a second Ctrl-C. With --json the last line on
stdout is always the summary (schema 1), with that exit code.
"""

MINIMIZE_HELP = """\
Build BAD_CONFIG, take the failure's signature, and search for the smallest
set of its changes against the baseline that still fails with it.

examples:
  ltobisect minimize bad.config --tree linux --arch x86_64 --llvm -16
  ltobisect minimize .config --tree linux --arch arm64 --llvm 1 \\
      --baseline defconfig --log build.log --workers 2 --budget 4h
  ltobisect minimize bad.config --tree linux --llvm -16 \\
      --signature 'undefined symbol: __stack_chk_guard' --make W=1
  ltobisect minimize bad.config --tree linux --test ./still-fails.sh

Artifacts (report.txt, fragment.config, minimal.config, reproduce.sh,
summary.json) are written to the state directory.
"""

HOOK_HELP = """\
For a build farm, after a failed build: take .config and the source tree
from the O= directory, minimize within the budget, write every artifact to
--out. Never prompts and never runs past --budget (default 1h); exits
0 minimized, 3 partial (best so far written), 4 not reproduced, 1 bad input,
2 infrastructure error. With --json, JSON lines on stdout whose last line
is the summary (schema 1), whatever the exit code.

The exit code says how the minimization went, not whether the build passed:
after a failed build, end the CI step with `exit 1`, as below, so that it
still fails (a minimized config is an artifact, not a fix).

examples:
  set -o pipefail
  make O=out LLVM=-16 -j8 2>&1 | tee build.log || {
      ltobisect hook --build-dir out --log build.log --out artifacts
      exit 1
  }
"""

DEMO_HELP = """\
Copy the embedded demo (a small Kconfig project with C sources under
examples/demo) to DIR (a new temporary directory by default) and minimize
its randconfig with real builds by the machine's cc. Takes under a minute.

examples:
  ltobisect demo
  ltobisect demo /tmp/demo --workers 1 --json
"""

CHANGES_HELP = """\
List the changes a search toggles between BASELINE and BAD_CONFIG, one per
line as fragment.config writes them (in name order); the count goes to
stderr, so stdout can go straight into a fragment file. Runs the search's own
Kconfig code on the tree, without a build.

BASELINE is tinyconfig, defconfig, allnoconfig or a config file.

examples:
  ltobisect changes tinyconfig bad.config --tree linux --llvm -16
  ltobisect changes defconfig out/.config --tree linux --arch arm64 \\
      > all.config
"""

FAILURES_HELP = """\
List the distinct failures of a build log, numbered in log order, each with
its kind, tool, file, how many times it shows and the log line it first shows
on. A `make -k` log of a randconfig often holds several unrelated failures:
each is a report for another maintainer. `minimize --failure N` minimizes one
of them, `--each-failure` every one in a single session (builds are shared).
The one marked "(the default)" is what a session takes when not told.

  ltobisect failures build.log
  ltobisect minimize bad.config --tree linux --log build.log --failure 2
"""

REDUCE_HELP = """\
From a minimized session, reduce the failure's reproducer for the toolchain's
maintainers, judged at every step by the session's own signature (another
failure never counts):

  compile error, warning made an error, compiler crash: the failing compile's
    command and preprocessed source, reduced by C-Vise (apt-get install cvise)
  link error, ld.lld crash at the LTO link: the ld.lld --reproduce tarball,
    relinked alone, its inputs cut by delta debugging, the bitcode left merged
    (llvm-link) and reduced by llvm-reduce (apt-get install llvm-N)

The result is STATE/reduced/ (the reduced file, repro.sh, judge.py), rerun
alone before the report names it. It is journaled: after Ctrl-C or a kill the
same command continues. Exit 0: reduced and reruns alone; 3: stopped, the best
so far is attached; 4: no reduced reproducer could be made (report: why).

  ltobisect reduce ltobisect-state --reduce-budget 30m
"""

BISECT_HELP = """\
From a minimized session, find the commit that introduced the failure, on a
git checkout of the kernel (the session's tree, or --repo), which is only read:
revisions are checked out into the work directory and built there, one after
another, each with the session's baseline and fragment resolved by that
revision's Kconfig, judged by the session's signature.

  the failure: bad; a clean build: good; anything else (another failure, a
    timeout, a build that cannot run): skipped, never good or bad
  the endpoints are built first, the result built again (--verify), and the
  first bad commit reverted on the bad revision must build clean

Every build is journaled: after Ctrl-C or a kill, `ltobisect bisect STATE`
continues. The result is in report.txt and summary.json (with a Fixes: line).
Exit 0: found (or the range skipped commits leave); 3: stopped; 4: the bad
revision does not fail this way; 1: bad input (the good one fails too).

  ltobisect bisect ltobisect-state --good v6.1 --bad HEAD
"""

RESOLVE_HELP = """\
Print the .config ltobisect builds for BASELINE plus FRAGMENT: the fragment's
lines are APPENDED to the baseline, in the file's order (fragment.config and
`ltobisect changes` write them in name order), and settled as make
olddefconfig would, without a build. The kernel's own tool gives the same
.config, with baseline.config the baseline's (for tinyconfig: the .config
`make tinyconfig` writes; a BASELINE file is taken as it is):

  cat baseline.config FRAGMENT > out/.config
  make O=out ARCH=x86_64 LLVM=-16 olddefconfig

BASELINE is tinyconfig, defconfig, allnoconfig or a config file. Lines of
FRAGMENT that are not assignments are skipped; a symbol the tree does not
define is a warning. --explain says, on stderr, which lines did not take
effect, the value each got and why, and prints the tree's Kconfig warnings.

examples:
  ltobisect resolve tinyconfig min-x86/fragment.config --tree linux \\
      --arch x86_64 --llvm -16 > resolved.config
  ltobisect resolve defconfig extra.config --tree linux --arch arm64 --explain
"""
