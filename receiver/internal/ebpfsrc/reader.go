package ebpfsrc

import (
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/cilium/ebpf/ringbuf"
	"go.uber.org/zap"
)

// syncTimeout bounds how long Collect waits for the reader to catch up with the ring buffer.
const syncTimeout = time.Second

// readerPoll is how often the reader looks at the ring buffer: the programs wake it only once
// the ring is a quarter full.
const readerPoll = 50 * time.Millisecond

// read decodes ring-buffer records into the targets' pending events until the reader closes.
func (s *Source) read() {
	defer close(s.readerDone)
	var rec ringbuf.Record
	for {
		s.rd.SetDeadline(time.Now().Add(readerPoll))
		err := s.rd.ReadInto(&rec)
		for err == nil {
			s.add(rec.RawSample)
			err = s.rd.ReadInto(&rec)
		}
		switch {
		case errors.Is(err, os.ErrDeadlineExceeded):
		case errors.Is(err, ringbuf.ErrFlushed):
			select {
			case s.flushed <- struct{}{}:
			default:
			}
		case errors.Is(err, ringbuf.ErrClosed):
			return
		default:
			s.logger.Error("eBPF ring buffer reader stopped", zap.Error(err))
			return
		}
	}
}

func (s *Source) add(raw []byte) {
	r, err := decodeRecord(raw)
	s.mu.Lock()
	defer s.mu.Unlock()
	if err != nil {
		s.lostUser++
		s.logger.Debug("malformed eBPF socket record", zap.Error(err))
		return
	}
	if !s.pids[r.PID] {
		return
	}
	if len(s.pending[r.PID]) >= s.opts.MaxPending {
		s.lostUser++
		return
	}
	s.pending[r.PID] = append(s.pending[r.PID], r)
}

// sync returns once the reader has taken every record submitted before the call.
func (s *Source) sync() error {
	s.flushMu.Lock()
	defer s.flushMu.Unlock()
	select {
	case <-s.flushed: // left over from a sync that timed out
	default:
	}
	if err := s.rd.Flush(); err != nil {
		return fmt.Errorf("flush ring buffer: %w", err)
	}
	select {
	case <-s.flushed:
		return nil
	case <-s.readerDone:
		return errors.New("ring buffer reader stopped")
	case <-time.After(syncTimeout):
		return fmt.Errorf("ring buffer reader did not catch up within %s", syncTimeout)
	}
}
