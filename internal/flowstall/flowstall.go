// Package flowstall drives real gRPC server streams into HTTP/2 flow-control stalls, for the
// tests that check gostitch names such waits: a server on loopback streams chunks as fast as it
// can, each stream a runtime/trace task "sendChunks", to a client whose stream and connection
// windows are at gRPC's minimum (64 KiB) and which reads the slow streams with a pause before
// each message. The server's sends then wait in grpc-go's transport for write quota, which comes
// back only as the client's window updates let the data out. No protoc: the service is a
// hand-written grpc.ServiceDesc with one server-streaming method and a codec of raw bytes.
package flowstall

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"runtime/trace"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

// TaskType is the runtime/trace task type of one server stream.
const TaskType = "sendChunks"

// window is gRPC's smallest flow-control window: smaller settings are ignored.
const window = 64 << 10

// Config says what Run streams.
type Config struct {
	// Streams is the number of streams, one after the other; the last Slow of them are read
	// slowly.
	Streams, Slow int
	// Chunks is the number of messages of ChunkSize bytes each stream sends.
	Chunks, ChunkSize int
	// ReadDelay is the client's pause before each read of a slow stream.
	ReadDelay time.Duration
}

// Run serves the streams of cfg on a loopback listener and reads them, returning once all have
// been read in full.
func Run(ctx context.Context, cfg Config) error {
	if cfg.Streams < 1 || cfg.Slow < 0 || cfg.Slow > cfg.Streams || cfg.Chunks < 1 || cfg.ChunkSize < 1 {
		return fmt.Errorf("flowstall: config %+v: want Streams ≥ 1, 0 ≤ Slow ≤ Streams, Chunks and ChunkSize ≥ 1", cfg)
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return fmt.Errorf("flowstall: listen: %w", err)
	}
	srv := grpc.NewServer(grpc.ForceServerCodec(rawCodec{}),
		grpc.InitialWindowSize(window), grpc.InitialConnWindowSize(window))
	srv.RegisterService(&serviceDesc, nil)
	served := make(chan error, 1)
	go func() { served <- srv.Serve(lis) }()
	defer func() {
		srv.Stop()
		<-served
	}()
	conn, err := grpc.NewClient(lis.Addr().String(),
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithInitialWindowSize(window), grpc.WithInitialConnWindowSize(window),
		grpc.WithDefaultCallOptions(grpc.ForceCodec(rawCodec{})))
	if err != nil {
		return fmt.Errorf("flowstall: client for %s: %w", lis.Addr(), err)
	}
	defer conn.Close()
	for i := range cfg.Streams {
		delay := time.Duration(0)
		if i >= cfg.Streams-cfg.Slow {
			delay = cfg.ReadDelay
		}
		if err := readStream(ctx, conn, cfg.Chunks, cfg.ChunkSize, delay); err != nil {
			return fmt.Errorf("flowstall: stream %d: %w", i, err)
		}
	}
	return nil
}

// readStream asks for chunks chunks of size bytes and reads them, pausing delay before each.
func readStream(ctx context.Context, conn *grpc.ClientConn, chunks, size int, delay time.Duration) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	st, err := conn.NewStream(ctx, &serviceDesc.Streams[0], "/"+serviceDesc.ServiceName+"/"+serviceDesc.Streams[0].StreamName)
	if err != nil {
		return fmt.Errorf("open: %w", err)
	}
	req := binary.BigEndian.AppendUint32(binary.BigEndian.AppendUint32(nil, uint32(chunks)), uint32(size))
	if err := st.SendMsg(&req); err != nil {
		return fmt.Errorf("send request: %w", err)
	}
	if err := st.CloseSend(); err != nil {
		return fmt.Errorf("close send: %w", err)
	}
	for n := 0; ; n++ {
		if delay > 0 {
			time.Sleep(delay)
		}
		var chunk []byte
		err := st.RecvMsg(&chunk)
		if errors.Is(err, io.EOF) {
			if n != chunks {
				return fmt.Errorf("got %d chunks, want %d", n, chunks)
			}
			return nil
		}
		if err != nil {
			return fmt.Errorf("receive chunk %d: %w", n, err)
		}
	}
}

// serviceDesc is the service: one method that streams the chunks a request asks for.
var serviceDesc = grpc.ServiceDesc{
	ServiceName: "flowstall.Chunks",
	HandlerType: (*any)(nil),
	Streams: []grpc.StreamDesc{{
		StreamName:    "Stream",
		Handler:       sendChunks,
		ServerStreams: true,
	}},
}

// sendChunks serves one stream as a runtime/trace task: it reads the request (chunk count and
// size, big-endian uint32s) and sends the chunks as fast as the transport takes them.
func sendChunks(_ any, st grpc.ServerStream) error {
	_, task := trace.NewTask(st.Context(), TaskType)
	defer task.End()
	var req []byte
	if err := st.RecvMsg(&req); err != nil {
		return fmt.Errorf("receive request: %w", err)
	}
	if len(req) != 8 {
		return fmt.Errorf("request of %d bytes, want 8", len(req))
	}
	chunks, size := binary.BigEndian.Uint32(req), binary.BigEndian.Uint32(req[4:])
	if size > 1<<20 {
		return fmt.Errorf("chunk size %d over 1 MiB", size)
	}
	chunk := make([]byte, size)
	for i := range chunks {
		if err := st.SendMsg(&chunk); err != nil {
			return fmt.Errorf("send chunk %d: %w", i, err)
		}
	}
	return nil
}

// rawCodec sends a *[]byte as it is.
type rawCodec struct{}

func (rawCodec) Name() string { return "flowstall-raw" }

func (rawCodec) Marshal(v any) ([]byte, error) {
	b, ok := v.(*[]byte)
	if !ok {
		return nil, fmt.Errorf("flowstall codec: marshal %T, want *[]byte", v)
	}
	return *b, nil
}

func (rawCodec) Unmarshal(data []byte, v any) error {
	b, ok := v.(*[]byte)
	if !ok {
		return fmt.Errorf("flowstall codec: unmarshal into %T, want *[]byte", v)
	}
	*b = append((*b)[:0], data...)
	return nil
}
