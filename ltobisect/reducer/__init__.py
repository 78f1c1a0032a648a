"""The reproducer beyond the config: a reduced source or link for the toolchain's maintainers.

A minimal config is what a kernel maintainer needs; a compiler or linker bug needs one file or
one link. From a minimized session, ``ltobisect reduce`` (or ``--reduce`` after a search)
builds the minimal config once more with what the reduction needs and reduces the failure's
reproducer, judged by the session's own signature at every step, so it cannot slip to another
failure:

- :mod:`.compile`: the failing compile's exact command, its preprocessed source, C-Vise;
- :mod:`.link`: the ``ld.lld --reproduce`` tarball, ddmin over its inputs, ``llvm-link`` and
  ``llvm-reduce`` of the bitcode left;
- :mod:`.run`: the steps, journaled in ``reduce/``, and the attachments in ``reduced/``, each
  rerun alone before the report names it;
- :mod:`.common`: the state on disk, the tools, a watched run of a reducer.
"""
