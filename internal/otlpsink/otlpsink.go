// Package otlpsink is an OTLP/gRPC trace receiver for tests: the real protocol, served by pdata's
// ptraceotlp on a loopback port, handing each request's traces to the test.
package otlpsink

import (
	"context"
	"net"
	"testing"

	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"google.golang.org/grpc"
)

// Start serves OTLP traces over gRPC on a loopback port until the test ends and returns its
// address; each request's traces go to next, whose error is the request's.
func Start(t testing.TB, next func(context.Context, ptrace.Traces) error) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("otlpsink: listen: %v", err)
	}
	srv := grpc.NewServer()
	ptraceotlp.RegisterGRPCServer(srv, &server{next: next})
	done := make(chan struct{})
	go func() { defer close(done); _ = srv.Serve(ln) }()
	t.Cleanup(func() { srv.Stop(); <-done })
	return ln.Addr().String()
}

type server struct {
	ptraceotlp.UnimplementedGRPCServer
	next func(context.Context, ptrace.Traces) error
}

// Export implements ptraceotlp.GRPCServer.
func (s *server) Export(ctx context.Context, req ptraceotlp.ExportRequest) (ptraceotlp.ExportResponse, error) {
	return ptraceotlp.NewExportResponse(), s.next(ctx, req.Traces())
}
