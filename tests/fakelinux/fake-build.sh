#!/bin/sh
# fake-build.sh OUT SRCTREE TARGET: pretend to build; the config in OUT/.config says how to fail.
out="$1"; src="$2"; target="$3"
cfg="$out/.config"
on() { grep -q "^CONFIG_$1=y" "$cfg"; }
echo "  FAKE    $target"
printf 'TMPDIR=%s\nHOME=%s\n' "$TMPDIR" "$HOME" > "$out/env.txt"
if on WRITE_SOURCE; then
	touch "$src/written-by-build" || { echo "fake: cannot write the source tree"; exit 2; }
fi
if on SLEEPERS; then
	token=$(sed -n 's/^CONFIG_TOKEN="\(.*\)"/\1/p' "$cfg")
	for i in 1 2 3; do
		sh "$src/scripts/sleeper.sh" "$token" &
	done
	sh -c "sh '$src/scripts/sleeper.sh' '$token' & wait" &
	wait
fi
if on SLOW; then
	sleep 3
fi
if on MEMORY; then
	python3 -c "import time; b = bytearray(300 * 2**20); b[::4096] = b'x' * len(b[::4096]); time.sleep(1.5)"
fi
if on OTHER_ERROR; then
	echo "$src/kernel/other.c:7:5: error: use of undeclared identifier 'other_thing'"
	echo "make[2]: *** [scripts/Makefile.build:250: kernel/other.o] Error 1"
	fail=1
fi
if on COMPILE_ERROR; then
	echo "$src/fs/planted.c:3:2: error: \"planted compile error\""
	echo "#error \"planted compile error\""
	echo " ^"
	echo "1 error generated."
	echo "make[2]: *** [scripts/Makefile.build:250: fs/planted.o] Error 1"
	fail=1
fi
if on LINK_ERROR; then
	echo "ld.lld: error: undefined symbol: planted_symbol"
	echo ">>> referenced by planted.c"
	echo ">>>               vmlinux.o:(planted_init)"
	echo "make[1]: *** [scripts/Makefile.vmlinux:34: vmlinux] Error 1"
	fail=1
fi
if on DISK_FULL; then
	echo "fake: write error: No space left on device"
	exit 2
fi
if on SELF_SIGNAL; then
	# make runs this through "sh -c": make is the grandparent.
	make_pid=$(awk '{print $4}' /proc/$PPID/stat)
	kill -SEGV "$make_pid"
	sleep 5
fi
if [ -n "$fail" ]; then
	echo "make: *** [Makefile:1234: $target] Error 2"
	exit 2
fi
echo "fake $target" > "$out/vmlinux"
