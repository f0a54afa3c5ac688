package pprofsrc

import (
	"slices"
	"strings"

	"github.com/gostitch/gostitch/receiver/internal/metadata"
)

// metricSpec says which sample type of a kind of profile feeds which metric.
type metricSpec struct {
	sampleType string
	info       metadata.MetricInfo
	// seconds: the sample type is a duration, emitted as a double in seconds.
	seconds bool
	// typed: data points carry gostitch.profile.type (block and mutex share a metric).
	typed bool
}

// kindMetrics lists the metrics each kind of profile feeds.
var kindMetrics = map[string][]metricSpec{
	metadata.AttributeProfileTypeCPU: {
		{sampleType: "cpu", info: metadata.MetricGostitchCPUTime, seconds: true},
	},
	metadata.AttributeProfileTypeHeap: {
		{sampleType: "inuse_space", info: metadata.MetricGoMemoryUsed},
	},
	metadata.AttributeProfileTypeAllocs: {
		{sampleType: "alloc_space", info: metadata.MetricGostitchMemoryAllocated},
		{sampleType: "alloc_objects", info: metadata.MetricGostitchMemoryAllocations},
	},
	metadata.AttributeProfileTypeGoroutine: {
		{sampleType: "goroutine", info: metadata.MetricGoGoroutineCount},
	},
	metadata.AttributeProfileTypeBlock: {
		{sampleType: "delay", info: metadata.MetricGostitchContentionDelay, seconds: true, typed: true},
	},
	metadata.AttributeProfileTypeMutex: {
		{sampleType: "delay", info: metadata.MetricGostitchContentionDelay, seconds: true, typed: true},
	},
}

// inferKind names the kind of a profile from its sample types, for profiles that arrive without
// one (files). It returns "" when the kind cannot be told; such profiles feed no metric.
func inferKind(p *pprofData) string {
	has := func(t string) bool {
		return slices.ContainsFunc(p.sampleTypes, func(v valueType) bool { return p.str(v.typ) == t })
	}
	switch {
	case has("cpu"):
		return metadata.AttributeProfileTypeCPU
	case has("alloc_space") && strings.HasPrefix(p.str(p.defaultSampleType), "alloc_"):
		return metadata.AttributeProfileTypeAllocs
	case has("inuse_space"):
		return metadata.AttributeProfileTypeHeap
	case has("goroutine"):
		return metadata.AttributeProfileTypeGoroutine
	case has("contentions") && has("delay"):
		return contentionKind(p)
	}
	return ""
}

// contentionKind tells a mutex profile from a block profile, which have the same sample types:
// the runtime records mutex contention where the lock is released, so mutex profiles have
// unlocks (or runtime._LostContendedRuntimeLock) as leaf frames, and block profiles, which record
// where goroutines blocked, never do. Without samples there is no telling.
func contentionKind(p *pprofData) string {
	if len(p.samples) == 0 {
		return ""
	}
	for _, s := range p.samples {
		if isUnlock(p.leafFunction(s)) {
			return metadata.AttributeProfileTypeMutex
		}
	}
	return metadata.AttributeProfileTypeBlock
}

// isUnlock reports whether a function of the given name releases a lock.
func isUnlock(name string) bool {
	return strings.HasSuffix(strings.ToLower(name), "unlock") || name == "runtime._LostContendedRuntimeLock"
}
