package gostitchreceiver

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componentstatus"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/consumer/xconsumer"
	"go.opentelemetry.io/collector/receiver"
	"go.opentelemetry.io/collector/receiver/receiverhelper"
	"go.uber.org/zap"

	"github.com/gostitch/gostitch/internal/appspans"
	"github.com/gostitch/gostitch/receiver/internal/collect"
	"github.com/gostitch/gostitch/receiver/internal/ebpfsrc"
	"github.com/gostitch/gostitch/receiver/internal/metadata"
	"github.com/gostitch/gostitch/receiver/internal/push"
	"github.com/gostitch/gostitch/receiver/internal/selftel"
	"github.com/gostitch/gostitch/receiver/internal/stitch"
	"github.com/gostitch/gostitch/receiver/internal/target"
)

// hostNameEnv names the environment variable that overrides os.Hostname() as the targets'
// host.name: in a DaemonSet, the node's name from the Downward API (spec.nodeName).
const hostNameEnv = "GOSTITCH_HOST_NAME"

// hostName is the targets' host.name: $GOSTITCH_HOST_NAME when set, else os.Hostname().
func hostName() string {
	if h := os.Getenv(hostNameEnv); h != "" {
		return h
	}
	h, _ := os.Hostname()
	return h
}

// defaultRequestTimeout is added to each scrape's own duration when a target sets no timeout.
const defaultRequestTimeout = 10 * time.Second

// consumers are the next components of each signal; nil when no pipeline of that signal uses the receiver.
type consumers struct {
	traces   consumer.Traces
	metrics  consumer.Metrics
	profiles xconsumer.Profiles
}

// gostitchReceiver is one running receiver: the collection controller, the sources and the emitters.
type gostitchReceiver struct {
	cfg       *Config
	settings  receiver.Settings
	consumers consumers
	obs       obsReports
	tel       *selftel.Telemetry
	// metrics builds the emitted metrics the config turns on.
	metrics metadata.Builder

	converters converters
	ebpf       *ebpfsrc.Source

	controller *collect.Controller
	pushServer *http.Server
	pushDone   chan struct{}
	pushCancel context.CancelFunc // cancels the uploads being converted
	spoolDir   string
	// appSpansWanted releases the services whose app spans are wanted while the receiver runs:
	// those of targets with trace files, and of every target when traces can be pushed.
	appSpansWanted []func()
}

func newReceiver(cfg *Config, set receiver.Settings) (*gostitchReceiver, error) {
	obs, err := newObsReports(set)
	if err != nil {
		return nil, err
	}
	tel, err := selftel.New(set.TelemetrySettings)
	if err != nil {
		return nil, err
	}
	return &gostitchReceiver{cfg: cfg, settings: set, obs: obs, tel: tel, metrics: metadata.NewBuilder(cfg.Metrics),
		converters: converters{m: map[string]*stitch.TraceConverter{}}}, nil
}

// obsReports count what the receiver hands on in the collector's obsreport metrics, with the
// transport the data came by: http (scrapes and uploads), file, or ebpf (the kernel's socket events).
type obsReports struct{ http, file, ebpf *receiverhelper.ObsReport }

func newObsReports(set receiver.Settings) (obsReports, error) {
	newObs := func(transport string) (*receiverhelper.ObsReport, error) {
		obs, err := receiverhelper.NewObsReport(receiverhelper.ObsReportSettings{
			ReceiverID: set.ID, Transport: transport, ReceiverCreateSettings: set})
		if err != nil {
			return nil, fmt.Errorf("create obsreport of transport %s: %w", transport, err)
		}
		return obs, nil
	}
	http, errHTTP := newObs("http")
	file, errFile := newObs("file")
	ebpf, errEBPF := newObs("ebpf")
	return obsReports{http: http, file: file, ebpf: ebpf}, errors.Join(errHTTP, errFile, errEBPF)
}

// of returns the obsreport of a window's origin.
func (o obsReports) of(origin collect.Origin) *receiverhelper.ObsReport {
	if origin == collect.OriginFile {
		return o.file
	}
	return o.http
}

// Start builds the HTTP clients of the targets and starts collecting. When a step fails, what
// the steps before it started is stopped again. The service reports the status: StatusOK when
// Start returns nil, a permanent error otherwise.
func (r *gostitchReceiver) Start(ctx context.Context, host component.Host) (err error) {
	defer func() {
		if err != nil {
			err = errors.Join(err, r.Shutdown(ctx))
		}
	}()
	specs := make([]collect.TargetSpec, 0, len(r.cfg.Targets))
	for _, t := range r.cfg.Targets {
		spec := collect.TargetSpec{Name: t.Name, Endpoint: t.Endpoint, PID: t.PID,
			PprofFiles: t.PprofFiles, TraceFiles: t.TraceFiles, Timeout: t.Timeout}
		if spec.Timeout <= 0 {
			spec.Timeout = defaultRequestTimeout
		}
		if t.Endpoint != "" {
			// The per-request deadline depends on the profile's duration: the client has none of its own.
			clientCfg := t.ClientConfig
			clientCfg.Timeout = 0
			client, err := clientCfg.ToClient(ctx, host.GetExtensions(), r.settings.TelemetrySettings)
			if err != nil {
				return fmt.Errorf("target %q: create HTTP client: %w", t.Name, err)
			}
			spec.Client = client
		}
		specs = append(specs, spec)
	}
	src, err := ebpfsrc.Open(ebpfsrc.Mode(r.cfg.EBPF.Mode), ebpfsrc.Options{ReadWaitThreshold: r.cfg.EBPF.ReadWaitThreshold,
		ReadIdleThreshold: r.cfg.Trace.MinSpanDuration, // a read after a block span's wait names its socket
		RingBufferSize:    r.cfg.EBPF.RingBufferSize, MaxSockets: r.cfg.EBPF.MaxSockets}, r.settings.Logger)
	if err != nil {
		return fmt.Errorf("ebpf.mode is on: %w", err)
	}
	r.ebpf = src
	for _, p := range src.Programs() {
		r.tel.EBPFProgram(ctx, p.Name, p.Err == nil)
	}
	spool, err := os.MkdirTemp("", "gostitch-spool-")
	if err != nil {
		return fmt.Errorf("create spool directory for traces: %w", err)
	}
	r.spoolDir = spool
	hostname := hostName()
	// A scrape wants its target's app spans from its trace's start (OnTraceStart below); trace
	// files and uploads hold tasks of any time, so their targets' spans are wanted throughout.
	for _, t := range r.cfg.Targets {
		if len(t.TraceFiles) > 0 || r.cfg.Push.NetAddr.Endpoint != "" {
			r.appSpansWanted = append(r.appSpansWanted, appspans.Want(t.Name))
		}
	}
	// Scrapes, files and uploads share one cap on the bytes converted at once.
	sink := collect.Capped(r, r.cfg.Limits.MaxConcurrentConversionBytes, r.settings.Logger, r.tel)
	r.controller = collect.New(collect.Settings{
		Interval:         r.cfg.CollectionInterval,
		CPUDuration:      r.cfg.Pprof.CPUDuration,
		TraceDuration:    r.cfg.Trace.Duration,
		TraceBudgetBytes: r.cfg.Trace.BudgetBytes,
		Profiles:         r.cfg.Pprof.Profiles,
		Limits:           r.cfg.Limits,
		SpoolDir:         spool,
		Host:             hostname,
		OnTraceStart:     appspans.Want,
		OnPID:            r.setPIDs,
	}, specs, sink, r.settings.Logger, r.tel)
	r.controller.Start()
	if r.cfg.Push.NetAddr.Endpoint != "" {
		if err := r.startPush(ctx, host, hostname, sink); err != nil {
			return err
		}
	}
	return nil
}

// startPush serves uploads of profiles and traces on push.endpoint, converted through sink.
func (r *gostitchReceiver) startPush(ctx context.Context, host component.Host, hostname string, sink collect.Sink) error {
	targets := make(map[string]target.Identity, len(r.cfg.Targets))
	for _, t := range r.cfg.Targets {
		targets[t.Name] = target.Identity{Name: t.Name, Host: hostname} // the pid comes from the controller
	}
	handler := &push.Handler{
		Targets:  targets,
		PID:      r.controller.PID,
		Sink:     sink,
		Limits:   r.cfg.Limits,
		SpoolDir: r.spoolDir,
		Logger:   r.settings.Logger,
		Tel:      r.tel,
	}
	ln, err := r.cfg.Push.ToListener(ctx)
	if err != nil {
		return fmt.Errorf("push endpoint %s: listen: %w", r.cfg.Push.NetAddr.Endpoint, err)
	}
	srv, err := r.cfg.Push.ToServer(ctx, host.GetExtensions(), r.settings.TelemetrySettings, handler)
	if err != nil {
		ln.Close()
		return fmt.Errorf("push endpoint %s: %w", r.cfg.Push.NetAddr.Endpoint, err)
	}
	// Uploads are converted under a context Shutdown cancels, as well as when their client leaves.
	base, cancel := context.WithCancel(context.Background())
	srv.BaseContext = func(net.Listener) context.Context { return base }
	r.pushServer, r.pushDone, r.pushCancel = srv, make(chan struct{}), cancel
	r.settings.Logger.Info("Accepting pushed profiles and traces", zap.String("endpoint", ln.Addr().String()))
	go func() {
		defer close(r.pushDone)
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			componentstatus.ReportStatus(host, componentstatus.NewFatalErrorEvent(fmt.Errorf("push endpoint: %w", err)))
		}
	}()
	return nil
}

// Shutdown stops the push endpoint and collecting, cancelling the conversions in flight, then
// detaches the eBPF programs and removes the spool directory: whatever Start got to. It returns
// by ctx's deadline; windows still converting then release the eBPF programs and the spool
// directory when they end. A second call does nothing.
func (r *gostitchReceiver) Shutdown(ctx context.Context) error {
	var errs []error
	if r.pushServer != nil {
		r.pushCancel()
		errs = append(errs, r.pushServer.Shutdown(ctx))
		<-r.pushDone
		r.pushServer = nil
	}
	if r.controller != nil {
		err := r.controller.Shutdown(ctx)
		done := r.controller.Done()
		r.controller = nil
		if err != nil {
			go func() {
				<-done
				if err := r.release(); err != nil {
					r.settings.Logger.Warn("Cannot release the receiver's resources after shutdown", zap.Error(err))
				}
			}()
			return errors.Join(append(errs, err)...)
		}
	}
	return errors.Join(append(errs, r.release())...)
}

// release lets go of the app spans wanted throughout, detaches the eBPF programs and removes
// the spool directory.
func (r *gostitchReceiver) release() error {
	for _, release := range r.appSpansWanted {
		release()
	}
	err := errors.Join(r.ebpf.Close(), os.RemoveAll(r.spoolDir))
	r.ebpf, r.spoolDir, r.appSpansWanted = nil, "", nil
	return err
}
