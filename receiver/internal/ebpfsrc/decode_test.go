package ebpfsrc

import (
	"encoding/binary"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gostitch/gostitch/bpf"
)

// encodeRecord is decodeRecord's inverse, laying sock_stats out with the bpf2go type of the
// C struct so that the two layouts are checked against each other.
func encodeRecord(tb testing.TB, r record) []byte {
	size := eventSize
	if r.stats != nil {
		size = recordSize
	}
	b := make([]byte, size)
	ne := binary.NativeEndian
	ne.PutUint64(b[0:], r.Mono)
	ne.PutUint64(b[8:], r.Cookie)
	ne.PutUint64(b[16:], r.Since)
	ne.PutUint64(b[24:], uint64(r.Value))
	ne.PutUint32(b[32:], r.PID)
	ne.PutUint32(b[36:], r.TID)
	b[40], b[42], b[43] = byte(r.Kind), byte(r.OldState), byte(r.State)
	ne.PutUint16(b[44:], r.Local.Port())
	ne.PutUint16(b[46:], r.Peer.Port())
	if la, ra := r.Local.Addr(), r.Peer.Addr(); la.Is4() && ra.Is4() {
		b[41] = afInet
		a4, p4 := la.As4(), ra.As4()
		copy(b[48:], a4[:])
		copy(b[64:], p4[:])
	} else {
		b[41] = afInet6
		a16, p16 := la.As16(), ra.As16()
		copy(b[48:], a16[:])
		copy(b[64:], p16[:])
	}
	if r.stats == nil {
		return b
	}
	var rec bpf.SocketSockRecord
	st := &rec.Stats
	st.BytesSent, st.BytesRecv, st.Retrans = r.stats.bytesSent, r.stats.bytesRecv, r.stats.retrans
	st.RttSumUs, st.QdelaySumNs, st.SrttUs = r.stats.rttSumUs, r.stats.qdelaySumNs, r.stats.srttUs
	st.RttHist, st.QdelayHist = r.stats.rttHist, r.stats.qdelayHist
	st.SegsOut, st.SegsRetrans = r.stats.segsOut, r.stats.segsRetrans
	if _, err := binary.Encode(b[eventSize:], ne, st); err != nil {
		tb.Fatal(err)
	}
	return b
}

// readSeed reads a committed fuzz seed (testdata/fuzz/FuzzDecodeRecord, bytes the kernel wrote).
func readSeed(tb testing.TB, name string) []byte {
	tb.Helper()
	raw, err := os.ReadFile(filepath.Join("testdata/fuzz/FuzzDecodeRecord", name))
	if err != nil {
		tb.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(raw)), "\n")
	lit := strings.TrimSuffix(strings.TrimPrefix(lines[1], "[]byte("), ")")
	s, err := strconv.Unquote(lit)
	if err != nil {
		tb.Fatal(err)
	}
	return []byte(s)
}

func FuzzDecodeRecord(f *testing.F) {
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := decodeRecord(b)
		if err != nil {
			return
		}
		again, err := decodeRecord(encodeRecord(t, r))
		if err != nil {
			t.Fatalf("re-encoded %+v: %v", r, err)
		}
		if !reflect.DeepEqual(r, again) {
			t.Fatalf("round trip changed the record:\n%+v\n%+v", r, again)
		}
	})
}

func TestDecodeKernelRecords(t *testing.T) {
	r, err := decodeRecord(readSeed(t, "kernel_close"))
	if err != nil {
		t.Fatal(err)
	}
	// A socket of TestCookiesAndBytes's conversation: 3000 bytes one way, 70000 the other.
	if r.Kind != KindClose || r.State != StateClose || r.Total == nil || r.stats == nil ||
		r.Total.BytesSent+r.Total.BytesReceived != 73000 || r.Peer.Addr() != netip.MustParseAddr("127.0.0.1") ||
		r.Total.SegmentsSent == 0 || r.Total.SegmentsRetransmitted != 0 {
		t.Errorf("close record decoded as %+v", r)
	}
	r, err = decodeRecord(readSeed(t, "kernel_established"))
	if err != nil {
		t.Fatal(err)
	}
	if r.Kind != KindEstablished || r.State != StateEstablished || r.Since == 0 || r.Since > r.Mono ||
		r.Local.Port() == 0 || r.Peer.Port() == 0 {
		t.Errorf("established record decoded as %+v", r)
	}
	r, err = decodeRecord(readSeed(t, "kernel_read_idle"))
	if err != nil {
		t.Fatal(err)
	}
	// A client read of TestReadIdleAfterWait: 100 bytes, their data ready before the read.
	if r.Kind != KindReadIdle || r.Value != 100 || r.Since == 0 || r.Since > r.Mono || r.TID == 0 {
		t.Errorf("read idle record decoded as %+v", r)
	}
	for _, bad := range []string{"bad_family", "bad_kind", "truncated_close"} {
		if _, err := decodeRecord(readSeed(t, bad)); err == nil {
			t.Errorf("%s decoded without error", bad)
		}
	}
}

func TestDecodeSnapshot(t *testing.T) {
	r, err := decodeSnapshot(readSeed(t, "kernel_snapshot"))
	if err != nil || r.stats == nil || r.Total != nil || r.PID == 0 || r.Peer.Port() == 0 {
		t.Fatalf("decodeSnapshot = %+v, %v", r, err)
	}
	if _, err := decodeSnapshot(readSeed(t, "kernel_close")); err == nil {
		t.Error("a close record passed as a socket map entry")
	}
}

func TestCountersWrapAround(t *testing.T) {
	prev := rawStats{bytesSent: 10, rttSumUs: 5}
	prev.rttHist[3] = 0xffff_fffe
	cur := prev
	cur.bytesSent, cur.rttSumUs = 25, 9
	cur.rttHist[3] = 1 // the 32-bit kernel counter wrapped after 3 more samples
	c := cur.sub(&prev)
	if c.BytesSent != 15 || c.RTT.Counts[3] != 3 || c.RTT.Sum != 4*time.Microsecond || c.RTT.Count() != 3 {
		t.Errorf("delta %+v", c)
	}
}

func TestHistogramAddMatchesBounds(t *testing.T) {
	for i := range HistogramBuckets - 1 {
		var h Histogram
		h.Add(BucketUpperBound(i))
		h.Add(BucketUpperBound(i) + time.Microsecond)
		if h.Counts[i] != 1 || h.Counts[i+1] != 1 {
			t.Fatalf("bucket %d (upper bound %s): counts %v", i, BucketUpperBound(i), h.Counts)
		}
	}
	var h Histogram
	h.Add(time.Hour)
	if h.Counts[HistogramBuckets-1] != 1 {
		t.Errorf("an hour is not in the last bucket: %v", h.Counts)
	}
}

// TestObjectMatchesDecoder checks the compiled object's sizes against the Go side's.
func TestObjectMatchesDecoder(t *testing.T) {
	spec, err := bpf.LoadSocket()
	if err != nil {
		t.Fatal(err)
	}
	if got := spec.Maps[bpf.SocketMapSocks].ValueSize; got != recordSize {
		t.Errorf("sock_record is %d bytes in the object, %d in the decoder", got, recordSize)
	}
	if got := spec.Maps[bpf.SocketMapTargetPids].MaxEntries * 64; got != PIDLimit {
		t.Errorf("target_pids holds %d pids, SetPIDs allows %d", got, PIDLimit)
	}
	if got := binary.Size(bpf.SocketSockRecord{}.Stats); got != statsSize {
		t.Errorf("bpf.SocketSockRecord.Stats is %d bytes, want %d", got, statsSize)
	}
}
