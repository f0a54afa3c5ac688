package main

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"net"
	"net/http"
	"strconv"
	"sync"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc"
	grpccodes "google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

const (
	digestRounds = 16      // SHA-256 passes over the backend's reply per request (~50µs)
	lockedRounds = 400     // SHA-256 passes under the shared lock with -lock (~100µs)
	garbageChunk = 4 << 10 // -gc-pressure allocates in chunks of this many bytes...
	garbageBytes = 1 << 20 // ...up to this many per request
)

// service is what both servers call: the request's work, in the request's span context.
type service struct {
	tracer trace.Tracer
	pool   *backendPool
	// backendAttrs describe the backend on the fetch span.
	backendAttrs []attribute.KeyValue
	lock         bool
	gcPressure   bool

	mu    sync.Mutex
	table [256]uint64 // with -lock: how many digests began with each byte, under mu
}

// work answers key: it fetches the key's value from the backend, digests it, and with -lock
// and -gc-pressure records the digest under the shared lock and makes garbage.
func (s *service) work(ctx context.Context, key uint64) ([sha256.Size]byte, error) {
	reply := make([]byte, replySize)
	if err := s.fetch(ctx, key, reply); err != nil {
		return [sha256.Size]byte{}, err
	}
	sum := sha256.Sum256(reply)
	for range digestRounds - 1 {
		copy(reply, sum[:])
		sum = sha256.Sum256(reply)
	}
	if s.lock {
		s.record(sum)
	}
	if s.gcPressure {
		sum[0] ^= makeGarbage(garbageChunk, garbageBytes)
	}
	return sum, nil
}

// fetch reads key's value from the backend inside a client span, as a database or cache
// client library's instrumentation would.
func (s *service) fetch(ctx context.Context, key uint64, buf []byte) error {
	_, span := s.tracer.Start(ctx, "backend fetch", trace.WithSpanKind(trace.SpanKindClient), trace.WithAttributes(s.backendAttrs...))
	defer span.End()
	if err := s.pool.fetch(key, buf); err != nil {
		span.RecordError(err)
		span.SetStatus(codes.Error, err.Error())
		return err
	}
	return nil
}

// peerAttributes describes the backend at addr (host:port) in semantic-convention attributes.
func peerAttributes(addr string) []attribute.KeyValue {
	attrs := []attribute.KeyValue{semconv.NetworkTransportTCP}
	if host, port, err := net.SplitHostPort(addr); err == nil {
		attrs = append(attrs, semconv.ServerAddress(host))
		if p, err := strconv.Atoi(port); err == nil {
			attrs = append(attrs, semconv.ServerPort(p))
		}
	}
	return attrs
}

// record counts sum in the shared table, rehashing it under the lock so that concurrent
// requests wait for each other.
func (s *service) record(sum [sha256.Size]byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for range lockedRounds {
		sum = sha256.Sum256(sum[:])
	}
	s.table[sum[0]]++
}

// makeGarbage allocates total bytes in chunks that die at once, and returns a byte of them so
// that the work is not optimized away.
func makeGarbage(chunk, total int) byte {
	chunks := make([][]byte, 0, total/chunk)
	for range total / chunk {
		b := make([]byte, chunk)
		b[len(chunks)%chunk] = byte(len(chunks))
		chunks = append(chunks, b)
	}
	var x byte
	for i, b := range chunks {
		x ^= b[i%chunk]
	}
	return x
}

// httpHandler serves GET /work?key=K (K a decimal uint64) with the hex digest of K's value.
func (s *service) httpHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /work", func(w http.ResponseWriter, r *http.Request) {
		key, err := strconv.ParseUint(r.URL.Query().Get("key"), 10, 64)
		if err != nil {
			http.Error(w, "key must be a decimal uint64", http.StatusBadRequest)
			return
		}
		sum, err := s.work(r.Context(), key)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		w.Header().Set("Content-Type", "text/plain")
		_, _ = w.Write([]byte(hex.EncodeToString(sum[:]) + "\n"))
	})
	return mux
}

// The gRPC service otelapp.Work, defined by hand (no .proto file, no generated code): one unary
// method Do taking the key as 8 big-endian bytes and answering its digest, both in protobuf's
// well-known BytesValue message.
const workDoMethod = "/otelapp.Work/Do"

type workServer interface {
	Do(context.Context, *wrapperspb.BytesValue) (*wrapperspb.BytesValue, error)
}

var workServiceDesc = grpc.ServiceDesc{
	ServiceName: "otelapp.Work",
	HandlerType: (*workServer)(nil),
	Methods:     []grpc.MethodDesc{{MethodName: "Do", Handler: workDoHandler}},
}

func workDoHandler(srv any, ctx context.Context, dec func(any) error, interceptor grpc.UnaryServerInterceptor) (any, error) {
	in := new(wrapperspb.BytesValue)
	if err := dec(in); err != nil {
		return nil, err
	}
	do := func(ctx context.Context, req any) (any, error) {
		return srv.(workServer).Do(ctx, req.(*wrapperspb.BytesValue))
	}
	if interceptor == nil {
		return do(ctx, in)
	}
	return interceptor(ctx, in, &grpc.UnaryServerInfo{Server: srv, FullMethod: workDoMethod}, do)
}

// Do implements workServer.
func (s *service) Do(ctx context.Context, in *wrapperspb.BytesValue) (*wrapperspb.BytesValue, error) {
	if len(in.GetValue()) != 8 {
		return nil, status.Error(grpccodes.InvalidArgument, "key must be 8 big-endian bytes")
	}
	sum, err := s.work(ctx, binary.BigEndian.Uint64(in.GetValue()))
	if err != nil {
		return nil, status.Error(grpccodes.Unavailable, err.Error())
	}
	return wrapperspb.Bytes(sum[:]), nil
}
