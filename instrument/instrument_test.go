package instrument

import (
	"bytes"
	"context"
	"io"
	"net"
	"runtime/pprof"
	"runtime/trace"
	"strconv"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	oteltrace "go.opentelemetry.io/otel/trace"
	xtrace "golang.org/x/exp/trace"
	"golang.org/x/sys/unix"
)

func loopbackPair(t *testing.T) (client, server *net.TCPConn) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer l.Close()
	c, err := net.Dial("tcp", l.Addr().String())
	require.NoError(t, err)
	s, err := l.Accept()
	require.NoError(t, err)
	t.Cleanup(func() { c.Close(); s.Close() })
	return c.(*net.TCPConn), s.(*net.TCPConn)
}

func TestSocketCookieMatchesTheKernel(t *testing.T) {
	c, s := loopbackPair(t)
	for _, conn := range []*net.TCPConn{c, s} {
		got, err := SocketCookie(conn)
		require.NoError(t, err)
		raw, _ := conn.SyscallConn()
		var want uint64
		require.NoError(t, raw.Control(func(fd uintptr) { want, err = unix.GetsockoptUint64(int(fd), unix.SOL_SOCKET, unix.SO_COOKIE) }))
		require.NoError(t, err)
		assert.Equal(t, want, got)
		assert.NotZero(t, got)
	}
	cc, _ := SocketCookie(c)
	sc, _ := SocketCookie(s)
	assert.NotEqual(t, cc, sc, "each end is its own socket")
}

func TestLogsLandInTheTask(t *testing.T) {
	c, _ := loopbackPair(t)
	cookie, err := SocketCookie(c)
	require.NoError(t, err)
	span := oteltrace.NewSpanContext(oteltrace.SpanContextConfig{
		TraceID: oteltrace.TraceID{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16},
		SpanID:  oteltrace.SpanID{1, 2, 3, 4, 5, 6, 7, 8}, TraceFlags: oteltrace.FlagsSampled,
	})
	ctx := oteltrace.ContextWithSpanContext(context.Background(), span)

	var buf bytes.Buffer
	require.NoError(t, trace.Start(&buf))
	ctx, task := trace.NewTask(ctx, "importBlock")
	require.NoError(t, LogConn(ctx, c))
	LogSpan(ctx)
	var labels map[string]string
	Do(ctx, func(ctx context.Context) {
		labels = map[string]string{}
		pprof.ForLabels(ctx, func(k, v string) bool { labels[k] = v; return true })
	})
	task.End()
	trace.Stop()

	logs := map[string]string{}
	r, err := xtrace.NewReader(&buf)
	require.NoError(t, err)
	for {
		ev, err := r.ReadEvent()
		if err == io.EOF {
			break
		}
		require.NoError(t, err)
		if ev.Kind() == xtrace.EventLog && ev.Log().Task != xtrace.NoTask {
			logs[ev.Log().Category] = ev.Log().Message
		}
	}
	assert.Equal(t, map[string]string{
		KeySocketCookie: strconv.FormatUint(cookie, 10),
		KeyTraceID:      "0102030405060708090a0b0c0d0e0f10",
		KeySpanID:       "0102030405060708",
	}, logs)
	assert.Equal(t, map[string]string{KeyTraceID: "0102030405060708090a0b0c0d0e0f10", KeySpanID: "0102030405060708"}, labels)
}

func TestNoSpanNoLabels(t *testing.T) {
	called := false
	Do(context.Background(), func(ctx context.Context) {
		called = true
		_, ok := pprof.Label(ctx, KeyTraceID)
		assert.False(t, ok)
	})
	assert.True(t, called)
	LogSpan(context.Background()) // no span: nothing to log, no panic
}
