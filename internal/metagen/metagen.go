// Package metagen turns the component's metadata.yaml (mdatagen's schema) into the Go
// constants of receiver/internal/metadata and the documentation.md beside metadata.yaml.
// mdatagen itself is not available to this project; this covers the subset gostitch uses.
//
// What it generates and who uses it: docs/design.md, "Output vocabulary".
package metagen

import (
	"bytes"
	"fmt"
	"go/format"
	"os"
	"slices"
	"sort"
	"strings"
	"text/template"

	"gopkg.in/yaml.v3"
)

// Metadata is the part of mdatagen's schema that gostitch uses.
type Metadata struct {
	DisplayName        string               `yaml:"display_name"`
	Type               string               `yaml:"type"`
	ScopeName          string               `yaml:"scope_name"`
	Status             Status               `yaml:"status"`
	ResourceAttributes map[string]Attribute `yaml:"resource_attributes"`
	Attributes         map[string]Attribute `yaml:"attributes"`
	Metrics            map[string]Metric    `yaml:"metrics"`
	Telemetry          struct {
		Metrics map[string]Metric `yaml:"metrics"`
	} `yaml:"telemetry"`
}

// Status is the component's class and the stability of each signal.
type Status struct {
	Class         string              `yaml:"class"`
	Stability     map[string][]string `yaml:"stability"`
	Distributions []string            `yaml:"distributions"`
}

// Attribute describes one attribute key.
type Attribute struct {
	NameOverride string   `yaml:"name_override"`
	Description  string   `yaml:"description"`
	Type         string   `yaml:"type"`
	Enum         []string `yaml:"enum"`
	Enabled      bool     `yaml:"enabled"`
}

// Metric describes one metric; exactly one of Gauge, Sum and Histogram is set.
type Metric struct {
	Enabled     bool     `yaml:"enabled"`
	Description string   `yaml:"description"`
	Unit        string   `yaml:"unit"`
	Gauge       *Data    `yaml:"gauge"`
	Sum         *Data    `yaml:"sum"`
	Histogram   *Data    `yaml:"histogram"`
	Attributes  []string `yaml:"attributes"`
}

// Data is the value shape of a metric.
type Data struct {
	ValueType              string `yaml:"value_type"`
	Monotonic              bool   `yaml:"monotonic"`
	AggregationTemporality string `yaml:"aggregation_temporality"`
}

// Parse decodes and checks metadata.yaml.
func Parse(src []byte) (*Metadata, error) {
	var md Metadata
	dec := yaml.NewDecoder(bytes.NewReader(src))
	dec.KnownFields(true)
	if err := dec.Decode(&md); err != nil {
		return nil, fmt.Errorf("decode metadata.yaml: %w", err)
	}
	if md.Type == "" || md.ScopeName == "" {
		return nil, fmt.Errorf("metadata.yaml: type and scope_name are required")
	}
	for name, m := range md.Metrics {
		if err := m.check(name, md.Attributes); err != nil {
			return nil, err
		}
		if d := m.data(); m.Gauge == nil && d.AggregationTemporality != "delta" && d.AggregationTemporality != "cumulative" {
			return nil, fmt.Errorf("metadata.yaml: metric %q needs aggregation_temporality delta or cumulative", name)
		}
	}
	for name, m := range md.Telemetry.Metrics {
		if err := m.check(name, nil); err != nil {
			return nil, err
		}
		if !m.Enabled {
			return nil, fmt.Errorf("metadata.yaml: telemetry metric %q must be enabled: the collector's telemetry level turns self-telemetry off", name)
		}
		if _, ok := instruments[instrumentKey(m)]; !ok {
			return nil, fmt.Errorf("metadata.yaml: telemetry metric %q has no instrument for %s", name, instrumentKey(m))
		}
	}
	for key, a := range md.Attributes {
		if a.Description == "" || a.Type == "" {
			return nil, fmt.Errorf("metadata.yaml: attribute %q needs a description and a type", key)
		}
	}
	return &md, nil
}

// data is the metric's value shape, whichever of gauge, sum and histogram it is.
func (m Metric) data() *Data {
	switch {
	case m.Gauge != nil:
		return m.Gauge
	case m.Sum != nil:
		return m.Sum
	default:
		return m.Histogram
	}
}

// kind names the metric's shape as the generated code does: Gauge, Sum or Histogram.
func (m Metric) kind() string {
	switch {
	case m.Gauge != nil:
		return "Gauge"
	case m.Sum != nil:
		return "Sum"
	default:
		return "Histogram"
	}
}

// instrumentKey says which OTel instrument records a telemetry metric, e.g. "Sum int monotonic".
func instrumentKey(m Metric) string {
	k := m.kind() + " " + m.data().ValueType
	if m.Sum != nil && m.Sum.Monotonic {
		k += " monotonic"
	}
	return k
}

// instruments maps a telemetry metric's shape to the OTel Go instrument that records it.
var instruments = map[string]string{
	"Sum int monotonic":    "Int64Counter",
	"Sum double monotonic": "Float64Counter",
	"Sum int":              "Int64UpDownCounter",
	"Sum double":           "Float64UpDownCounter",
	"Gauge int":            "Int64Gauge",
	"Gauge double":         "Float64Gauge",
	"Histogram int":        "Int64Histogram",
	"Histogram double":     "Float64Histogram",
}

func (m Metric) check(name string, attrs map[string]Attribute) error {
	shapes := 0
	for _, d := range []*Data{m.Gauge, m.Sum, m.Histogram} {
		if d != nil {
			shapes++
		}
	}
	if shapes != 1 {
		return fmt.Errorf("metadata.yaml: metric %q needs exactly one of gauge, sum, histogram", name)
	}
	if m.Description == "" || m.Unit == "" {
		return fmt.Errorf("metadata.yaml: metric %q needs a description and a unit", name)
	}
	for _, a := range m.Attributes {
		if _, ok := attrs[a]; !ok {
			return fmt.Errorf("metadata.yaml: metric %q names unknown attribute %q", name, a)
		}
	}
	return nil
}

// Generate returns the Go source of package metadata and the text of documentation.md.
func Generate(src []byte) (goSrc, doc []byte, err error) {
	md, err := Parse(src)
	if err != nil {
		return nil, nil, err
	}
	var code bytes.Buffer
	if err := goTemplate.Execute(&code, view(md)); err != nil {
		return nil, nil, fmt.Errorf("render metadata Go source: %w", err)
	}
	goSrc, err = format.Source(code.Bytes())
	if err != nil {
		return nil, nil, fmt.Errorf("format generated Go source: %w\n%s", err, code.Bytes())
	}
	var docBuf bytes.Buffer
	if err := docTemplate.Execute(&docBuf, view(md)); err != nil {
		return nil, nil, fmt.Errorf("render documentation.md: %w", err)
	}
	return goSrc, docBuf.Bytes(), nil
}

type attrView struct {
	GoName, Name, Description, Type string
	Templated                       bool   // the name has a placeholder, like gostitch.time.blocked.<reason>
	Prefix                          string // the fixed part before the placeholder
	Enum                            []enumView
}

type enumView struct{ GoName, Value string }

type metricView struct {
	GoName, Name, Description, Unit, Kind, ValueType, Temporality string
	Monotonic, Enabled                                            bool
	Attributes                                                    []string
	// FieldName is the metric's field in MetricsConfig and TelemetryBuilder; Instrument, the
	// OTel instrument of a telemetry metric.
	FieldName, Instrument string
}

type stabilityView struct{ Signal, Level string }

type mdView struct {
	*Metadata
	Stability     []stabilityView
	ResourceAttrs []attrView
	Attrs         []attrView
	Metrics       []metricView
	TelemetryMets []metricView
}

func view(md *Metadata) mdView {
	v := mdView{Metadata: md}
	for level, signals := range md.Status.Stability {
		for _, s := range signals {
			v.Stability = append(v.Stability, stabilityView{Signal: goName(s), Level: goName(level)})
		}
	}
	sort.Slice(v.Stability, func(i, j int) bool { return v.Stability[i].Signal < v.Stability[j].Signal })
	v.ResourceAttrs = attrViews(md.ResourceAttributes, "Resource")
	v.Attrs = attrViews(md.Attributes, "Attribute")
	v.Metrics = metricViews(md.Metrics, md.Attributes, "Metric")
	v.TelemetryMets = metricViews(md.Telemetry.Metrics, nil, "Telemetry")
	return v
}

func attrViews(attrs map[string]Attribute, prefix string) []attrView {
	var out []attrView
	for _, key := range sortedKeys(attrs) {
		a := attrs[key]
		name := a.NameOverride
		if name == "" {
			name = key
		}
		av := attrView{GoName: prefix + goName(key), Name: name, Description: a.Description, Type: a.Type}
		if i := strings.IndexByte(name, '<'); i >= 0 {
			av.Templated, av.Prefix = true, name[:i]
		}
		for _, e := range a.Enum {
			av.Enum = append(av.Enum, enumView{GoName: av.GoName + goName(e), Value: e})
		}
		out = append(out, av)
	}
	return out
}

func metricViews(metrics map[string]Metric, attrs map[string]Attribute, prefix string) []metricView {
	var out []metricView
	for _, name := range sortedKeys(metrics) {
		m := metrics[name]
		mv := metricView{GoName: prefix + goName(name), FieldName: goName(name), Name: name,
			Description: m.Description, Unit: m.Unit, Kind: m.kind(), Enabled: m.Enabled,
			Instrument: instruments[instrumentKey(m)]}
		d := m.data()
		mv.ValueType, mv.Monotonic, mv.Temporality = d.ValueType, d.Monotonic, d.AggregationTemporality
		for _, a := range m.Attributes {
			n := attrs[a].NameOverride
			if n == "" {
				n = a
			}
			mv.Attributes = append(mv.Attributes, n)
		}
		out = append(out, mv)
	}
	return out
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// goName turns "go.goroutine.count" or "network_peer_address" into "GoGoroutineCount" / "NetworkPeerAddress".
func goName(s string) string {
	var b strings.Builder
	for _, part := range strings.FieldsFunc(s, func(r rune) bool { return r == '.' || r == '_' || r == '-' }) {
		if up, ok := initialisms[part]; ok {
			b.WriteString(up)
			continue
		}
		b.WriteString(strings.ToUpper(part[:1]) + part[1:])
	}
	return b.String()
}

var initialisms = map[string]string{"cpu": "CPU", "gc": "GC", "id": "ID", "io": "IO", "pid": "PID", "rtt": "RTT", "stw": "STW", "tcp": "TCP"}

var funcs = template.FuncMap{"join": strings.Join, "lower": strings.ToLower,
	"quote": func(s string) string { return fmt.Sprintf("%q", s) }, "title": goName}

var goTemplate = template.Must(template.New("go").Funcs(funcs).Parse(`// Code generated by cmd/metagen from metadata.yaml. DO NOT EDIT.

// Package metadata holds the {{.Type}} {{.Status.Class}}'s identity, stability and the names, units and
// descriptions of every attribute and metric it emits.
package metadata

import (
	"errors"
	"fmt"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/otel/metric"
)

var (
	// Type is the component type used in collector configs.
	Type = component.MustNewType({{quote .Type}})
	// ScopeName is the instrumentation scope of everything the {{.Status.Class}} emits.
	ScopeName = {{quote .ScopeName}}
)

// Stability of each signal.
const (
{{- range .Stability}}
	{{.Signal}}Stability = component.StabilityLevel{{.Level}}
{{- end}}
)

// Resource attribute keys.
const (
{{- range .ResourceAttrs}}
	// {{.GoName}}: {{.Description}}
	{{.GoName}} = {{quote .Name}}
{{- end}}
)

// Attribute keys and their enumerated values.
const (
{{- range .Attrs}}
{{- if .Templated}}{{if .Prefix}}
	// {{.GoName}}Prefix starts {{.Name}}: {{.Description}}
	{{.GoName}}Prefix = {{quote .Prefix}}
{{- end}}
{{- else}}
	// {{.GoName}}: {{.Description}}
	{{.GoName}} = {{quote .Name}}
{{- end}}
{{- range .Enum}}
	{{.GoName}} = {{quote .Value}}
{{- end}}
{{- end}}
)

// MetricKind is the data shape of a metric.
type MetricKind int

// Metric shapes.
const (
	Gauge MetricKind = iota + 1
	Sum
	Histogram
)

// MetricInfo names, describes and shapes one metric.
type MetricInfo struct {
	Name        string
	Description string
	Unit        string
	Kind        MetricKind
	// Monotonic and Temporality describe sums (Temporality histograms too).
	Monotonic   bool
	Temporality pmetric.AggregationTemporality
}

// Metrics the {{.Status.Class}} emits.
var (
{{- range .Metrics}}
	{{.GoName}} = MetricInfo{Name: {{quote .Name}}, Description: {{quote .Description}}, Unit: {{quote .Unit}}, Kind: {{.Kind}}
	{{- if .Monotonic}}, Monotonic: true{{end}}
	{{- if .Temporality}}, Temporality: pmetric.AggregationTemporality{{title .Temporality}}{{end}}}
{{- end}}
)

// MetricConfig is one metric's setting in the {{.Status.Class}}'s config: metrics: {<name>: {enabled: false}}.
type MetricConfig struct {
	Enabled bool ` + "`mapstructure:\"enabled\"`" + `
}

// MetricsConfig holds the setting of every metric the {{.Status.Class}} emits.
type MetricsConfig struct {
{{- range .Metrics}}
	{{.FieldName}} MetricConfig ` + "`mapstructure:{{quote .Name}}`" + `
{{- end}}
}

// DefaultMetricsConfig turns on the metrics metadata.yaml enables.
func DefaultMetricsConfig() MetricsConfig {
	return MetricsConfig{
{{- range .Metrics}}
		{{.FieldName}}: MetricConfig{Enabled: {{.Enabled}}},
{{- end}}
	}
}

// Enabled reports whether the config turns on the metric info describes.
func (c MetricsConfig) Enabled(info MetricInfo) bool {
	switch info.Name {
{{- range .Metrics}}
	case {{quote .Name}}:
		return c.{{.FieldName}}.Enabled
{{- end}}
	}
	return false
}

// Self-telemetry metrics of the {{.Status.Class}}.
var (
{{- range .TelemetryMets}}
	{{.GoName}} = MetricInfo{Name: {{quote .Name}}, Description: {{quote .Description}}, Unit: {{quote .Unit}}, Kind: {{.Kind}}
	{{- if .Monotonic}}, Monotonic: true{{end}}}
{{- end}}
)

// TelemetryBuilder holds one instrument per self-telemetry metric.
type TelemetryBuilder struct {
{{- range .TelemetryMets}}
	// {{.FieldName}} records {{.Name}}.
	{{.FieldName}} metric.{{.Instrument}}
{{- end}}
}

// NewTelemetryBuilder creates the self-telemetry instruments on the collector's meter provider.
func NewTelemetryBuilder(set component.TelemetrySettings) (*TelemetryBuilder, error) {
	meter := set.MeterProvider.Meter(ScopeName)
	var tb TelemetryBuilder
	var err, errs error
{{- range .TelemetryMets}}
	tb.{{.FieldName}}, err = meter.{{.Instrument}}({{.GoName}}.Name, metric.WithDescription({{.GoName}}.Description), metric.WithUnit({{.GoName}}.Unit))
	errs = errors.Join(errs, err)
{{- end}}
	if errs != nil {
		return nil, fmt.Errorf("create self-telemetry instruments: %w", errs)
	}
	return &tb, nil
}
`))

var docTemplate = template.Must(template.New("doc").Funcs(funcs).Parse(`[comment]: <> (Code generated by cmd/metagen from metadata.yaml. DO NOT EDIT.)

# {{.DisplayName}}

| | |
| --- | --- |
| type | ` + "`{{.Type}}`" + ` |
| class | {{.Status.Class}} |
| scope | ` + "`{{.ScopeName}}`" + ` |
{{- range .Stability}}
| {{.Signal}} | {{.Level}} |
{{- end}}
{{- if .ResourceAttrs}}

## Resource attributes

| name | type | description |
| --- | --- | --- |
{{- range .ResourceAttrs}}
| ` + "`{{.Name}}`" + ` | {{.Type}} | {{.Description}} |
{{- end}}
{{- end}}
{{- if .Attrs}}

## Attributes

| name | type | values | description |
| --- | --- | --- | --- |
{{- range .Attrs}}
| ` + "`{{.Name}}`" + ` | {{.Type}} | {{range $i, $e := .Enum}}{{if $i}}, {{end}}` + "`{{$e.Value}}`" + `{{end}} | {{.Description}} |
{{- end}}
{{- end}}
{{- if .Metrics}}

## Metrics

Each can be turned off in the {{.Status.Class}}'s config: ` + "`metrics: {<name>: {enabled: false}}`" + `.

| name | enabled | kind | value | unit | attributes | description |
| --- | --- | --- | --- | --- | --- | --- |
{{- range .Metrics}}
| ` + "`{{.Name}}`" + ` | {{.Enabled}} | {{lower .Kind}}{{if .Temporality}} ({{.Temporality}}{{if .Monotonic}}, monotonic{{end}}){{end}} | {{.ValueType}} | ` + "`{{.Unit}}`" + ` | {{join .Attributes ", "}} | {{.Description}} |
{{- end}}
{{- end}}

## Self-telemetry

Reported through the collector's own telemetry.

| name | kind | unit | description |
| --- | --- | --- | --- |
{{- range .TelemetryMets}}
| ` + "`{{.Name}}`" + ` | {{lower .Kind}} | ` + "`{{.Unit}}`" + ` | {{.Description}} |
{{- end}}
`))

// Stale regenerates from the metadata file at mdPath and returns the generated files, of the Go
// file at goPath and the documentation at docPath, whose content differs from what they hold.
func Stale(mdPath, goPath, docPath string) ([]string, error) {
	src, err := os.ReadFile(mdPath)
	if err != nil {
		return nil, err
	}
	wantGo, wantDoc, err := Generate(src)
	if err != nil {
		return nil, err
	}
	var stale []string
	for _, f := range []struct {
		path string
		want []byte
	}{{goPath, wantGo}, {docPath, wantDoc}} {
		got, err := os.ReadFile(f.path)
		if err != nil {
			return nil, err
		}
		if !bytes.Equal(got, f.want) {
			stale = append(stale, f.path)
		}
	}
	return stale, nil
}
