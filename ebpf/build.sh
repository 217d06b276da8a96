#!/usr/bin/env bash
# Rebuilds the kernel programs the agent embeds, from this directory's
# sources: ebpf/wardwatch.bpf.o, and ebpf/abi_layout.txt (the sizes and
# offsets of abi.h's structs, which agent/src/sources/net/abi.rs is tested
# against).
#
# Needs Debian's `clang` and `libbpf-dev` (the reference compiler is Debian 12's
# clang 14: another version may emit different bytes, which check.sh reports).
# `cargo build` does not run this: the object is committed, so the agent
# builds on machines without clang.
#
#   ebpf/build.sh            write the object and the layout here
#   ebpf/build.sh OUT_DIR    write them to OUT_DIR instead (check.sh)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
out="${1:-$here}"
mkdir -p "$out"
out="$(cd "$out" && pwd)"

arch="$(uname -m)"
case "$arch" in
  x86_64) target_arch=x86 ;;
  aarch64) target_arch=arm64 ;;
  *) echo "build.sh: unsupported architecture $arch" >&2; exit 1 ;;
esac

# -g keeps BTF (.BTF, .BTF.ext), which the loader needs for CO-RE; the
# DWARF it also brings is stripped below. BTF line info records source file
# names as given, so the sources are named relative to this directory: the
# object must not depend on where the repository is checked out.
cd "$here"
clang -target bpf -g -O2 -Wall -Werror \
  -D__TARGET_ARCH_"$target_arch" \
  -fdebug-compilation-dir=. \
  -I. \
  -c wardwatch.bpf.c -o "$out/wardwatch.bpf.o.tmp"
llvm-strip --strip-debug "$out/wardwatch.bpf.o.tmp" -o "$out/wardwatch.bpf.o"
rm -f "$out/wardwatch.bpf.o.tmp"

# The layout the host sees: one line per field, `struct.field offset size`,
# and one per struct, `struct size`.
cat > "$out/abi_layout.c" <<'C'
#include <stddef.h>
#include <stdio.h>
#include <linux/types.h>
#include "abi.h"
#define STRUCT(s) printf("%s %zu\n", #s, sizeof(struct s))
#define FIELD(s, f) printf("%s.%s %zu %zu\n", #s, #f, offsetof(struct s, f), sizeof(((struct s *)0)->f))
int main(void)
{
	printf("WW_CAPTURE_WINDOW %d\n", WW_CAPTURE_WINDOW);
	printf("WW_RING_BYTES %d\n", WW_RING_BYTES);
	STRUCT(ww_header);
	FIELD(ww_header, kind); FIELD(ww_header, pid); FIELD(ww_header, tid); FIELD(ww_header, fd);
	FIELD(ww_header, timestamp_ns); FIELD(ww_header, cgroup_id);
	STRUCT(ww_open_event);
	FIELD(ww_open_event, header); FIELD(ww_open_event, role); FIELD(ww_open_event, family);
	FIELD(ww_open_event, local_port); FIELD(ww_open_event, peer_port);
	FIELD(ww_open_event, local_addr); FIELD(ww_open_event, peer_addr);
	STRUCT(ww_data_event);
	FIELD(ww_data_event, header); FIELD(ww_data_event, direction); FIELD(ww_data_event, captured);
	FIELD(ww_data_event, len); FIELD(ww_data_event, data);
	STRUCT(ww_close_event);
	FIELD(ww_close_event, header);
	return 0;
}
C
clang -I"$here" "$out/abi_layout.c" -o "$out/abi_layout"
"$out/abi_layout" > "$out/abi_layout.txt"
rm -f "$out/abi_layout.c" "$out/abi_layout"
echo "built $out/wardwatch.bpf.o and $out/abi_layout.txt"
