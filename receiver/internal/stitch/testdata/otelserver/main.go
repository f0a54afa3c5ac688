// Command otelserver is an ordinary OTel-instrumented Go server for the stitch tests of
// connections that carry requests: an HTTP/1.1 server (otelhttp) and a gRPC server (otelgrpc
// stats handler) on loopback, with net/http/pprof on a third listener, and no gostitch code,
// loaded by its own clients (load.go) until its stdin closes.
// Its tracer provider samples every span, so while an execution trace runs the OTel SDK begins
// a runtime/trace task for each server span. It prints "http ADDR grpc ADDR pprof ADDR" once it
// serves, and writes one JSON line of ground truth per request to -truth: the protocol, the
// client's port, the handler's goroutine and its CLOCK_MONOTONIC start and end.
package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"runtime"
	"strconv"
	"sync"

	"go.opentelemetry.io/contrib/instrumentation/google.golang.org/grpc/otelgrpc"
	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"golang.org/x/sys/unix"
	"google.golang.org/grpc"
	"google.golang.org/grpc/peer"
)

// truth is one request as the handler saw it.
type truth struct {
	Proto       string `json:"proto"`
	ClientPort  int    `json:"client_port"`
	Goroutine   uint64 `json:"goroutine"`
	StartMonoNS int64  `json:"start_mono_ns"`
	EndMonoNS   int64  `json:"end_mono_ns"`
}

type truthLog struct {
	mu  sync.Mutex
	enc *json.Encoder
}

func (l *truthLog) write(t truth) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.enc.Encode(t); err != nil {
		log.Fatal(err)
	}
}

func mono() int64 {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts); err != nil {
		log.Fatal(err)
	}
	return ts.Nano()
}

// goroutineID parses the running goroutine's id from its stack header ("goroutine 12 [running]:").
func goroutineID() uint64 {
	var buf [64]byte
	b := buf[:runtime.Stack(buf[:], false)]
	b = bytes.TrimPrefix(b, []byte("goroutine "))
	id, err := strconv.ParseUint(string(b[:bytes.IndexByte(b, ' ')]), 10, 64)
	if err != nil {
		log.Fatal(err)
	}
	return id
}

func portOf(addr string) int {
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		log.Fatal(err)
	}
	p, _ := strconv.Atoi(port)
	return p
}

// work hashes b a few times: the CPU a handler spends on a request.
func work(b []byte) []byte {
	sum := sha256.Sum256(b)
	for range 2000 {
		sum = sha256.Sum256(sum[:])
	}
	return sum[:]
}

// bytesCodec carries raw bytes as gRPC messages: no protobuf needed.
type bytesCodec struct{}

func (bytesCodec) Name() string { return "bytes" }

func (bytesCodec) Marshal(v any) ([]byte, error) {
	b, ok := v.(*[]byte)
	if !ok {
		return nil, fmt.Errorf("bytes codec: marshal %T", v)
	}
	return *b, nil
}

func (bytesCodec) Unmarshal(data []byte, v any) error {
	b, ok := v.(*[]byte)
	if !ok {
		return fmt.Errorf("bytes codec: unmarshal into %T", v)
	}
	*b = append((*b)[:0], data...)
	return nil
}

// echoServer is the gRPC service's implementation type.
type echoServer interface{}

// echoDesc is the service gostitch.test.Echo, method Echo: a unary call of raw bytes.
func echoDesc(tl *truthLog) *grpc.ServiceDesc {
	return &grpc.ServiceDesc{
		ServiceName: "gostitch.test.Echo",
		HandlerType: (*echoServer)(nil),
		Methods: []grpc.MethodDesc{{
			MethodName: "Echo",
			Handler: func(_ any, ctx context.Context, dec func(any) error, _ grpc.UnaryServerInterceptor) (any, error) {
				t := truth{Proto: "grpc", Goroutine: goroutineID(), StartMonoNS: mono()}
				if p, ok := peer.FromContext(ctx); ok {
					t.ClientPort = portOf(p.Addr.String())
				}
				var in []byte
				if err := dec(&in); err != nil {
					return nil, err
				}
				out := work(in)
				t.EndMonoNS = mono()
				tl.write(t)
				return &out, nil
			},
		}},
	}
}

func main() {
	httpAddr := flag.String("http", "127.0.0.1:0", "HTTP/1.1 listen address")
	grpcAddr := flag.String("grpc", "127.0.0.1:0", "gRPC listen address")
	pprofAddr := flag.String("pprof", "127.0.0.1:0", "net/http/pprof listen address")
	truthPath := flag.String("truth", "", "file for one JSON line per request")
	var load loadConfig
	flag.IntVar(&load.httpClients, "http-clients", 8, "concurrent HTTP/1.1 clients, one keep-alive connection each")
	flag.IntVar(&load.httpBody, "http-body", 256<<10, "bytes per HTTP request body")
	flag.IntVar(&load.grpcConns, "grpc-conns", 2, "gRPC client connections")
	flag.IntVar(&load.grpcStreams, "grpc-streams", 8, "concurrent calls per gRPC connection")
	flag.IntVar(&load.grpcMessage, "grpc-message", 64<<10, "bytes per gRPC request")
	flag.Parse()

	f, err := os.Create(*truthPath)
	if err != nil {
		log.Fatal(err)
	}
	defer f.Close()
	tl := &truthLog{enc: json.NewEncoder(f)}
	tp := sdktrace.NewTracerProvider(sdktrace.WithSampler(sdktrace.AlwaysSample()))

	mux := http.NewServeMux()
	mux.HandleFunc("POST /upload", func(w http.ResponseWriter, r *http.Request) {
		t := truth{Proto: "http", ClientPort: portOf(r.RemoteAddr), Goroutine: goroutineID(), StartMonoNS: mono()}
		body, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		_, _ = w.Write(work(body))
		t.EndMonoNS = mono()
		tl.write(t)
	})
	httpLn := listen(*httpAddr)
	go serve(&http.Server{Handler: otelhttp.NewHandler(mux, "upload", otelhttp.WithTracerProvider(tp))}, httpLn)

	gs := grpc.NewServer(grpc.ForceServerCodec(bytesCodec{}),
		grpc.StatsHandler(otelgrpc.NewServerHandler(otelgrpc.WithTracerProvider(tp))))
	gs.RegisterService(echoDesc(tl), nil)
	grpcLn := listen(*grpcAddr)
	go func() {
		if err := gs.Serve(grpcLn); err != nil {
			log.Fatal(err)
		}
	}()

	pm := http.NewServeMux()
	pm.HandleFunc("/debug/pprof/", pprof.Index)
	pm.HandleFunc("/debug/pprof/profile", pprof.Profile)
	pm.HandleFunc("/debug/pprof/trace", pprof.Trace)
	pprofLn := listen(*pprofAddr)
	go serve(&http.Server{Handler: pm}, pprofLn)

	ctx, stop := context.WithCancel(context.Background())
	done := load.run(ctx, httpLn.Addr().String(), grpcLn.Addr().String())
	fmt.Printf("http %s grpc %s pprof %s\n", httpLn.Addr(), grpcLn.Addr(), pprofLn.Addr())
	_, _ = io.Copy(io.Discard, os.Stdin) // until the test closes stdin
	stop()
	done.Wait()
	gs.Stop()
}

func listen(addr string) net.Listener {
	ln, err := net.Listen("tcp4", addr)
	if err != nil {
		log.Fatal(err)
	}
	return ln
}

func serve(s *http.Server, ln net.Listener) {
	if err := s.Serve(ln); err != nil {
		log.Fatal(err)
	}
}
