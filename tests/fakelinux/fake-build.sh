#!/bin/sh
# fake-build.sh OUT SRCTREE TARGET: pretend to build; the config in OUT/.config says how to fail.
out="$1"; src="$2"; target="$3"
cfg="$out/.config"
on() { grep -q "^CONFIG_$1=y" "$cfg"; }
echo "  FAKE    $target"
printf 'TMPDIR=%s\nHOME=%s\n' "$TMPDIR" "$HOME" > "$out/env.txt"
if on NETWORK; then  # CONFIG_PORT: a port on 127.0.0.1 the test listens on
	port=$(sed -n 's/^CONFIG_PORT="\(.*\)"/\1/p' "$cfg")
	python3 -c 'import socket, sys; socket.create_connection(("127.0.0.1", int(sys.argv[1])), 5)' \
		"$port" 2>/dev/null || { echo "fake: no network"; exit 2; }
fi
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
	echo "  FAKE    slow part done"
fi
if on STAGED; then
	# Three objects of a second each; one made survives a stopped build (make resumes).
	for n in 1 2 3; do
		[ -f "$out/stage-$n.o" ] && continue
		echo "  CC      stage-$n.o"
		sleep 1
		touch "$out/stage-$n.o"
	done
fi
if on HANG; then
	echo "  LD      vmlinux.o"
	sleep 30
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
if on LTO_CRASH; then
	# ld.lld aborting at the LTO link, as ld.lld-16 does (tests/logs/lld-crash-full-lto.log):
	# with DEBUG_INFO the verifier's abort, without it a segmentation fault in code generation.
	echo "  LD      vmlinux.o"
	if on DEBUG_INFO; then
		echo "inlinable function call in a function with debug info must have a !dbg location"
		echo "  call void @__sanitizer_cov_trace_const_cmp4(i32 1048576, i32 %29)"
		echo "LLVM ERROR: Broken module found, compilation aborted!"
	fi
	echo "PLEASE submit a bug report to https://github.com/llvm/llvm-project/issues/ and include the crash backtrace."
	echo "Stack dump:"
	echo "0.	Program arguments: ld.lld-16 -m elf_x86_64 -r -o vmlinux.o --whole-archive vmlinux.a"
	echo " #0 0x00007fa8285c9ce6 llvm::sys::PrintStackTrace(llvm::raw_ostream&, int) (/lib/x86_64-linux-gnu/libLLVM-16.so.1+0xfc9ce6)"
	if on DEBUG_INFO; then
		echo " #7 0x00007fa828510ef5 llvm::report_fatal_error(llvm::Twine const&, bool) (/lib/x86_64-linux-gnu/libLLVM-16.so.1+0xf10ef5)"
		echo "#12 0x00007fa829a8a74f llvm::lto::opt(llvm::lto::Config const&, llvm::TargetMachine*, unsigned int, llvm::Module&) (/lib/x86_64-linux-gnu/libLLVM-16.so.1+0x248a74f)"
	else
		echo " #5 0x00007fa8289c0f11 llvm::SelectionDAGISel::runOnMachineFunction(llvm::MachineFunction&) (/lib/x86_64-linux-gnu/libLLVM-16.so.1+0x13c0f11)"
		echo "#12 0x00007fa829a8b2e0 llvm::lto::codegen(llvm::lto::Config const&, llvm::TargetMachine*, unsigned int, llvm::Module&) (/lib/x86_64-linux-gnu/libLLVM-16.so.1+0x248b2e0)"
	fi
	echo "#14 0x00007fa829a7fd63 llvm::lto::LTO::runRegularLTO(unsigned int) (/lib/x86_64-linux-gnu/libLLVM-16.so.1+0x247fd63)"
	echo "#16 0x0000560a75b644b4 lld::elf::BitcodeCompiler::compile() (/usr/lib/llvm-16/bin/lld+0x1fc4b4)"
	if on DEBUG_INFO; then
		echo "Aborted"
		echo "make[2]: *** [scripts/Makefile.vmlinux_o:61: vmlinux.o] Error 134"
	else
		echo "Segmentation fault"
		echo "make[2]: *** [scripts/Makefile.vmlinux_o:61: vmlinux.o] Error 139"
	fi
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
