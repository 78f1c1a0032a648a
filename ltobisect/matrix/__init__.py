"""The other toolchains a result is built with: LTO modes and LLVM releases. Their rules and the
wording of their outcome; no builds (the conductor's matrices step builds)."""
