/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The few kernel types and UAPI constants socket.bpf.c needs, instead of a
 * multi-megabyte vmlinux.h. Structs carry preserve_access_index, so field
 * offsets are relocated against the running kernel's BTF (CO-RE) and only
 * the fields used are declared.
 */
#ifndef GOSTITCH_KERNEL_H
#define GOSTITCH_KERNEL_H

typedef unsigned char __u8;
typedef unsigned short __u16;
typedef unsigned int __u32;
typedef unsigned long long __u64;
typedef signed char __s8;
typedef short __s16;
typedef int __s32;
typedef long long __s64;
typedef __u16 __be16;
typedef __u32 __be32;
typedef __u32 __wsum;
typedef _Bool bool;

/* UAPI constants (stable ABI). */
#define BPF_MAP_TYPE_HASH 1
#define BPF_MAP_TYPE_ARRAY 2
#define BPF_MAP_TYPE_PERCPU_ARRAY 6
#define BPF_MAP_TYPE_RINGBUF 27
#define BPF_F_NO_PREALLOC 1
#define BPF_ANY 0
#define BPF_NOEXIST 1
#define BPF_RB_NO_WAKEUP 1
#define BPF_RB_FORCE_WAKEUP 2
#define BPF_RB_AVAIL_DATA 0
#define BPF_RB_RING_SIZE 1
#define AF_INET 2
#define AF_INET6 10
#define EEXIST 17

/* include/net/tcp_states.h */
#define TCP_ESTABLISHED 1
#define TCP_SYN_SENT 2
#define TCP_CLOSE 7

typedef struct {
	__s64 counter;
} atomic64_t;

struct in6_addr {
	union {
		__u8 u6_addr8[16];
		__be32 u6_addr32[4];
	} in6_u;
} __attribute__((preserve_access_index));

struct sock_common {
	__be32 skc_daddr;
	__be32 skc_rcv_saddr;
	__be16 skc_dport;
	__u16 skc_num;
	unsigned short skc_family;
	volatile unsigned char skc_state;
	struct in6_addr skc_v6_daddr;
	struct in6_addr skc_v6_rcv_saddr;
	atomic64_t skc_cookie; /* SO_COOKIE, 0 until first asked for */
} __attribute__((preserve_access_index));

struct sock {
	struct sock_common __sk_common;
} __attribute__((preserve_access_index));

struct tcp_sock {
	__u32 srtt_us; /* smoothed RTT << 3, in microseconds */
	__u32 data_segs_out; /* segments sent with data, retransmits included (RFC 4898) */
	__u32 total_retrans; /* segments retransmitted */
	__u64 bytes_received; /* bytes that arrived in order (RFC 4898) */
	__u32 rcv_nxt; /* sequence number expected next */
	__u32 copied_seq; /* head of the data not yet read */
	__u64 tcp_clock_cache; /* CLOCK_MONOTONIC ns of the socket's last tcp_mstamp_refresh */
} __attribute__((preserve_access_index));

struct sk_buff;

#endif
