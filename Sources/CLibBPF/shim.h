// libbpf (Debian libbpf-dev) for the XDP loader, the kernel's XDP attach flags, and the
// layouts the XDP program shares with its loader (one header, bpf/ztp_xdp.h, for both).
#include <bpf/libbpf.h>
#include <bpf/bpf.h>
#include <linux/if_link.h>
#include <net/if.h>
#include "../../bpf/ztp_xdp.h"
