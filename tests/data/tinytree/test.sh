#!/bin/sh
# Interestingness test of the tiny tree: "fails" (exit 0) when NET_FOO and LTO are on and
# KEEP is off, as a planted link error would. TINY_DELAY makes each test take that long.
sleep "${TINY_DELAY:-0}"
c="$1"
if grep -q '^CONFIG_NET_FOO=y' "$c" && grep -q '^CONFIG_LTO=y' "$c" \
   && grep -q '^# CONFIG_KEEP is not set' "$c"; then
    echo "ld.lld: error: undefined symbol: foo_lto_stub"
    exit 0
fi
echo "link ok"
exit 1
