package ebpfsrc

import (
	"fmt"
	"math/bits"
	"net/netip"
	"time"
)

// Kind says what an Event records.
type Kind uint8

// Kinds of events, numbered as in bpf/socket.h.
const (
	// KindOpen is the first use of a socket by a target: an accepted socket, or one connected
	// before its process became a target.
	KindOpen Kind = iota + 1
	// KindConnect is a connect by a target: SYN sent.
	KindConnect
	// KindEstablished is a connect completing; Since is when it started.
	KindEstablished
	// KindClose is the socket closing; Total holds its final counters.
	KindClose
	// KindRetransmit is one retransmitted segment.
	KindRetransmit
	// KindResetReceived is a RST received.
	KindResetReceived
	// KindResetSent is a RST sent; Value is the kernel's reset reason (enum sk_rst_reason).
	KindResetSent
	// KindReadWait is a read whose data waited in the kernel longer than the threshold; Since
	// is when the data became ready and Value the bytes of the read's first chunk (up to one
	// queued segment buffer; a read copying more runs the kernel hook once per chunk).
	KindReadWait
	// kindSnapshot is a socket map entry: a socket's cumulative counters.
	kindSnapshot
	// KindReadIdle is a read that came at least Options.ReadIdleThreshold after the socket's
	// previous read, and is no KindReadWait: a goroutine that waited that long in the
	// netpoller read next. Since is when the data became ready and Value as for KindReadWait.
	KindReadIdle
)

var kindNames = [...]string{"", "open", "connect", "established", "close", "retransmit",
	"reset received", "reset sent", "read wait", "snapshot", "read idle"}

func (k Kind) String() string {
	if int(k) < len(kindNames) && k != 0 {
		return kindNames[k]
	}
	return fmt.Sprintf("kind(%d)", k)
}

// TCPState is a kernel TCP state (include/net/tcp_states.h).
type TCPState uint8

// TCP states the events use.
const (
	StateEstablished TCPState = 1
	StateSynSent     TCPState = 2
	StateClose       TCPState = 7
)

// Event is one discrete socket event from the kernel.
type Event struct {
	Kind Kind
	// Mono is when it happened: CLOCK_MONOTONIC ns, the clock of Go execution traces.
	Mono uint64
	// Cookie is the socket's SO_COOKIE.
	Cookie uint64
	// PID is the target process that owns the socket.
	PID uint32
	// TID is the thread the event ran on, when it belongs to PID (0 otherwise: softirq).
	// For KindEstablished it is the thread that called connect.
	TID uint32
	// Since is a start time (CLOCK_MONOTONIC ns) for KindReadWait and KindReadIdle (data ready),
	// KindEstablished and KindClose (connect start, 0 when not connected by the target).
	Since uint64
	// Value is the bytes of the read's first chunk for KindReadWait and KindReadIdle, the reset
	// reason for KindResetSent.
	Value int64
	// OldState is the state before a close; State the state after the event.
	OldState, State TCPState
	Local, Peer     netip.AddrPort
	// Total holds the socket's cumulative counters at close (KindClose only).
	Total *Counters
}

// HistogramBuckets is the number of log2 buckets of a Histogram.
const HistogramBuckets = 32

// Histogram is a log2 histogram of durations: bucket 0 counts values up to 1µs, bucket i
// values in (2^(i-1), 2^i] µs, the last bucket everything above.
type Histogram struct {
	Counts [HistogramBuckets]uint64
	Sum    time.Duration
}

// BucketUpperBound is the inclusive upper bound of bucket i; the last bucket has none.
func BucketUpperBound(i int) time.Duration { return time.Duration(1<<i) * time.Microsecond }

// Add counts d as the kernel does (bpf/socket.bpf.c hist_add), in whole microseconds.
func (h *Histogram) Add(d time.Duration) {
	i := 0
	if us := uint64(max(d, 0) / time.Microsecond); us > 1 {
		i = min(bits.Len64(us-1), HistogramBuckets-1)
	}
	h.Counts[i]++
	h.Sum += d
}

// Count is the number of values in the histogram.
func (h *Histogram) Count() uint64 {
	var n uint64
	for _, c := range h.Counts {
		n += c
	}
	return n
}

// Counters is a socket's activity: cumulative in Event.Total, a window's delta in Socket.
type Counters struct {
	// BytesReceived counts what the process read; a socket it read from before becoming a target
	// counts those earlier reads in its first window (the kernel keeps a lifetime count).
	BytesSent, BytesReceived, Retransmits uint64
	// SegmentsSent counts the data segments the kernel sent, retransmits included, and
	// SegmentsRetransmitted those it sent again (tcp_sock data_segs_out and total_retrans, as
	// of the socket's last send, read, retransmit or close): their ratio is the loss.
	SegmentsSent, SegmentsRetransmitted uint64
	// RTT holds smoothed RTT samples (the socket's srtt), one per chunk a read copies (a read
	// copies a chunk per queued segment buffer it reaches).
	RTT Histogram
	// QueueDelay holds, per read of newly arrived data, how long it waited in the kernel socket
	// queue.
	QueueDelay Histogram
}

// IsZero says whether nothing happened.
func (c *Counters) IsZero() bool {
	return c.BytesSent == 0 && c.BytesReceived == 0 && c.Retransmits == 0 &&
		c.SegmentsSent == 0 && c.SegmentsRetransmitted == 0 &&
		c.RTT.Count() == 0 && c.QueueDelay.Count() == 0
}
