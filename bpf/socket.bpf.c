//go:build ignore

// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Per-socket TCP activity of target processes, keyed by socket cookie.
 *
 * A socket becomes tracked when a target pid (tgid in target_pids) connects
 * it or first sends or receives on it: it gets an entry in the socks hash
 * map. The close hook emits the entry as the close record and marks it
 * closed (state TCP_CLOSE); it stays for the resets and retransmits that
 * follow until the kernel destroys the socket. Hooks that run in softirq
 * context (data ready, retransmit, reset), where the current pid is
 * unrelated, only act on tracked sockets. Reads are seen where data is
 * copied out (tcp_rcv_space_adjust), not at the socket layer
 * (sock_recv_length), which also runs for every read that finds nothing: a
 * Go reader's EAGAIN before it parks. RTT is sampled from the socket's srtt
 * on each of those copies, not per incoming segment from a tcp_probe hook. Counters and histograms are
 * aggregated in place and read from the map by userspace; the ring buffer
 * carries only discrete events. A failed reservation or a full socks map is
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

/* A read that comes this long after the socket's previous read becomes an
 * event (EV_READ_IDLE) with its data-ready time: a goroutine that waited in
 * the netpoller this long (a block span) read next, and the time the data
 * reached the kernel splits its wait into the peer's and the host's part.
 * Userspace sets it to the shortest block that becomes a span. */
const volatile __u64 read_idle_threshold_ns = 1000000;

/* Tracked sockets by cookie; userspace sets max_entries. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, 16384);
	__type(key, __u64);
	__type(value, struct sock_record);
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
	__uint(max_entries, DROP_SLOTS);
	__type(key, __u32);
	__type(value, __u64);
} drops SEC(".maps");

/* find returns the entry of a tracked socket. The cookie is read in place:
 * a socket without one was never tracked (tracking asks for it), and asking
 * would give one to every socket the softirq hooks see. */
static __always_inline struct sock_record *find(const struct sock *sk)
{
	__u64 cookie = sk->__sk_common.skc_cookie.counter;

	return cookie ? bpf_map_lookup_elem(&socks, &cookie) : 0;
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
static __always_inline __u32 tid_of(const struct sock_record *r)
{
	__u64 id = bpf_get_current_pid_tgid();

	return (__u32)(id >> 32) == r->e.pid ? (__u32)id : 0;
}

/* wakeup wakes the reader only once a quarter of the ring is used: it polls
 * anyway, and a wakeup per event costs more than the event. */
static __always_inline __u64 wakeup(void)
{
	__u64 used = bpf_ringbuf_query(&events, BPF_RB_AVAIL_DATA);

	return used >= bpf_ringbuf_query(&events, BPF_RB_RING_SIZE) / 4 ? BPF_RB_FORCE_WAKEUP
									: BPF_RB_NO_WAKEUP;
}

static __always_inline void count_drop(__u32 slot)
{
	__u64 *n = bpf_map_lookup_elem(&drops, &slot);

	if (n)
		*n += 1;
}

/* emit sends a discrete event that happened at mono, with the socket's
 * identity and tuple from its entry; state is the socket's state after it. */
static __always_inline void emit(const struct sock_record *r, __u8 kind, __u8 state, __u32 tid,
				 __u64 mono, __u64 since, __s64 value)
{
	struct event *e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);

	if (!e) {
		count_drop(DROP_EVENT);
		return;
	}
	__builtin_memcpy(e, &r->e, sizeof(*e));
	e->mono_ns = mono;
	e->since_ns = since;
	e->value = value;
	e->tid = tid;
	e->kind = kind;
	e->new_state = state;
	bpf_ringbuf_submit(e, wakeup());
}

/* emit_now sends an event happening now, in the socket's current state. */
static __always_inline void emit_now(const struct sock_record *r, __u8 kind, __u32 tid,
				     __s64 value)
{
	emit(r, kind, r->e.new_state, tid, bpf_ktime_get_ns(), 0, value);
}

static __always_inline bool is_target(__u32 tgid)
{
	__u32 word = tgid / 64;
	__u64 *bits = bpf_map_lookup_elem(&target_pids, &word);

	return bits && (*bits >> (tgid % 64)) & 1;
}

/* track gives a TCP socket of the current (target) thread a fresh entry in
 * state. With BPF_NOEXIST an entry another CPU made meanwhile stays and track
 * returns 0; with BPF_ANY the fresh entry replaces any older one. */
static __always_inline struct sock_record *track(const struct sock *sk, __u64 id, __u8 state,
						 __u64 flags)
{
	struct sock_record r = {};
	__u64 cookie;
	__u16 family;
	long err;

	family = sk->__sk_common.skc_family;
	if (family != AF_INET && family != AF_INET6)
		return 0;
	if (!bpf_skc_to_tcp_sock((void *)sk))
		return 0;
	cookie = bpf_get_socket_cookie((void *)sk);
	r.e.kind = EV_SNAPSHOT;
	r.e.cookie = cookie;
	r.e.pid = id >> 32;
	r.e.new_state = state;
	fill_tuple(&r.e, sk);
	err = bpf_map_update_elem(&socks, &cookie, &r, flags);
	if (err) {
		if (err != -EEXIST)
			count_drop(DROP_SOCKET); /* the map is full: this use goes unseen */
		return 0;
	}
	return bpf_map_lookup_elem(&socks, &cookie);
}

/* count_segs copies the kernel's segment counters of a tracked (TCP) socket:
 * they move in softirq context too, so each hook that sees the socket takes
 * the latest values. */
static __always_inline void count_segs(struct sock_record *r, const struct tcp_sock *tp)
{
	r->stats.segs_out = tp->data_segs_out;
	r->stats.segs_retrans = tp->total_retrans;
}

static __always_inline const struct tcp_sock *tcp_of(const struct sock *sk)
{
	return bpf_rdonly_cast(sk, bpf_core_type_id_kernel(struct tcp_sock));
}

/* use returns the entry of a socket the current target thread uses,
 * tracking it on first use. */
static __always_inline struct sock_record *use(const struct sock *sk, __u64 id)
{
	struct sock_record *r = find(sk);

	if (r)
		return r;
	r = track(sk, id, sk->__sk_common.skc_state, BPF_NOEXIST);
	if (!r)
		return find(sk); /* another CPU tracked it meanwhile, or the map is full */
	emit_now(r, EV_OPEN, (__u32)id, 0);
	return r;
}

SEC("tp_btf/sock_send_length")
int BPF_PROG(on_send, struct sock *sk, int ret, int flags)
{
	struct sock_record *r;
	__u64 id;

	if (ret <= 0)
		return 0;
	id = bpf_get_current_pid_tgid();
	if (!is_target(id >> 32))
		return 0;
	r = use(sk, id);
	if (!r)
		return 0;
	__sync_fetch_and_add(&r->stats.bytes_sent, ret);
	count_segs(r, tcp_of(sk));
	return 0;
}

/* read_total is what the socket's reader has consumed over the socket's life:
 * the bytes that arrived in order less those still queued. Read under the
 * socket lock, where both move together. */
static __always_inline __u64 read_total(const struct tcp_sock *tp)
{
	return tp->bytes_received - (__u32)(tp->rcv_nxt - tp->copied_seq);
}

/* on_recv runs each time a reader has copied data out of the socket
 * (tcp_recvmsg, once per chunk of a read, after copied_seq moved; also
 * splice and zero-copy receive), never for a read that found nothing (the
 * EAGAIN of a non-blocking read: sock_recv_length ran twice per Go read). */
SEC("tp_btf/tcp_rcv_space_adjust")
int BPF_PROG(on_recv, struct sock *sk)
{
	struct sock_record *r;
	const struct tcp_sock *tp;
	__u64 id, ready, now, wait, last, total, n;
	__u32 srtt;

	id = bpf_get_current_pid_tgid();
	if (!is_target(id >> 32))
		return 0;
	r = use(sk, id);
	if (!r)
		return 0;
	/* Tracked sockets are TCP (track checks it): no bpf_skc_to_tcp_sock. */
	tp = tcp_of(sk);
	total = read_total(tp);
	n = total - r->stats.bytes_recv;
	if (!n || n >> 63)
		return 0; /* MSG_PEEK: nothing consumed */
	r->stats.bytes_recv = total;

	/* One RTT sample per chunk read. */
	count_segs(r, tp);
	srtt = tp->srtt_us >> 3;
	if (srtt) {
		r->stats.srtt_us = srtt;
		hist_add(r->stats.rtt_hist, srtt);
		__sync_fetch_and_add(&r->stats.rtt_sum_us, srtt);
	}

	/* Races with on_data_ready lose a sample at worst, never skew one.
	 * The socket's previous read tells a read after a long idle (a
	 * reader parked in the netpoller). */
	now = bpf_ktime_get_ns();
	last = r->stats.read_ns;
	r->stats.read_ns = now;
	ready = r->stats.ready_ns;
	if (!ready)
		return 0;
	r->stats.ready_ns = 0;
	if (now <= ready)
		return 0;
	wait = now - ready;
	hist_add(r->stats.qdelay_hist, wait / 1000);
	__sync_fetch_and_add(&r->stats.qdelay_sum_ns, wait);
	if (wait > read_wait_threshold_ns)
		emit(r, EV_READ_WAIT, r->e.new_state, tid_of(r), now, ready, n);
	else if (now - last >= read_idle_threshold_ns)
		emit(r, EV_READ_IDLE, r->e.new_state, tid_of(r), now, ready, n);
	return 0;
}

/* on_data_ready notes when data became ready, once per read. An established
 * socket's segments reach it through tcp_rcv_established, which refreshes
 * the socket's clock cache (tcp_clock_ns: CLOCK_MONOTONIC) first: reading it
 * costs a load, bpf_ktime_get_ns ~70 ns here. Other states take the clock. */
SEC("tp_btf/sk_data_ready")
int BPF_PROG(on_data_ready, const struct sock *sk)
{
	struct sock_record *r = find(sk);

	if (!r || r->stats.ready_ns)
		return 0;
	r->stats.ready_ns = sk->__sk_common.skc_state == TCP_ESTABLISHED
				    ? tcp_of(sk)->tcp_clock_cache
				    : bpf_ktime_get_ns();
	return 0;
}

SEC("tp_btf/tcp_retransmit_skb")
int BPF_PROG(on_retransmit, const struct sock *sk, const struct sk_buff *skb, int err)
{
	struct sock_record *r;

	if (err)
		return 0;
	r = find(sk);
	if (!r)
		return 0;
	__sync_fetch_and_add(&r->stats.retrans, 1);
	count_segs(r, tcp_of(sk));
	emit_now(r, EV_RETRANSMIT, tid_of(r), 0);
	return 0;
}

SEC("tp_btf/tcp_receive_reset")
int BPF_PROG(on_reset_received, struct sock *sk)
{
	struct sock_record *r = find(sk);

	if (r)
		emit_now(r, EV_RESET_RECEIVED, tid_of(r), 0);
	return 0;
}

SEC("tp_btf/tcp_send_reset")
int BPF_PROG(on_reset_sent, const struct sock *sk, const struct sk_buff *skb, int reason)
{
	struct sock_record *r;

	if (!sk)
		return 0;
	r = find(sk);
	if (r)
		emit_now(r, EV_RESET_SENT, tid_of(r), reason);
	return 0;
}

/* on_connect tracks a socket a target connects, afresh: it may have connected
 * before, and failed. */
static __always_inline void on_connect(const struct sock *sk)
{
	__u64 id = bpf_get_current_pid_tgid();
	struct sock_record *r;

	if (!is_target(id >> 32))
		return;
	r = track(sk, id, TCP_SYN_SENT, BPF_ANY);
	if (!r)
		return;
	r->e.tid = (__u32)id;
	r->e.since_ns = bpf_ktime_get_ns();
	emit(r, EV_CONNECT, TCP_SYN_SENT, (__u32)id, r->e.since_ns, 0, 0);
}

/* on_close emits the close record: the entry with its final counters. */
static __always_inline void on_close(const struct sock_record *r, int oldstate)
{
	struct sock_record *c = bpf_ringbuf_reserve(&events, sizeof(*c), 0);

	if (!c) {
		count_drop(DROP_EVENT);
		return;
	}
	__builtin_memcpy(c, r, sizeof(*c));
	c->e.mono_ns = bpf_ktime_get_ns();
	c->e.tid = tid_of(r);
	c->e.kind = EV_CLOSE;
	c->e.old_state = oldstate;
	bpf_ringbuf_submit(c, wakeup());
}

SEC("tp_btf/inet_sock_set_state")
int BPF_PROG(on_state, const struct sock *sk, int oldstate, int newstate)
{
	struct sock_record *r;

	if (newstate == TCP_SYN_SENT) {
		on_connect(sk);
		return 0;
	}
	r = find(sk);
	if (!r || r->e.new_state == TCP_CLOSE)
		return 0;
	r->e.new_state = newstate;
	if (newstate == TCP_CLOSE) {
		count_segs(r, tcp_of(sk));
		on_close(r, oldstate);
	}
	if (newstate != TCP_ESTABLISHED)
		return 0;
	fill_tuple(&r->e, sk); /* the local port is bound by now */
	if (r->e.since_ns)
		emit(r, EV_ESTABLISHED, TCP_ESTABLISHED, r->e.tid, bpf_ktime_get_ns(), r->e.since_ns, 0);
	return 0;
}

SEC("tp_btf/tcp_destroy_sock")
int BPF_PROG(on_destroy, struct sock *sk)
{
	__u64 cookie = sk->__sk_common.skc_cookie.counter;

	if (cookie)
		bpf_map_delete_elem(&socks, &cookie);
	return 0;
}
