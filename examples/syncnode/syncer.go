package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log"
	"runtime/pprof"
	"runtime/trace"
	"strconv"
	"time"

	oteltrace "go.opentelemetry.io/otel/trace"
	"golang.org/x/sys/unix"

	"github.com/gostitch/gostitch/instrument"
)

// Syncer downloads the chain from its peers and imports it in height order.
//
// Pipeline: one fetch goroutine asks the peers in turn (block h from peer (h-1) mod N, over
// one connection per peer, plain TCP or TLS, redialed after every ReconnectEvery blocks fetched
// over it) for the header, then the block, and hands the job to the
// import goroutine over a channel of Queue jobs. The importer deserializes, verifies (hash
// chain and every signature, VerifyCost times), stores (append, fsync) and broadcasts an
// announce to every peer. A slow peer leaves the importer blocked on an empty channel; a slow
// import fills the channel and leaves the fetcher blocked on a full one.
//
// Each block is one runtime/trace task, importBlock. The fetcher begins it when it starts the
// block's fetch and passes its context along with the job; the importer ends it after the
// broadcast. So the task holds the connect region of a redial (dial and TLS handshake), the
// fetch region, the wait in the queue and the deserialize, verify, store and broadcast regions,
// and logs the block's height and peer address.
//
// Set the exported fields, call Connect, then Run once.
type Syncer struct {
	Genesis    Header        // block 0, known without asking
	Blocks     uint64        // stop after importing this many blocks; 0 = never
	Queue      int           // capacity of the fetch → import channel
	VerifyCost int           // verification passes per block, at least 1
	Interval   time.Duration // pause after each import
	LogEvery   uint64        // progress line every LogEvery blocks; 0 = none
	TLS        *tls.Config   // dial the peers over TLS with this; nil = plain TCP
	// ReconnectEvery redials a peer's connection after this many blocks were fetched over it,
	// so that connects (and TLS handshakes) happen during the sync; 0 = never.
	ReconnectEvery int

	Store   *BlockStore
	Truth   *TruthWriter // nil: no ground truth
	Tracing *Tracing     // nil: no OpenTelemetry
	// LogConn logs the socket cookie of the fetch conn into each import's task (instrument.LogConn),
	// which lets gostitch join the kernel's socket events to the task without guessing.
	LogConn bool
	Stats   *LatencyStats
	Log     *log.Logger

	peers []*peerConn
	jobs  chan *importJob
	prev  Hash // header hash of the last imported block
}

// importJob is one block on its way through the pipeline.
type importJob struct {
	ctx    context.Context // carries the importBlock task and, with OTel, the span
	task   *trace.Task
	span   oteltrace.Span // nil without OTel
	labels []string       // pprof label pairs for all work on this block, msg_type excluded

	height  uint64
	peer    *peerConn
	traceID string // empty without OTel
	spanID  string
	header  []byte   // as fetched
	block   []byte   // as fetched
	cookies []uint64 // the fetch conn's socket cookie, then those the broadcast wrote to
	start   int64    // CLOCK_MONOTONIC ns when the task began, before the fetch
	fetched int64    // CLOCK_MONOTONIC ns when the fetch ended
	dequeue int64    // CLOCK_MONOTONIC ns when the importer took the job
	tid     int      // OS thread that began the fetch
}

// do runs f with the job's pprof labels plus msg_type.
func (j *importJob) do(msg MsgType, f func(ctx context.Context)) {
	pprof.Do(j.ctx, pprof.Labels(append(j.labels, "msg_type", msg.String())...), f)
}

// end closes the job's span and task.
func (j *importJob) end(err error) {
	endSpan(j.span, err)
	j.task.End()
}

// Connect dials every peer address.
func (s *Syncer) Connect(ctx context.Context, addrs []string) error {
	for i, a := range addrs {
		pc, err := dialPeer(ctx, i, a, s.TLS)
		if err != nil {
			s.closeConns()
			return err
		}
		s.peers = append(s.peers, pc)
	}
	return nil
}

func (s *Syncer) closeConns() {
	for _, pc := range s.peers {
		pc.close()
	}
}

// Run syncs until Blocks are imported or ctx ends, then closes the peer connections. It
// returns nil in both cases and an error when a fetch or an import fails.
func (s *Syncer) Run(ctx context.Context) error {
	if len(s.peers) == 0 {
		return errors.New("syncer: no peers connected")
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	defer s.closeConns()
	// Cancellation must interrupt a fetch blocked in a read: closing the conns does that.
	context.AfterFunc(ctx, s.closeConns)

	s.prev = s.Genesis.Hash()
	s.jobs = make(chan *importJob, s.Queue)
	fetchErr := make(chan error, 1)
	go func() { fetchErr <- s.fetchLoop(ctx) }()
	importErr := s.importLoop(ctx)
	cancel()
	for job := range s.jobs { // after an import error: let the fetcher finish
		job.end(context.Canceled)
	}
	return errors.Join(importErr, <-fetchErr)
}

func (s *Syncer) fetchLoop(ctx context.Context) error {
	defer close(s.jobs)
	for h := uint64(1); s.Blocks == 0 || h <= s.Blocks; h++ {
		job, err := s.fetch(ctx, h)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		select {
		case s.jobs <- job:
		case <-ctx.Done():
			job.end(ctx.Err())
			return nil
		}
	}
	return nil
}

// fetch begins block h's task and downloads its header and block.
func (s *Syncer) fetch(ctx context.Context, h uint64) (*importJob, error) {
	pc := s.peers[(h-1)%uint64(len(s.peers))]
	job := &importJob{height: h, peer: pc, tid: unix.Gettid()}
	ctx, job.span = s.Tracing.StartImport(ctx, h, pc.addr)
	// The OTel SDK begins a runtime/trace task per span: name the span there too, so that
	// task joins the span's trace instead of becoming a trace of its own.
	instrument.LogSpan(ctx)
	ctx, job.task = trace.NewTask(ctx, "importBlock")
	job.ctx, job.start = ctx, monoNow()
	height := strconv.FormatUint(h, 10)
	trace.Log(ctx, "height", height)
	trace.Log(ctx, "peer", pc.addr)
	job.labels = []string{"height", height, "peer_id", pc.id}
	if job.span != nil {
		sc := job.span.SpanContext()
		job.traceID, job.spanID = sc.TraceID().String(), sc.SpanID().String()
		trace.Log(ctx, "otel.trace_id", job.traceID)
		trace.Log(ctx, "otel.span_id", job.spanID)
		job.labels = append(job.labels, "otel.trace_id", job.traceID, "otel.span_id", job.spanID)
	}

	var err error
	if s.ReconnectEvery > 0 && pc.fetches >= s.ReconnectEvery {
		pprof.Do(ctx, pprof.Labels(job.labels...), func(ctx context.Context) {
			trace.WithRegion(ctx, "connect", func() { err = pc.redial(ctx) })
		})
	}
	if err == nil {
		job.cookies = []uint64{pc.cookie}
		if s.LogConn {
			if err := instrument.LogConn(ctx, pc.tcp); err != nil {
				s.Log.Printf("block %d: %v", h, err)
			}
		}
		trace.WithRegion(ctx, "fetch", func() {
			job.do(MsgGetHeader, func(context.Context) { job.header, err = pc.request(MsgGetHeader, h, MsgHeader) })
			if err == nil {
				job.do(MsgGetBlock, func(context.Context) { job.block, err = pc.request(MsgGetBlock, h, MsgBlock) })
			}
		})
	}
	if err != nil {
		err = fmt.Errorf("fetching block %d: %w", h, err)
		job.end(err)
		return nil, err
	}
	pc.fetches++
	job.fetched = monoNow()
	return job, nil
}

func (s *Syncer) importLoop(ctx context.Context) error {
	for job := range s.jobs {
		job.dequeue = monoNow()
		if ctx.Err() != nil { // shutting down: drop what is queued
			job.end(ctx.Err())
			continue
		}
		err := s.importBlock(job)
		end := monoNow()
		job.end(err)
		if err != nil {
			if ctx.Err() != nil { // the broadcast met a connection closed by shutdown
				continue
			}
			return fmt.Errorf("importing block %d from peer %s (%s): %w", job.height, job.peer.id, job.peer.addr, err)
		}
		if err := s.record(job, end); err != nil {
			return err
		}
		if s.Interval > 0 {
			_ = sleepCtx(ctx, s.Interval) // on cancellation the next job is dropped
		}
	}
	return nil
}

// importBlock runs the import steps of a fetched block, each in its own region.
func (s *Syncer) importBlock(job *importJob) error {
	var (
		hdr  Header
		blk  *Block
		hash Hash
	)
	steps := []struct {
		region string
		msg    MsgType
		run    func() error
	}{
		{"deserialize", MsgBlock, func() (err error) {
			if hdr, err = UnmarshalHeader(job.header); err == nil {
				blk, err = UnmarshalBlock(job.block)
			}
			return err
		}},
		{"verify", MsgBlock, func() (err error) {
			hash, err = s.verify(job.height, hdr, blk)
			return err
		}},
		{"store", MsgBlock, func() error { return s.Store.Append(job.block) }},
		{"broadcast", MsgAnnounce, func() error { return s.broadcast(job, hash) }},
	}
	for _, st := range steps {
		var err error
		job.do(st.msg, func(ctx context.Context) {
			trace.WithRegion(ctx, st.region, func() { err = st.run() })
		})
		if err != nil {
			return fmt.Errorf("%s: %w", st.region, err)
		}
	}
	s.prev = hash
	return nil
}

// verify checks that the fetched header and block agree and extend the last imported block,
// and returns the header hash.
func (s *Syncer) verify(h uint64, hdr Header, blk *Block) (Hash, error) {
	if hdr.Height != h {
		return Hash{}, fmt.Errorf("asked for height %d, got header %d: %w", h, hdr.Height, ErrProtocol)
	}
	if blk.Header != hdr {
		return Hash{}, fmt.Errorf("block %d: block header differs from the fetched header: %w", h, ErrProtocol)
	}
	for range max(s.VerifyCost, 1) {
		if err := blk.Verify(s.prev); err != nil {
			return Hash{}, err
		}
	}
	return hdr.Hash(), nil
}

// broadcast announces the job's block to every peer and adds the cookies of the other peers'
// connections to the job's.
func (s *Syncer) broadcast(job *importJob, hash Hash) error {
	payload := AppendAnnounce(nil, job.height, hash)
	for _, pc := range s.peers {
		cookie, err := pc.send(MsgAnnounce, payload)
		if err != nil {
			return err
		}
		if pc != job.peer {
			job.cookies = append(job.cookies, cookie)
		}
	}
	return nil
}

// record accounts for an imported block: statistics, ground truth, progress line.
func (s *Syncer) record(job *importJob, end int64) error {
	d := time.Duration(end - job.start)
	s.Stats.Add(d)
	if s.Truth != nil {
		err := s.Truth.Write(TruthRecord{
			Height:      job.height,
			TraceID:     job.traceID,
			SpanID:      job.spanID,
			Peer:        job.peer.addr,
			Cookies:     job.cookies,
			TIDFirst:    job.tid,
			StartMonoNS: job.start,
			EndMonoNS:   end,

			FetchEndMonoNS:    job.fetched,
			ImportStartMonoNS: job.dequeue,
		})
		if err != nil {
			return err
		}
	}
	if s.LogEvery > 0 && job.height%s.LogEvery == 0 {
		s.Log.Printf("imported block %d from peer %s in %.1f ms; queue %d/%d",
			job.height, job.peer.id, float64(d)/1e6, len(s.jobs), cap(s.jobs))
	}
	return nil
}
