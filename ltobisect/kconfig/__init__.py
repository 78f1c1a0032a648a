"""The Kconfig layer, the only importer of kconfiglib: load a tree for an ARCH and toolchain,
settle configs exactly as the kernel's `conf` does, diff, resolve, explain, write fragments.

Modules: :mod:`.tree` (:class:`KconfigTree`), :mod:`.compat` (kconfiglib made to read each
Linux Kconfig generation as its own `conf`), :mod:`.reader` and :mod:`.writer` (.config in and
out of kconfiglib), :mod:`.explain` (why a change did not take effect, what it needs),
:mod:`.env` (what kbuild hands to `conf`), :mod:`.make` (the kernel's own config targets).
Everything handed out is plain text or a value type of :mod:`ltobisect.model`.
"""
from __future__ import annotations

from ltobisect.dotconfig import digest
from ltobisect.dotconfig import parse as parse_config
from ltobisect.kconfig.compat import ChoiceRules, Generation
from ltobisect.kconfig.env import is_kernel_tree, kconfig_env, kernelversion
from ltobisect.kconfig.make import make_olddefconfig, run_config_target
from ltobisect.kconfig.tree import KconfigTree

__all__ = ["ChoiceRules", "Generation", "KconfigTree", "digest", "is_kernel_tree", "kconfig_env", "kernelversion",
           "make_olddefconfig", "parse_config", "run_config_target"]
