/* Shared between the XDP program (bpf/ztp_xdp.c) and its loader (Sources/XDP, through the
 * CLibBPF module): map names, key and value layouts, and the verdict reasons that index the
 * counters. Only <linux/types.h> so that both the BPF target and userspace can include it.
 *
 * A change to any layout here is a change of the maps' ABI: a running program's maps cannot
 * be reused by a program built against a different layout (libbpf refuses at load time). */
#ifndef ZTP_XDP_H
#define ZTP_XDP_H

#include <linux/types.h>

/* Why the program let a packet through or dropped it. One per-CPU counter each; the Swift
 * `XDPGuard.Reason` enum mirrors these values (a test checks that they agree). */
enum ztp_reason {
	ZTP_PASS_NOT_TUNNEL = 0,      /* not UDP to the tunnel port (or no port configured) */
	ZTP_PASS_FRAGMENT = 1,        /* an IP fragment: the UDP header is not in every fragment */
	ZTP_PASS_INITIATION = 2,      /* a well-formed handshake initiation within its rate */
	ZTP_PASS_RESPONSE = 3,        /* a well-formed handshake response */
	ZTP_PASS_COOKIE_REPLY = 4,    /* a well-formed cookie reply */
	ZTP_PASS_TRANSPORT = 5,       /* a well-formed transport message to a live session */
	ZTP_DROP_BLOCKED = 6,         /* source in the deny list */
	ZTP_DROP_TRUNCATED = 7,       /* headers cut short or a UDP length beyond the frame */
	ZTP_DROP_UNKNOWN_TYPE = 8,    /* message type not 1..4 */
	ZTP_DROP_RESERVED = 9,        /* the three reserved bytes after the type are not zero */
	ZTP_DROP_BAD_LENGTH = 10,     /* a length that the message type cannot have */
	ZTP_DROP_UNKNOWN_SESSION = 11,/* transport to a receiver index that is not live */
	ZTP_DROP_RATE_LIMITED = 12,   /* initiation beyond the source's token bucket */
	ZTP_REASON_COUNT = 13,
};

/* WireGuard message sizes (paper section 5.4: msg.initiation, msg.response, msg.cookie and
 * msg.data with an empty packet), in bytes of UDP payload. */
#define ZTP_WG_INITIATION_LEN 148
#define ZTP_WG_RESPONSE_LEN 92
#define ZTP_WG_COOKIE_REPLY_LEN 64
#define ZTP_WG_TRANSPORT_MIN_LEN 32

/* ztp_config[0]. All fields in host byte order. A zero port turns the program into a pass-through. */
struct ztp_config {
	__u16 port;            /* the tunnel's UDP port */
	__u16 flags;           /* ZTP_CFG_* */
	__u32 rate_per_sec;    /* initiations a second a source may send; 0 means no limit */
	__u32 burst;           /* bucket depth, in initiations */
	__u32 pad;
};

/* Drop transport messages whose receiver index is not in ztp_sessions. Off until the daemon
 * has published its sessions, so that attaching the program never cuts live tunnels. */
#define ZTP_CFG_ENFORCE_SESSIONS 0x1

/* ztp_sessions: key is the receiver index exactly as on the wire (a little-endian u32 read
 * as a __u32 on a little-endian host), value unused (1). */
#define ZTP_MAX_SESSIONS 131072

/* ztp_rate: LRU hash of token buckets. IPv4 sources key by address (as ::ffff:a.b.c.d),
 * IPv6 sources by their /64, as the kernel's WireGuard ratelimiter does: one host usually
 * owns a whole /64, so a per-/128 bucket would be no limit at all. */
struct ztp_rate_key {
	__u8 addr[16];
};
struct ztp_rate_bucket {
	__u64 tokens;  /* in nanotoken units: one initiation costs 1e9 */
	__u64 last_ns; /* bpf_ktime_get_ns() of the last refill */
};
#define ZTP_MAX_RATE_SOURCES 65536

/* ztp_block4 / ztp_block6: LPM tries keyed by prefix length then address in network order. */
struct ztp_lpm4_key {
	__u32 prefixlen;
	__u8 addr[4];
};
struct ztp_lpm6_key {
	__u32 prefixlen;
	__u8 addr[16];
};
#define ZTP_MAX_BLOCK_PREFIXES 16384

#endif
