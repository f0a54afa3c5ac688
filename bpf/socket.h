/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Records socket.bpf.c hands to userspace. The layouts are an ABI with the
 * decoder in receiver/internal/ebpfsrc (decode.go): change both together.
 */
#ifndef GOSTITCH_SOCKET_H
#define GOSTITCH_SOCKET_H

/* Words of the target_pids bitmap: PID_MAX_LIMIT (4M) bits. */
#define PID_WORDS (4194304 / 64)

/* log2 histogram buckets, in microseconds (a power of two). */
#define HIST_BUCKETS 32

/* Slots of the drops counters. */
enum drop_slot {
	DROP_EVENT = 0,        /* the ring buffer was full: an event is lost */
	DROP_SOCKET = 1,       /* the socket map was full: a socket use goes unseen */
	DROP_SLOTS = 2,
};

enum event_kind {
	EV_OPEN = 1,           /* first use of a socket by a target */
	EV_CONNECT = 2,        /* SYN sent */
	EV_ESTABLISHED = 3,    /* connect completed; since_ns = connect start */
	EV_CLOSE = 4,          /* sock_record; since_ns = connect start */
	EV_RETRANSMIT = 5,
	EV_RESET_RECEIVED = 6,
	EV_RESET_SENT = 7,     /* value = enum sk_rst_reason */
	EV_READ_WAIT = 8,      /* since_ns = data ready; value = bytes of the
				* read's first chunk (up to one queued skb) */
	EV_SNAPSHOT = 9,       /* socks map entry (sock_record) */
	EV_READ_IDLE = 10,     /* a read read_idle_threshold_ns or more after the
				* socket's previous one (not an EV_READ_WAIT);
				* since_ns = data ready; value as EV_READ_WAIT */
};

/* event is 80 bytes; ports in host order, addresses in network order
 * (IPv4 in the first 4 bytes). */
struct event {
	__u64 mono_ns;
	__u64 cookie;
	__u64 since_ns;
	__s64 value;
	__u32 pid;
	__u32 tid;
	__u8 kind;
	__u8 family;
	__u8 old_state;
	__u8 new_state;
	__u16 lport;
	__u16 rport;
	__u8 laddr[16];
	__u8 raddr[16];
};

/* sock_stats is a socket's counters, 328 bytes; they are cumulative. The
 * fields every send, receive, data ready and probe touches come first.
 * segs_out and segs_retrans copy the kernel's own counters (tcp_sock
 * data_segs_out and total_retrans) as of the socket's last send, read,
 * retransmit or close: both count segments, so their ratio is the loss. */
struct sock_stats {
	__u64 bytes_sent;
	__u64 bytes_recv;    /* read over the socket's life, as of its last read while tracked */
	__u64 ready_ns;      /* first data ready since the last read, 0 if none */
	__u64 rtt_sum_us;
	__u64 qdelay_sum_ns;
	__u32 srtt_us;       /* latest smoothed RTT */
	__u32 segs_out;      /* data segments sent, retransmits included */
	__u64 retrans;
	__u32 rtt_hist[HIST_BUCKETS];    /* srtt per chunk read, microseconds */
	__u32 qdelay_hist[HIST_BUCKETS]; /* kernel queue delay per read, microseconds */
	__u32 segs_retrans;  /* segments retransmitted */
	__u32 pad;
	__u64 read_ns;       /* last chunk read, 0 before the first */
};

/* sock_record is a tracked socket: the value of the socks map, whose header
 * (kind EV_SNAPSHOT) holds the owner pid, the tuple, the current state and,
 * for a socket a target connected, the connect start (since_ns) and thread
 * (tid); and, copied at close, the close record. */
struct sock_record {
	struct event e;
	struct sock_stats stats;
};

_Static_assert(sizeof(struct event) == 80, "event layout is an ABI");
_Static_assert(sizeof(struct sock_stats) == 328, "sock_stats layout is an ABI");

#endif
