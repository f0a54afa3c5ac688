package main

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"log"
	"math/rand/v2"
	"net/http"
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

// runLoad sends rate requests per second for duration (or until ctx ends), alternating HTTP
// and gRPC, with at most concurrency in flight; a tick that finds every worker busy is skipped
// and counted. It prints a summary line.
func (c *loadClient) runLoad(ctx context.Context, rate, concurrency int, duration time.Duration, out *log.Logger) {
	ctx, cancel := context.WithTimeout(ctx, duration)
	defer cancel()
	var (
		sent, failed [2]atomic.Int64 // [0] HTTP, [1] gRPC
		skipped      int
		wg           sync.WaitGroup
		firstErr     sync.Once
	)
	ticks := make(chan int)
	for range concurrency {
		wg.Go(func() {
			for i := range ticks {
				rctx, cancel := context.WithTimeout(context.Background(), requestTimeout)
				var err error
				if i%2 == 0 {
					err = c.callHTTP(rctx, rand.Uint64())
				} else {
					err = c.callGRPC(rctx, rand.Uint64())
				}
				cancel()
				sent[i%2].Add(1)
				if err != nil {
					failed[i%2].Add(1)
					firstErr.Do(func() { out.Printf("load: %v", err) })
				}
			}
		})
	}
	start := time.Now()
	tick := time.NewTicker(time.Second / time.Duration(rate))
	defer tick.Stop()
	for i := 0; ctx.Err() == nil; i++ {
		select {
		case <-ctx.Done():
		case <-tick.C:
			select {
			case ticks <- i:
			default:
				skipped++
			}
		}
	}
	close(ticks)
	wg.Wait()
	out.Printf("load: %d HTTP and %d gRPC requests in %s (%d and %d failed), %d skipped with all %d workers busy",
		sent[0].Load(), sent[1].Load(), time.Since(start).Round(time.Millisecond),
		failed[0].Load(), failed[1].Load(), skipped, concurrency)
}
