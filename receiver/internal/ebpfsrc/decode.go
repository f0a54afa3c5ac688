package ebpfsrc

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"time"
)

// Record layouts of bpf/socket.h, in the kernel's (native) byte order.
const (
	eventSize  = 80
	statsSize  = 328
	recordSize = eventSize + statsSize // struct sock_record: close records and socket map entries

	afInet  = 2
	afInet6 = 10
)

// rawStats is the kernel's cumulative per-socket state (struct sock_stats), kept as it is so
// that deltas of its 32-bit histogram counters survive wrap-around.
type rawStats struct {
	bytesSent, bytesRecv, retrans uint64
	rttSumUs, qdelaySumNs         uint64
	srttUs                        uint32
	segsOut, segsRetrans          uint32
	rttHist, qdelayHist           [HistogramBuckets]uint32
}

// record is one decoded kernel record: an event, with the socket's counters for close records
// and socket map entries (snapshots).
type record struct {
	Event
	stats *rawStats
}

// decodeRecord decodes one ring-buffer record or socket map entry.
func decodeRecord(b []byte) (record, error) {
	var r record
	if len(b) < eventSize {
		return r, fmt.Errorf("decode socket record: %d bytes, want at least %d", len(b), eventSize)
	}
	ne := binary.NativeEndian
	e := &r.Event
	e.Mono = ne.Uint64(b[0:])
	e.Cookie = ne.Uint64(b[8:])
	e.Since = ne.Uint64(b[16:])
	e.Value = int64(ne.Uint64(b[24:]))
	e.PID = ne.Uint32(b[32:])
	e.TID = ne.Uint32(b[36:])
	e.Kind = Kind(b[40])
	e.OldState, e.State = TCPState(b[42]), TCPState(b[43])
	local, peer, err := decodeTuple(b[41], b)
	if err != nil {
		return r, err
	}
	e.Local, e.Peer = local, peer

	want := eventSize
	switch e.Kind {
	case KindOpen, KindConnect, KindEstablished, KindRetransmit, KindResetReceived,
		KindResetSent, KindReadWait, KindReadIdle:
	case KindClose, kindSnapshot:
		want = recordSize
	default:
		return r, fmt.Errorf("decode socket record: unknown kind %d", e.Kind)
	}
	if len(b) != want {
		return r, fmt.Errorf("decode socket record: %s record of %d bytes, want %d", e.Kind, len(b), want)
	}
	if want == recordSize {
		r.stats = decodeStats(b[eventSize:])
		if e.Kind == KindClose {
			total := r.stats.sub(&rawStats{})
			e.Total = &total
		}
	}
	return r, nil
}

func decodeTuple(family byte, b []byte) (local, peer netip.AddrPort, err error) {
	ne := binary.NativeEndian
	lport, rport := ne.Uint16(b[44:]), ne.Uint16(b[46:])
	var la, ra netip.Addr
	switch family {
	case afInet:
		la, ra = netip.AddrFrom4([4]byte(b[48:52])), netip.AddrFrom4([4]byte(b[64:68]))
	case afInet6:
		la, ra = netip.AddrFrom16([16]byte(b[48:64])).Unmap(), netip.AddrFrom16([16]byte(b[64:80])).Unmap()
	default:
		return local, peer, fmt.Errorf("decode socket record: unknown address family %d", family)
	}
	return netip.AddrPortFrom(la, lport), netip.AddrPortFrom(ra, rport), nil
}

func decodeStats(b []byte) *rawStats {
	ne := binary.NativeEndian
	s := &rawStats{
		bytesSent:   ne.Uint64(b[0:]),
		bytesRecv:   ne.Uint64(b[8:]),
		rttSumUs:    ne.Uint64(b[24:]),
		qdelaySumNs: ne.Uint64(b[32:]),
		srttUs:      ne.Uint32(b[40:]),
		segsOut:     ne.Uint32(b[44:]),
		retrans:     ne.Uint64(b[48:]),
		segsRetrans: ne.Uint32(b[56+8*HistogramBuckets:]),
	}
	for i := range HistogramBuckets {
		s.rttHist[i] = ne.Uint32(b[56+4*i:])
		s.qdelayHist[i] = ne.Uint32(b[56+4*HistogramBuckets+4*i:])
	}
	return s
}

// decodeSnapshot decodes one entry of the socket map.
func decodeSnapshot(b []byte) (record, error) {
	r, err := decodeRecord(b)
	if err == nil && r.Kind != kindSnapshot {
		err = fmt.Errorf("decode socket map entry: %s record", r.Kind)
	}
	return r, err
}

// sub is the activity between prev and s, both cumulative.
func (s *rawStats) sub(prev *rawStats) Counters {
	c := Counters{
		BytesSent:     s.bytesSent - prev.bytesSent,
		BytesReceived: s.bytesRecv - prev.bytesRecv,
		Retransmits:   s.retrans - prev.retrans,
		// The kernel's 32-bit segment counters: the difference survives one wrap-around.
		SegmentsSent:          uint64(s.segsOut - prev.segsOut),
		SegmentsRetransmitted: uint64(s.segsRetrans - prev.segsRetrans),
	}
	c.RTT.Sum = time.Duration(s.rttSumUs-prev.rttSumUs) * time.Microsecond
	c.QueueDelay.Sum = time.Duration(s.qdelaySumNs - prev.qdelaySumNs)
	for i := range HistogramBuckets {
		c.RTT.Counts[i] = uint64(s.rttHist[i] - prev.rttHist[i])
		c.QueueDelay.Counts[i] = uint64(s.qdelayHist[i] - prev.qdelayHist[i])
	}
	return c
}
