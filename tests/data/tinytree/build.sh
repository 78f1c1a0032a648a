#!/bin/sh
# The tiny tree's "build": a link error when NET_FOO and LTO are on and KEEP is off.
out="$1"; cfg="$out/.config"
sleep "${TINY_DELAY:-0}"
echo "  LD      vmlinux"
if grep -q '^CONFIG_NET_FOO=y' "$cfg" && grep -q '^CONFIG_LTO=y' "$cfg" \
   && grep -q '^# CONFIG_KEEP is not set' "$cfg"; then
    echo "ld.lld: error: undefined symbol: foo_lto_stub"
    echo ">>> referenced by net/foo.c"
    echo ">>>               net/foo.o:(foo_init) in archive vmlinux.a"
    exit 1
fi
echo "vmlinux ok" > "$out/vmlinux"
