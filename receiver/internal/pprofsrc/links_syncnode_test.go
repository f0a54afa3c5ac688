package pprofsrc

import (
	"bytes"
	"encoding/json"
	"net"
	"os"
	"path/filepath"
	"testing"

	"go.opentelemetry.io/collector/pdata/pprofile"

	"github.com/gostitch/gostitch/internal/syncnodetest"
	"github.com/gostitch/gostitch/receiver/internal/target"
)

// TestLinkAccuracyOnSyncnode measures the helper path of the CPU join (docs/design.md, rule P):
// syncnode with OTel spans runs all work on a block under pprof labels carrying the block's
// height and its span's ids (what instrument.Do writes). Each CPU sample labeled with a height
// must link to the span the -truth file gives that block: goal ≥ 99.9 % right, ≤ 0.1 % wrong.
func TestLinkAccuracyOnSyncnode(t *testing.T) {
	if testing.Short() {
		t.Skip("skipped in -short: runs syncnode for a few seconds")
	}
	// The node's OTLP exporter finds nobody listening: its spans still get their ids.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	nowhere := l.Addr().String()
	l.Close()
	truthPath := filepath.Join(t.TempDir(), "truth.jsonl")
	node := syncnodetest.Start(t, "-truth", truthPath, "-otlp-endpoint", nowhere, "-verify-cost", "3",
		"-fsync-every", "0", "-duration", "30s")
	data := node.Get(t, "/debug/pprof/profile?seconds=2")
	if err := node.Stop(); err != nil {
		t.Fatal(err)
	}
	spanOf := truthSpans(t, truthPath)

	pd, _, err := DecodeConvert(data, 0, "cpu", target.Identity{Name: "syncnode"}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	samples, right, wrong, unlinked := 0, 0, 0, 0
	dict := pd.Dictionary()
	prof := pd.ResourceProfiles().At(0).ScopeProfiles().At(0).Profiles().At(0)
	for i := range prof.Samples().Len() {
		s := prof.Samples().At(i)
		height := labelOf(dict, s, "height")
		want, ok := spanOf[height]
		if !ok {
			continue // not block work, or a block the truth file does not hold
		}
		n := int(s.Values().At(0))
		samples += n
		link := dict.LinkTable().At(int(s.LinkIndex()))
		switch {
		case s.LinkIndex() == 0:
			unlinked += n
		case link.TraceID().String() == want.TraceID && link.SpanID().String() == want.SpanID:
			right += n
		default:
			wrong += n
		}
	}
	t.Logf("pprof CPU samples of block work: %d; %d linked to the block's span, %d to another, %d not linked", samples, right, wrong, unlinked)
	if samples < 20 {
		t.Fatalf("only %d samples of block work: too few to measure", samples)
	}
	if syncnodetest.RefutesRate(samples-right, samples, 0.001) || syncnodetest.RefutesRate(wrong, samples, 0.001) {
		t.Errorf("%d of %d right, %d wrong: refutes the goal of ≥ 99.9 %% right, ≤ 0.1 %% wrong", right, samples, wrong)
	}
}

// truthSpan is the part of a syncnode -truth line this test reads.
type truthSpan struct {
	Height  json.Number `json:"height"`
	TraceID string      `json:"trace_id"`
	SpanID  string      `json:"span_id"`
}

// truthSpans indexes the blocks' OTel ids by height, as the pprof label writes it.
func truthSpans(t *testing.T, path string) map[string]truthSpan {
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]truthSpan{}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	for dec.More() {
		var ts truthSpan
		if err := dec.Decode(&ts); err != nil {
			t.Fatal(err)
		}
		if ts.TraceID == "" {
			t.Fatal("truth without trace ids: syncnode ran without OTel")
		}
		out[ts.Height.String()] = ts
	}
	return out
}

// labelOf is the string value of the sample's attribute key, "" when absent.
func labelOf(dict pprofile.ProfilesDictionary, s pprofile.Sample, key string) string {
	for _, ai := range s.AttributeIndices().All() {
		a := dict.AttributeTable().At(int(ai))
		if dict.StringTable().At(int(a.KeyStrindex())) == key {
			return a.Value().Str()
		}
	}
	return ""
}
