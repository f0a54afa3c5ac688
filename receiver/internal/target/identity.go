// Package target holds what identifies a monitored Go process in everything emitted about it.
//
// The ids derived from it: docs/design.md, "Trace ids".
package target

import (
	"go.opentelemetry.io/collector/pdata/pcommon"

	"github.com/gostitch/gostitch/receiver/internal/metadata"
)

// Identity names one target process.
type Identity struct {
	// Name is the target's name from the config; it becomes service.name.
	Name string
	// PID is the process id, 0 when unknown (offline files).
	PID int
	// Host is the host name the collector runs on.
	Host string
}

// FillResource sets the resource attributes every signal of the target carries.
func (id Identity) FillResource(r pcommon.Resource) {
	attrs := r.Attributes()
	attrs.PutStr(metadata.ResourceServiceName, id.Name)
	if id.PID > 0 {
		attrs.PutInt(metadata.ResourceProcessPID, int64(id.PID))
	}
	if id.Host != "" {
		attrs.PutStr(metadata.ResourceHostName, id.Host)
	}
}

// FillScope names the instrumentation scope and marks which source produced the data.
func FillScope(s pcommon.InstrumentationScope, source string) {
	s.SetName(metadata.ScopeName)
	s.Attributes().PutStr(metadata.AttributeSource, source)
}
