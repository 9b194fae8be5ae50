// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/* The ztp edge's XDP guard: judges UDP datagrams to the WireGuard tunnel port before the
 * kernel's network stack sees them, and lets everything else through untouched.
 *
 * For the tunnel port, in this order: sources in the deny list are dropped; messages whose
 * type, reserved bytes or length cannot be WireGuard are dropped; transport messages to a
 * receiver index that is not a live session are dropped (when the daemon enforces sessions);
 * handshake initiations beyond a per-source token bucket are dropped. Every verdict is
 * counted by reason (ztp_xdp.h).
 *
 * Parsing: Ethernet, up to two 802.1Q / 802.1ad tags, IPv4 with options (IHL-aware) and IPv6
 * with up to ZTP_MAX_EXT_HEADERS extension headers (hop-by-hop, routing, destination options,
 * fragment, authentication). IP fragments pass: only the first carries the UDP header, and
 * the stack reassembles them before ztpd, which validates everything again. IPv6 packets
 * whose chain is longer, or reaches ESP or an unknown header, pass as not for the tunnel.
 * Frames too short for the headers they announce pass too: they are not the tunnel's, and
 * the stack drops them. Once a datagram is known to be for the tunnel port, every defect is
 * a drop. */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/udp.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#include "ztp_xdp.h"

#define ZTP_MAX_VLAN_TAGS 2
#define ZTP_MAX_EXT_HEADERS 4
#define NSEC_PER_TOKEN 1000000000ULL

#define IP_MF 0x2000
#define IP_OFFSET 0x1fff
#define IP6_OFFSET_MASK 0xfff8
#define IP6_MF 0x0001

struct vlan_hdr {
	__be16 tci;
	__be16 encapsulated_proto;
};

struct ipv6_frag {
	__u8 nexthdr;
	__u8 reserved;
	__be16 frag_off;
	__be32 identification;
};

struct ipv6_opt {
	__u8 nexthdr;
	__u8 hdrlen;
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct ztp_config);
} ztp_config SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, ZTP_MAX_SESSIONS);
	__type(key, __u32);
	__type(value, __u8);
} ztp_sessions SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, ZTP_MAX_RATE_SOURCES);
	__type(key, struct ztp_rate_key);
	__type(value, struct ztp_rate_bucket);
} ztp_rate SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, ZTP_MAX_BLOCK_PREFIXES);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct ztp_lpm4_key);
	__type(value, __u8);
} ztp_block4 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, ZTP_MAX_BLOCK_PREFIXES);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct ztp_lpm6_key);
	__type(value, __u8);
} ztp_block6 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, ZTP_REASON_COUNT);
	__type(key, __u32);
	__type(value, __u64);
} ztp_stats SEC(".maps");

/* Where the source address is, so that the deny list and the rate limiter can look it up. */
struct source {
	int is_v6;
	__u8 addr[16];
};

static __always_inline int verdict(enum ztp_reason reason, int action)
{
	__u32 key = reason;
	__u64 *count = bpf_map_lookup_elem(&ztp_stats, &key);

	if (count)
		*count += 1; /* per-CPU: no other writer */
	return action;
}

static __always_inline int blocked(const struct source *src)
{
	if (src->is_v6) {
		struct ztp_lpm6_key key = { .prefixlen = 128 };

		__builtin_memcpy(key.addr, src->addr, 16);
		return bpf_map_lookup_elem(&ztp_block6, &key) != NULL;
	}
	struct ztp_lpm4_key key = { .prefixlen = 32 };

	__builtin_memcpy(key.addr, &src->addr[12], 4);
	return bpf_map_lookup_elem(&ztp_block4, &key) != NULL;
}

/* A token bucket per source: `rate_per_sec` initiations a second, `burst` at once. Buckets
 * are updated in place without a lock: two CPUs racing on one source can each spend the same
 * token, so a flood spread over N CPUs may get up to N times the burst, never unbounded. */
static __always_inline int admit_initiation(const struct source *src, const struct ztp_config *cfg)
{
	if (cfg->rate_per_sec == 0)
		return 1;

	struct ztp_rate_key key = {};

	__builtin_memcpy(key.addr, src->addr, 16);
	if (src->is_v6)
		__builtin_memset(&key.addr[8], 0, 8); /* the source's /64 */

	__u64 now = bpf_ktime_get_ns();
	__u64 burst = cfg->burst ? cfg->burst : 1;
	__u64 capacity = burst * NSEC_PER_TOKEN;
	struct ztp_rate_bucket *bucket = bpf_map_lookup_elem(&ztp_rate, &key);

	if (!bucket) {
		struct ztp_rate_bucket fresh = { .tokens = capacity - NSEC_PER_TOKEN, .last_ns = now };

		bpf_map_update_elem(&ztp_rate, &key, &fresh, BPF_ANY);
		return 1;
	}

	__u64 elapsed = now > bucket->last_ns ? now - bucket->last_ns : 0;
	__u64 tokens;

	/* Clamp first so that elapsed * rate cannot overflow: it is at most `capacity`. */
	if (elapsed >= capacity / cfg->rate_per_sec) {
		tokens = capacity;
	} else {
		tokens = bucket->tokens + elapsed * cfg->rate_per_sec;
		if (tokens > capacity)
			tokens = capacity;
	}
	bucket->last_ns = now;
	if (tokens < NSEC_PER_TOKEN) {
		bucket->tokens = tokens;
		return 0;
	}
	bucket->tokens = tokens - NSEC_PER_TOKEN;
	return 1;
}

/* A datagram to the tunnel port: `udp` is within the frame (8 bytes checked). */
static __always_inline int judge_tunnel(struct udphdr *udp, void *data_end, const struct source *src,
					const struct ztp_config *cfg)
{
	if (blocked(src))
		return verdict(ZTP_DROP_BLOCKED, XDP_DROP);

	__u32 udp_len = bpf_ntohs(udp->len);

	if (udp_len < sizeof(*udp) || (void *)udp + udp_len > data_end)
		return verdict(ZTP_DROP_TRUNCATED, XDP_DROP);

	__u32 len = udp_len - sizeof(*udp);
	__u8 *msg = (void *)(udp + 1);

	if (len < 4 || (void *)(msg + 4) > data_end)
		return verdict(ZTP_DROP_BAD_LENGTH, XDP_DROP);

	/* msg.type is one byte followed by three reserved zero bytes (paper 5.4.2). */
	__u8 type = msg[0];

	if (type < 1 || type > 4)
		return verdict(ZTP_DROP_UNKNOWN_TYPE, XDP_DROP);
	if (msg[1] | msg[2] | msg[3])
		return verdict(ZTP_DROP_RESERVED, XDP_DROP);

	switch (type) {
	case 1:
		if (len != ZTP_WG_INITIATION_LEN)
			return verdict(ZTP_DROP_BAD_LENGTH, XDP_DROP);
		if (!admit_initiation(src, cfg))
			return verdict(ZTP_DROP_RATE_LIMITED, XDP_DROP);
		return verdict(ZTP_PASS_INITIATION, XDP_PASS);
	case 2:
		if (len != ZTP_WG_RESPONSE_LEN)
			return verdict(ZTP_DROP_BAD_LENGTH, XDP_DROP);
		return verdict(ZTP_PASS_RESPONSE, XDP_PASS);
	case 3:
		if (len != ZTP_WG_COOKIE_REPLY_LEN)
			return verdict(ZTP_DROP_BAD_LENGTH, XDP_DROP);
		return verdict(ZTP_PASS_COOKIE_REPLY, XDP_PASS);
	default:
		/* msg.data: 16-byte header, the encrypted packet, a 16-byte tag. The packet is padded
		 * to 16 bytes only up to the sender's MTU (wireguard-go and the kernel cap the
		 * padding there), so a full-MTU packet of 1420 bytes is sent unpadded: any length
		 * from the empty keepalive's up is WireGuard's. */
		if (len < ZTP_WG_TRANSPORT_MIN_LEN)
			return verdict(ZTP_DROP_BAD_LENGTH, XDP_DROP);
		if (cfg->flags & ZTP_CFG_ENFORCE_SESSIONS) {
			__u32 receiver;

			if ((void *)(msg + 8) > data_end)
				return verdict(ZTP_DROP_TRUNCATED, XDP_DROP);
			__builtin_memcpy(&receiver, msg + 4, 4); /* wire bytes, as the loader stores them */
			if (!bpf_map_lookup_elem(&ztp_sessions, &receiver))
				return verdict(ZTP_DROP_UNKNOWN_SESSION, XDP_DROP);
		}
		return verdict(ZTP_PASS_TRANSPORT, XDP_PASS);
	}
}

SEC("xdp")
int ztp_xdp(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	__u32 zero = 0;
	const struct ztp_config *cfg = bpf_map_lookup_elem(&ztp_config, &zero);

	if (!cfg || cfg->port == 0)
		return verdict(ZTP_PASS_NOT_TUNNEL, XDP_PASS);

	struct ethhdr *eth = data;
	__u32 off = sizeof(*eth);

	if ((void *)(eth + 1) > data_end)
		return verdict(ZTP_PASS_NOT_TUNNEL, XDP_PASS);
	__u16 proto = eth->h_proto;

#pragma unroll
	for (int i = 0; i < ZTP_MAX_VLAN_TAGS; i++) {
		if (proto != bpf_htons(ETH_P_8021Q) && proto != bpf_htons(ETH_P_8021AD))
			break;
		struct vlan_hdr *vlan = data + off;

		if ((void *)(vlan + 1) > data_end)
			return verdict(ZTP_PASS_NOT_TUNNEL, XDP_PASS);
		proto = vlan->encapsulated_proto;
		off += sizeof(*vlan);
	}

	struct source src = {};
	struct udphdr *udp;

	if (proto == bpf_htons(ETH_P_IP)) {
		struct iphdr *ip = data + off;

		if ((void *)(ip + 1) > data_end || ip->ihl < 5 || ip->protocol != IPPROTO_UDP)
			return verdict(ZTP_PASS_NOT_TUNNEL, XDP_PASS);
		if (ip->frag_off & bpf_htons(IP_MF | IP_OFFSET))
			return verdict(ZTP_PASS_FRAGMENT, XDP_PASS);
		src.addr[10] = 0xff;
		src.addr[11] = 0xff;
		__builtin_memcpy(&src.addr[12], &ip->saddr, 4);
		udp = (void *)ip + ip->ihl * 4; /* options included: IHL is at most 15 words */
	} else if (proto == bpf_htons(ETH_P_IPV6)) {
		struct ipv6hdr *ip6 = data + off;

		if ((void *)(ip6 + 1) > data_end)
			return verdict(ZTP_PASS_NOT_TUNNEL, XDP_PASS);
		src.is_v6 = 1;
		__builtin_memcpy(src.addr, &ip6->saddr, 16);

		__u8 next = ip6->nexthdr;
		__u32 l4 = off + sizeof(*ip6);

		/* A bounded loop (kernel 5.3+): clang cannot unroll it around the early exits. */
		for (int i = 0; i < ZTP_MAX_EXT_HEADERS; i++) {
			if (next == IPPROTO_UDP)
				break;
			/* Each extension header is at most 2 KiB; this bound lets the verifier
			 * prove the offsets below stay small. */
			if (l4 > 4096)
				return verdict(ZTP_PASS_NOT_TUNNEL, XDP_PASS);
			if (next == IPPROTO_FRAGMENT) {
				struct ipv6_frag *frag = data + l4;

				if ((void *)(frag + 1) > data_end)
					return verdict(ZTP_PASS_NOT_TUNNEL, XDP_PASS);
				if (frag->frag_off & bpf_htons(IP6_OFFSET_MASK | IP6_MF))
					return verdict(ZTP_PASS_FRAGMENT, XDP_PASS);
				next = frag->nexthdr; /* an atomic fragment: the datagram is whole */
				l4 += sizeof(*frag);
			} else if (next == IPPROTO_HOPOPTS || next == IPPROTO_ROUTING ||
				   next == IPPROTO_DSTOPTS || next == IPPROTO_AH) {
				struct ipv6_opt *opt = data + l4;

				if ((void *)(opt + 1) > data_end)
					return verdict(ZTP_PASS_NOT_TUNNEL, XDP_PASS);
				/* AH counts 4-byte words minus 2; the others 8-byte words minus 1. */
				if (next == IPPROTO_AH)
					l4 += (opt->hdrlen + 2) * 4;
				else
					l4 += (opt->hdrlen + 1) * 8;
				next = opt->nexthdr;
			} else {
				return verdict(ZTP_PASS_NOT_TUNNEL, XDP_PASS);
			}
		}
		if (next != IPPROTO_UDP)
			return verdict(ZTP_PASS_NOT_TUNNEL, XDP_PASS);
		udp = data + l4;
	} else {
		return verdict(ZTP_PASS_NOT_TUNNEL, XDP_PASS);
	}

	if ((void *)(udp + 1) > data_end)
		return verdict(ZTP_PASS_NOT_TUNNEL, XDP_PASS);
	if (udp->dest != bpf_htons(cfg->port))
		return verdict(ZTP_PASS_NOT_TUNNEL, XDP_PASS);
	return judge_tunnel(udp, data_end, &src, cfg);
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
