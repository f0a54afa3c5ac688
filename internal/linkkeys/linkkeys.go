// Package linkkeys holds the keys by which an application links its work to OTel spans and
// sockets: runtime/trace log categories and pprof label keys that instrument writes and the
// receiver reads. It depends on nothing, so instrument can use it.
package linkkeys

const (
	// TraceID is an OTel trace id in 32 hex digits.
	TraceID = "otel.trace_id"
	// SpanID is an OTel span id in 16 hex digits.
	SpanID = "otel.span_id"
	// Traceparent is a W3C traceparent header value: version-traceid-spanid-flags.
	Traceparent = "traceparent"
	// SocketCookie is a socket's SO_COOKIE in decimal.
	SocketCookie = "net.sock.cookie"
)
