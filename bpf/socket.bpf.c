//go:build ignore

// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Per-socket TCP activity of target processes, keyed by socket cookie.
 *
 * A socket becomes tracked when a target pid (tgid in target_pids) connects
 * it or first sends or receives on it; its state lives in socket-local
 * storage (socks), which the kernel frees with the socket. Hooks that run in
 * softirq context (data ready, RTT probe, retransmit, reset), where the
 * current pid is unrelated, only act on tracked sockets. Counters and
 * histograms are aggregated in place and read by the dump_socks iterator;
 * the ring buffer carries only discrete events, and a failed reservation is
 * counted in drops.
 */
#include "kernel.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_core_read.h>

#include "socket.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* Reinterprets a pointer as another kernel type; inlined by the verifier,
 * loads are fault-safe. */
extern void *bpf_rdonly_cast(const void *obj, __u32 btf_id) __ksym;

/* Reads whose data waited in the kernel longer than this become events. */
const volatile __u64 read_wait_threshold_ns = 1000000;

struct {
	__uint(type, BPF_MAP_TYPE_SK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct sock_stats);
} socks SEC(".maps");

/* Target tgids as a bitmap, bit tgid % 64 of word tgid / 64, up to the
 * kernel's PID_MAX_LIMIT: the lookup is inlined, unlike a hash map's (~60 ns
 * more per non-target send or receive). */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, PID_WORDS);
	__type(key, __u32);
	__type(value, __u64);
} target_pids SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 256 * 1024);
} events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} drops SEC(".maps");

static __always_inline struct sock_stats *lookup(const struct sock *sk)
{
	return bpf_sk_storage_get(&socks, (struct sock *)sk, 0, 0);
}

/* hist_add counts v in its log2 bucket: bucket 0 holds v <= 1, bucket i
 * holds 2^(i-1) < v <= 2^i, the last bucket everything above. */
static __always_inline void hist_add(__u32 *hist, __u64 v)
{
	__u32 n = 0;

	if (v > 1) {
		__u64 x = v - 1;

		if (x >> 32) { n += 32; x >>= 32; }
		if (x >> 16) { n += 16; x >>= 16; }
		if (x >> 8) { n += 8; x >>= 8; }
		if (x >> 4) { n += 4; x >>= 4; }
		if (x >> 2) { n += 2; x >>= 2; }
		if (x >> 1) { n += 1; x >>= 1; }
		n += x;
	}
	if (n >= HIST_BUCKETS)
		n = HIST_BUCKETS - 1;
	__sync_fetch_and_add(&hist[n & (HIST_BUCKETS - 1)], 1);
}

static __always_inline void fill_tuple(struct event *e, const struct sock *sk)
{
	const struct sock_common *c = &sk->__sk_common;

	e->family = c->skc_family;
	e->lport = c->skc_num;
	e->rport = bpf_ntohs(c->skc_dport);
	if (e->family == AF_INET6) {
		for (int i = 0; i < 4; i++) {
			((__u32 *)e->laddr)[i] = c->skc_v6_rcv_saddr.in6_u.u6_addr32[i];
			((__u32 *)e->raddr)[i] = c->skc_v6_daddr.in6_u.u6_addr32[i];
		}
	} else {
		((__u32 *)e->laddr)[0] = c->skc_rcv_saddr;
		((__u32 *)e->raddr)[0] = c->skc_daddr;
	}
}

/* tid_of is the current thread when it belongs to the socket's owner, else
 * 0: softirq hooks run on whatever thread was interrupted. */
static __always_inline __u32 tid_of(const struct sock_stats *st)
{
	__u64 id = bpf_get_current_pid_tgid();

	return (__u32)(id >> 32) == st->pid ? (__u32)id : 0;
}

/* wakeup wakes the reader only once a quarter of the ring is used: it polls
 * anyway, and a wakeup per event costs more than the event. */
static __always_inline __u64 wakeup(void)
{
	__u64 used = bpf_ringbuf_query(&events, BPF_RB_AVAIL_DATA);

	return used >= bpf_ringbuf_query(&events, BPF_RB_RING_SIZE) / 4 ? BPF_RB_FORCE_WAKEUP
									: BPF_RB_NO_WAKEUP;
}

static __always_inline void count_drop(void)
{
	__u32 zero = 0;
	__u64 *n = bpf_map_lookup_elem(&drops, &zero);

	if (n)
		*n += 1;
}

/* emit sends a discrete event that happened at mono; state is the socket's
 * state after it. */
static __always_inline void emit(const struct sock *sk, const struct sock_stats *st, __u8 kind,
				 __u8 state, __u32 tid, __u64 mono, __u64 since, __s64 value)
{
	struct event *e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);

	if (!e) {
		count_drop();
		return;
	}
	__builtin_memset(e, 0, sizeof(*e));
	e->mono_ns = mono;
	e->cookie = st->cookie;
	e->since_ns = since;
	e->value = value;
	e->pid = st->pid;
	e->tid = tid;
	e->kind = kind;
	e->new_state = state;
	fill_tuple(e, sk);
	bpf_ringbuf_submit(e, wakeup());
}

/* emit_now sends an event happening now, in the socket's current state. */
static __always_inline void emit_now(const struct sock *sk, const struct sock_stats *st, __u8 kind,
				     __u32 tid, __s64 value)
{
	emit(sk, st, kind, sk->__sk_common.skc_state, tid, bpf_ktime_get_ns(), 0, value);
}

static __always_inline bool is_target(__u32 tgid)
{
	__u32 word = tgid / 64;
	__u64 *bits = bpf_map_lookup_elem(&target_pids, &word);

	return bits && (*bits >> (tgid % 64)) & 1;
}

/* track starts tracking a TCP socket the current thread uses, when the
 * thread belongs to a target. */
static __always_inline struct sock_stats *track(const struct sock *sk, __u64 id)
{
	__u32 tgid = id >> 32;
	struct sock_stats *st;
	__u16 family;

	if (!is_target(tgid))
		return 0;
	family = sk->__sk_common.skc_family;
	if (family != AF_INET && family != AF_INET6)
		return 0;
	if (!bpf_skc_to_tcp_sock((void *)sk))
		return 0;
	st = bpf_sk_storage_get(&socks, (struct sock *)sk, 0,
				BPF_SK_STORAGE_GET_F_CREATE);
	if (!st)
		return 0;
	st->cookie = bpf_get_socket_cookie((void *)sk);
	st->pid = tgid;
	return st;
}

/* use returns the state of a socket used by the current thread, tracking
 * it on first use by a target. */
static __always_inline struct sock_stats *use(const struct sock *sk)
{
	struct sock_stats *st = lookup(sk);
	__u64 id;

	if (st)
		return st;
	id = bpf_get_current_pid_tgid();
	st = track(sk, id);
	if (st)
		emit_now(sk, st, EV_OPEN, (__u32)id, 0);
	return st;
}

SEC("tp_btf/sock_send_length")
int BPF_PROG(on_send, struct sock *sk, int ret, int flags)
{
	struct sock_stats *st;

	if (ret <= 0)
		return 0;
	st = use(sk);
	if (st)
		__sync_fetch_and_add(&st->bytes_sent, ret);
	return 0;
}

SEC("tp_btf/sock_recv_length")
int BPF_PROG(on_recv, struct sock *sk, int ret, int flags)
{
	struct sock_stats *st;
	__u64 ready, now, wait;

	if (ret <= 0 || (flags & MSG_PEEK))
		return 0;
	st = use(sk);
	if (!st)
		return 0;
	__sync_fetch_and_add(&st->bytes_recv, ret);

	/* Races with on_data_ready lose a sample at worst, never skew one. */
	ready = st->ready_ns;
	if (!ready)
		return 0;
	st->ready_ns = 0;
	now = bpf_ktime_get_ns();
	if (now <= ready)
		return 0;
	wait = now - ready;
	hist_add(st->qdelay_hist, wait / 1000);
	__sync_fetch_and_add(&st->qdelay_sum_ns, wait);
	if (wait > read_wait_threshold_ns)
		emit(sk, st, EV_READ_WAIT, sk->__sk_common.skc_state, tid_of(st), now, ready,
		     ret);
	return 0;
}

SEC("tp_btf/sk_data_ready")
int BPF_PROG(on_data_ready, const struct sock *sk)
{
	struct sock_stats *st = lookup(sk);

	if (st && !st->ready_ns)
		st->ready_ns = bpf_ktime_get_ns();
	return 0;
}

SEC("tp_btf/tcp_probe")
int BPF_PROG(on_probe, struct sock *sk, const struct sk_buff *skb)
{
	struct sock_stats *st = lookup(sk);
	struct tcp_sock *tp;
	__u32 srtt;

	if (!st)
		return 0;
	/* Tracked sockets are TCP (track checks it): no bpf_skc_to_tcp_sock. */
	tp = bpf_rdonly_cast(sk, bpf_core_type_id_kernel(struct tcp_sock));
	srtt = tp->srtt_us >> 3;
	if (!srtt)
		return 0;
	st->srtt_us = srtt;
	hist_add(st->rtt_hist, srtt);
	__sync_fetch_and_add(&st->rtt_sum_us, srtt);
	return 0;
}

SEC("tp_btf/tcp_retransmit_skb")
int BPF_PROG(on_retransmit, const struct sock *sk, const struct sk_buff *skb, int err)
{
	struct sock_stats *st;

	if (err)
		return 0;
	st = lookup(sk);
	if (!st)
		return 0;
	__sync_fetch_and_add(&st->retrans, 1);
	emit_now(sk, st, EV_RETRANSMIT, tid_of(st), 0);
	return 0;
}

SEC("tp_btf/tcp_receive_reset")
int BPF_PROG(on_reset_received, struct sock *sk)
{
	struct sock_stats *st = lookup(sk);

	if (st)
		emit_now(sk, st, EV_RESET_RECEIVED, tid_of(st), 0);
	return 0;
}

SEC("tp_btf/tcp_send_reset")
int BPF_PROG(on_reset_sent, const struct sock *sk, const struct sk_buff *skb, int reason)
{
	struct sock_stats *st;

	if (!sk)
		return 0;
	st = lookup(sk);
	if (st)
		emit_now(sk, st, EV_RESET_SENT, tid_of(st), reason);
	return 0;
}

static __always_inline void on_connect(const struct sock *sk)
{
	__u64 id = bpf_get_current_pid_tgid();
	struct sock_stats *st = track(sk, id);
	__u64 cookie;

	if (!st)
		return;
	/* A socket can connect again after a failed attempt: start afresh. */
	cookie = st->cookie;
	__builtin_memset(st, 0, sizeof(*st));
	st->cookie = cookie;
	st->pid = id >> 32;
	st->connect_tid = (__u32)id;
	st->connect_ns = bpf_ktime_get_ns();
	emit(sk, st, EV_CONNECT, TCP_SYN_SENT, (__u32)id, st->connect_ns, 0, 0);
}

static __always_inline void on_close(const struct sock *sk, struct sock_stats *st, int oldstate)
{
	struct close_record *r;

	st->closed = 1;
	r = bpf_ringbuf_reserve(&events, sizeof(*r), 0);
	if (!r) {
		count_drop();
		return;
	}
	__builtin_memset(&r->e, 0, sizeof(r->e));
	r->e.mono_ns = bpf_ktime_get_ns();
	r->e.cookie = st->cookie;
	r->e.since_ns = st->connect_ns;
	r->e.pid = st->pid;
	r->e.tid = tid_of(st);
	r->e.kind = EV_CLOSE;
	r->e.old_state = oldstate;
	r->e.new_state = TCP_CLOSE;
	fill_tuple(&r->e, sk);
	__builtin_memcpy(&r->stats, st, sizeof(r->stats));
	bpf_ringbuf_submit(r, wakeup());
}

SEC("tp_btf/inet_sock_set_state")
int BPF_PROG(on_state, const struct sock *sk, int oldstate, int newstate)
{
	struct sock_stats *st;

	if (newstate == TCP_SYN_SENT) {
		on_connect(sk);
		return 0;
	}
	if (newstate != TCP_ESTABLISHED && newstate != TCP_CLOSE)
		return 0;
	st = lookup(sk);
	if (!st || st->closed)
		return 0;
	if (newstate == TCP_CLOSE)
		on_close(sk, st, oldstate);
	else if (st->connect_ns)
		emit(sk, st, EV_ESTABLISHED, TCP_ESTABLISHED, st->connect_tid, bpf_ktime_get_ns(),
		     st->connect_ns, 0);
	return 0;
}

SEC("iter/bpf_sk_storage_map")
int dump_socks(struct bpf_iter__bpf_sk_storage_map *ctx)
{
	struct sock_stats *st = ctx->value;
	struct sock *sk = ctx->sk;
	struct event e = {};

	if (!sk || !st || st->closed)
		return 0;
	e.mono_ns = bpf_ktime_get_ns();
	e.cookie = st->cookie;
	e.since_ns = st->connect_ns;
	e.pid = st->pid;
	e.kind = EV_SNAPSHOT;
	e.new_state = sk->__sk_common.skc_state;
	fill_tuple(&e, sk);
	bpf_seq_write(ctx->meta->seq, &e, sizeof(e));
	bpf_seq_write(ctx->meta->seq, st, sizeof(*st));
	return 0;
}
