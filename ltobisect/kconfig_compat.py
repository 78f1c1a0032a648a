"""kconfiglib 14.1.0 made to read and evaluate modern Linux Kconfig the way Linux 6.1's `conf` does.

Three differences are fixed here, narrowly, on top of the pip-installed kconfiglib:

- **bare attributes**: Linux >= 5.13 writes ``modules`` where older trees wrote ``option
  modules``; Linux >= 6.18 adds ``transitional``. Both are rewritten at tokenizing time.
- **imply**: `scripts/kconfig/symbol.c` (sym_calc_value) computes an implied symbol as
  ``(default || implied) && direct-deps`` whether or not the direct dependencies are met, writes
  the symbol out whenever something implies it, and promotes ``m`` to ``y`` only for bool
  symbols. kconfiglib looks at implies only when the direct dependencies are met and promotes
  ``m`` to ``y`` when the implying value is ``y``. ``Symbol.tri_value`` is replaced by a
  version with the kernel's rule (and ``Symbol.config_string`` skips transitional symbols);
  both act only on symbols of a :class:`LinuxKconfig`, others get kconfiglib's own code.
- **probes**: ``$(shell,...)`` runs in a given work directory (probes write ``.tmp_$$`` files to
  the current directory) and can be answered from a cache keyed by toolchain identity.
"""
from __future__ import annotations

import io
import json
import os
import subprocess
from pathlib import Path
from typing import Dict, Optional

import kconfiglib
from kconfiglib import BOOL, Kconfig, Symbol, expr_value

_BOOL_TRISTATE = (kconfiglib.BOOL, kconfiglib.TRISTATE)


class ConfigText:
    """A .config held in memory, accepted by :meth:`LinuxKconfig.load_config` in place of a path."""

    def __init__(self, text: str, name: str = "<config>") -> None:
        self.text = text
        self.name = name

    def __str__(self) -> str:
        return self.name


class LinuxKconfig(Kconfig):
    """A kconfiglib ``Kconfig`` with Linux 6.x parsing and value semantics.

    ``probe_cache`` maps an expanded ``$(shell,...)`` command to its output; commands missing
    from it run in ``work_dir`` and are added (``probes_run`` counts them). ``transitional``
    holds the names of symbols marked ``transitional``: read from old configs, never written.
    """

    def __init__(self, filename: str = "Kconfig", *, work_dir: Path,
                 probe_cache: Optional[Dict[str, str]] = None) -> None:
        # Set before parsing: the parser calls our hooks during Kconfig.__init__.
        self.work_dir = Path(work_dir)
        self.probe_cache: Dict[str, str] = dict(probe_cache or {})
        self.probes_run = 0
        self.transitional: set = set()
        self._current_name: Optional[str] = None
        super().__init__(filename, warn=True, warn_to_stderr=False)

    def _fn_val(self, args):
        if args[0] == "shell" and "shell" not in self.variables and len(args) == 2:
            return _cached_shell(self, args[0], args[1])
        return super()._fn_val(args)

    def _tokenize(self, s):
        words = s.split()
        if len(words) == 1 and words[0] == "modules":
            s = "option modules\n"
        elif len(words) == 1 and words[0] == "transitional":
            if self._current_name:
                self.transitional.add(self._current_name)
            s = "\n"
        elif len(words) == 2 and words[0] in ("config", "menuconfig"):
            self._current_name = words[1]
        return super()._tokenize(s)

    def _open_config(self, filename):
        if isinstance(filename, ConfigText):
            return io.StringIO(filename.text)
        return super()._open_config(filename)


def _cached_shell(kconf, _name, command):
    cache = getattr(kconf, "probe_cache", None)
    if cache is not None and command in cache:
        return cache[command]
    work_dir = getattr(kconf, "work_dir", None)
    proc = subprocess.run(command, shell=True, capture_output=True, cwd=work_dir)
    stdout = proc.stdout.decode(kconf._encoding, errors="replace")
    stderr = proc.stderr.decode(kconf._encoding, errors="replace")
    if stderr:
        kconf._warn("'{}' wrote to stderr: {}".format(command, " ".join(stderr.splitlines())),
                    kconf.filename, kconf.linenr)
    result = "\n".join(stdout.splitlines()).rstrip("\n").replace("\n", " ")
    if cache is not None:
        cache[command] = result
        kconf.probes_run += 1
    return result


def load_probe_cache(path: Path) -> Dict[str, str]:
    """The cached probe answers in ``path`` ({} when absent or unreadable)."""
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def save_probe_cache(path: Path, cache: Dict[str, str]) -> None:
    """Write the cache atomically: a half-written cache would answer probes wrongly."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(cache, sort_keys=True, indent=0))
    os.replace(tmp, path)


# -- imply as Linux 6.1's sym_calc_value computes it ---------------------------------------------
_original_tri_value = Symbol.tri_value


def _linux_tri_value(self):
    if self._cached_tri_val is not None:
        return self._cached_tri_val
    if self.kconfig.__class__ is not LinuxKconfig or self.orig_type not in _BOOL_TRISTATE or self.choice:
        return _original_tri_value.fget(self)

    vis = self.visibility
    self._write_to_conf = vis != 0
    if vis and self.user_value is not None:
        val = min(self.user_value, vis)
    else:
        val = 0
        for default, cond in self.defaults:
            dep_val = expr_value(cond)
            if dep_val:
                val = min(expr_value(default), dep_val)
                if val:
                    self._write_to_conf = True
                break
        implied = expr_value(self.weak_rev_dep)
        if implied:
            is_bool = self.type is BOOL
            if implied == 1 and is_bool:
                implied = 2
            self._write_to_conf = True
            direct = expr_value(self.direct_dep)
            if direct == 1 and is_bool:
                direct = 2
            val = min(max(val, implied), direct)

    selected = expr_value(self.rev_dep)
    if selected:
        if expr_value(self.direct_dep) < selected:
            self._warn_select_unsatisfied_deps()
        val = max(val, selected)
        self._write_to_conf = True
    if val == 1 and self.type is BOOL:
        val = 2
    self._cached_tri_val = val
    return val


_original_config_string = Symbol.config_string


def _linux_config_string(self):
    kconf = self.kconfig
    if kconf.__class__ is LinuxKconfig and kconf.transitional and self.name in kconf.transitional:
        return ""
    return _original_config_string.fget(self)


Symbol.tri_value = property(_linux_tri_value, doc=_original_tri_value.__doc__)
Symbol.config_string = property(_linux_config_string, doc=_original_config_string.__doc__)
