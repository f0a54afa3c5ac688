package main

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"math"
	"math/rand/v2"
	"net/http"
	"os"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/contrib/instrumentation/google.golang.org/grpc/otelgrpc"
	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// requestTimeout bounds each request of the load.
const requestTimeout = 10 * time.Second

// loadClient calls the service's own servers over loopback, instrumented on the client side
// with otelhttp and otelgrpc, as another service calling this one would be.
type loadClient struct {
	http    *http.Client
	httpURL string // up to the key's value
	grpc    *grpc.ClientConn
}

func newLoadClient(httpAddr, grpcAddr string, concurrency int) (*loadClient, error) {
	cc, err := grpc.NewClient(grpcAddr,
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithStatsHandler(otelgrpc.NewClientHandler()))
	if err != nil {
		return nil, fmt.Errorf("gRPC client for %s: %w", grpcAddr, err)
	}
	tr := &http.Transport{MaxIdleConnsPerHost: concurrency}
	return &loadClient{
		http:    &http.Client{Transport: otelhttp.NewTransport(tr)},
		httpURL: "http://" + httpAddr + "/work?key=",
		grpc:    cc,
	}, nil
}

// callHTTP makes one GET /work request.
func (c *loadClient) callHTTP(ctx context.Context, key uint64) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.httpURL+strconv.FormatUint(key, 10), nil)
	if err != nil {
		return err
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if _, err := io.Copy(io.Discard, resp.Body); err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET /work: %s", resp.Status)
	}
	return nil
}

// callGRPC makes one otelapp.Work/Do call.
func (c *loadClient) callGRPC(ctx context.Context, key uint64) error {
	var in [8]byte
	binary.BigEndian.PutUint64(in[:], key)
	return c.grpc.Invoke(ctx, workDoMethod, wrapperspb.Bytes(in[:]), new(wrapperspb.BytesValue))
}

func (c *loadClient) close() {
	c.http.CloseIdleConnections()
	c.grpc.Close()
}

// loadReport is the load's outcome, written as JSON by -load-report: requests sent (failed ones
// included), how many failed, the load's wall time and the median and 99th percentile of the
// requests' latencies as the client saw them.
type loadReport struct {
	Requests int64   `json:"requests"`
	Failed   int64   `json:"failed"`
	Seconds  float64 `json:"seconds"`
	P50Ms    float64 `json:"p50_ms"`
	P99Ms    float64 `json:"p99_ms"`
}

// runLoad sends rate requests per second for warmup and then duration (or until ctx ends),
// alternating HTTP and gRPC, with at most concurrency in flight; a tick that finds every worker
// busy is skipped and counted. With rate 0 the load is a closed loop: each worker sends its
// next request as soon as its last one returns. It prints the first failure, a summary line,
// and returns the report; the summary and the report count only what began after warmup.
func (c *loadClient) runLoad(ctx context.Context, rate, concurrency int, warmup, duration time.Duration, out *log.Logger) loadReport {
	ctx, cancel := context.WithTimeout(ctx, warmup+duration)
	defer cancel()
	measured := time.Now().Add(warmup)
	var (
		sent, failed [2]atomic.Int64 // [0] HTTP, [1] gRPC
		skipped      int
		wg           sync.WaitGroup
		firstErr     sync.Once
	)
	latencies := make([][]time.Duration, concurrency) // per worker, merged at the end
	ticks := make(chan int)
	for w := range concurrency {
		wg.Go(func() {
			for i := range ticks {
				rctx, cancel := context.WithTimeout(context.Background(), requestTimeout)
				began := time.Now()
				var err error
				if i%2 == 0 {
					err = c.callHTTP(rctx, rand.Uint64())
				} else {
					err = c.callGRPC(rctx, rand.Uint64())
				}
				latency := time.Since(began)
				cancel()
				if err != nil {
					firstErr.Do(func() { out.Printf("load: %v", err) })
				}
				if began.Before(measured) {
					continue
				}
				latencies[w] = append(latencies[w], latency)
				sent[i%2].Add(1)
				if err != nil {
					failed[i%2].Add(1)
				}
			}
		})
	}
	if rate == 0 {
		for i := 0; ctx.Err() == nil; i++ {
			select {
			case <-ctx.Done():
			case ticks <- i:
			}
		}
	} else {
		tick := time.NewTicker(time.Second / time.Duration(rate))
		for i := 0; ctx.Err() == nil; i++ {
			select {
			case <-ctx.Done():
			case <-tick.C:
				select {
				case ticks <- i:
				default:
					if !time.Now().Before(measured) {
						skipped++ // counted, as the requests are, after the warm-up only
					}
				}
			}
		}
		tick.Stop()
	}
	close(ticks)
	wg.Wait()
	elapsed := time.Since(measured)
	out.Printf("load: %d HTTP and %d gRPC requests in %s (%d and %d failed), %d skipped with all %d workers busy",
		sent[0].Load(), sent[1].Load(), elapsed.Round(time.Millisecond),
		failed[0].Load(), failed[1].Load(), skipped, concurrency)
	all := slices.Concat(latencies...)
	slices.Sort(all)
	return loadReport{
		Requests: sent[0].Load() + sent[1].Load(), Failed: failed[0].Load() + failed[1].Load(),
		Seconds: elapsed.Seconds(), P50Ms: quantileMs(all, 0.50), P99Ms: quantileMs(all, 0.99),
	}
}

// quantileMs is the q-quantile (0 < q ≤ 1, nearest rank) of sorted latencies in milliseconds;
// 0 when there are none.
func quantileMs(sorted []time.Duration, q float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	i := max(int(math.Ceil(q*float64(len(sorted))))-1, 0)
	return float64(sorted[i]) / float64(time.Millisecond)
}

// writeLoadReport writes r as one JSON object to path.
func writeLoadReport(path string, r loadReport) error {
	data, err := json.Marshal(r)
	if err != nil {
		return fmt.Errorf("load report: %w", err)
	}
	if err := os.WriteFile(path, append(data, '\n'), 0o644); err != nil {
		return fmt.Errorf("write load report %s: %w", path, err)
	}
	return nil
}
