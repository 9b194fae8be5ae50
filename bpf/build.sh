#!/usr/bin/env bash
# Compiles the XDP program: bpf/ztp_xdp.c -> bpf/ztp_xdp.o (or the path given as $1).
# Needs clang with the BPF target, libbpf-dev (bpf_helpers.h) and the kernel UAPI headers.
# The loader (Sources/XDP) looks for bpf/ztp_xdp.o unless told otherwise (ZTP_XDP_OBJECT).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
out="${1:-$here/ztp_xdp.o}"
# <asm/types.h> lives under the multiarch include directory, which -target bpf does not search.
multiarch="$(gcc -print-multiarch 2>/dev/null || echo "$(uname -m)-linux-gnu")"
clang -O2 -g -Wall -Werror -target bpf \
  -I"/usr/include/$multiarch" -I"$here" \
  -c "$here/ztp_xdp.c" -o "$out"
