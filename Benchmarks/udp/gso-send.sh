#!/bin/sh
# sendmmsg of 64 x 1,452-byte datagrams on loopback, with and without UDP_SEGMENT (GSO), and the
# receiver with and without UDP_GRO; prints the ratios. Builds Benchmarks/udp/gso-send.c against
# the tunnel's shim. Usage: Benchmarks/udp/gso-send.sh [batches per round] [rounds]
set -eu
root=$(cd "$(dirname "$0")/../.." && pwd)
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
cc -O2 -Wall -Wextra -I"$root/Sources/CTunnelShim/include" -o "$out/gso-send" \
    "$root/Benchmarks/udp/gso-send.c" "$root/Sources/CTunnelShim/udp_offload.c" -lpthread
"$out/gso-send" "$@"
