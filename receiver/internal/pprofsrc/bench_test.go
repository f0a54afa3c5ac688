package pprofsrc

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"sync"
	"syscall"
	"testing"

	"github.com/google/pprof/profile"
)

// benchProfile makes a benchmark profile once per process from a real program: a heap profile
// with many distinct stacks (testdata/gen), small or large (four sample types, a numeric label
// per sample), or the large one made a CPU profile (two sample types) with labels and trace
// context on every sample, as a busy server's labeled CPU profile would have. gotest-utf8-cpu
// is the committed CPU profile of a standard-library benchmark (8 KB, 368 samples), written by
// go test -run '^$' -bench . -benchtime 200ms -cpuprofile utf8-cpu.pb.gz unicode/utf8 (go1.26).
func benchProfile(b *testing.B, size string) []byte {
	benchMu.Lock()
	defer benchMu.Unlock()
	return cachedProfile(b, size)
}

// cachedProfile is benchProfile with benchMu held.
func cachedProfile(b *testing.B, size string) []byte {
	if data, ok := benchProfiles[size]; ok {
		return data
	}
	var data []byte
	var err error
	switch size {
	case "small", "large":
		stacks := map[string]int{"small": 3_200, "large": 400_000}[size]
		data, err = exec.Command("go", "run", "testdata/gen/main.go", "-stacks", strconv.Itoa(stacks), "-out", "-").Output()
	case "large-cpu-labeled":
		data, err = asLabeledCPU(cachedProfile(b, "large"))
	case "gotest-utf8-cpu":
		data, err = os.ReadFile("testdata/gotest/utf8-cpu.pb.gz")
	}
	if err != nil {
		b.Fatalf("making the %s profile: %v", size, err)
	}
	benchProfiles[size] = data
	return data
}

var (
	benchMu       sync.Mutex
	benchProfiles = map[string][]byte{}
)

// asLabeledCPU turns a heap profile into a CPU profile of its stacks, each sample 1 to 4 ticks
// of 10ms, with pprof labels: msg_type (8 values), peer_id (64), and a trace and span id shared
// by 16 and 4 consecutive samples.
func asLabeledCPU(data []byte) ([]byte, error) {
	p, err := profile.ParseData(data)
	if err != nil {
		return nil, err
	}
	p.SampleType = []*profile.ValueType{{Type: "samples", Unit: "count"}, {Type: "cpu", Unit: "nanoseconds"}}
	p.DefaultSampleType = ""
	p.PeriodType, p.Period = &profile.ValueType{Type: "cpu", Unit: "nanoseconds"}, 10_000_000
	for i, s := range p.Sample {
		ticks := int64(1 + i%4)
		s.Value = []int64{ticks, ticks * p.Period}
		s.NumLabel, s.NumUnit = nil, nil
		s.Label = map[string][]string{
			"msg_type":      {fmt.Sprint("msg-", i%8)},
			"peer_id":       {fmt.Sprint("peer-", i%64)},
			"otel.trace_id": {fmt.Sprintf("%016x%016x", i/16+1, uint64(i/16)*0x9e3779b97f4a7c15)},
			"otel.span_id":  {fmt.Sprintf("%016x", uint64(i/4+1)*0xbf58476d1ce4e5b9)},
		}
	}
	var b bytes.Buffer
	err = p.Write(&b)
	return b.Bytes(), err
}

// BenchmarkConvert compares DecodeConvert (op=convert) with profile.Parse alone (op=parse) on
// the same bytes:
// go test -run '^$' -bench Convert -count 6 | benchstat -col /op -
// Besides wall time it reports the process's CPU time per op (cpu-ns/op, GC included), which
// other load on the machine disturbs less.
func BenchmarkConvert(b *testing.B) {
	opts := Options{LabelAttributes: []string{"msg_type", "peer_id"}}
	for _, size := range []string{"gotest-utf8-cpu", "small", "large", "large-cpu-labeled"} {
		b.Run(fmt.Sprintf("size=%s/op=parse", size), func(b *testing.B) {
			data := benchProfile(b, size)
			b.SetBytes(int64(len(data)))
			b.ReportAllocs()
			defer reportCPU(b)()
			for b.Loop() {
				if _, err := profile.Parse(bytes.NewReader(data)); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(fmt.Sprintf("size=%s/op=convert", size), func(b *testing.B) {
			data := benchProfile(b, size)
			b.SetBytes(int64(len(data)))
			b.ReportAllocs()
			defer reportCPU(b)()
			for b.Loop() {
				if _, _, err := DecodeConvert(data, 0, "", testID, opts); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// reportCPU starts measuring the process's CPU time; the function it returns reports it per op.
func reportCPU(b *testing.B) func() {
	runtime.GC()
	start := cpuTime(b)
	return func() { b.ReportMetric(float64(cpuTime(b)-start)/float64(b.N), "cpu-ns/op") }
}

func cpuTime(b *testing.B) int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}
