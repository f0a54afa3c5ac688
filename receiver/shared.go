package gostitchreceiver

import (
	"context"
	"sync"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/receiver"
)

// sharedInstances maps a config to its one running receiver.
type sharedInstances struct {
	mu sync.Mutex
	m  map[*Config]*sharedInstance
}

func newSharedInstances() *sharedInstances {
	return &sharedInstances{m: map[*Config]*sharedInstance{}}
}

// sharedInstance is the component handed to every pipeline: the first Start starts the
// receiver, the first Shutdown stops it and forgets the config.
type sharedInstance struct {
	receiver  *gostitchReceiver
	owner     *sharedInstances
	cfg       *Config
	startOnce sync.Once
	startErr  error
	stopOnce  sync.Once
	stopErr   error
}

func (s *sharedInstances) get(cfg *Config, set receiver.Settings) (*sharedInstance, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if inst, ok := s.m[cfg]; ok {
		return inst, nil
	}
	r, err := newReceiver(cfg, set)
	if err != nil {
		return nil, err
	}
	inst := &sharedInstance{receiver: r, owner: s, cfg: cfg}
	s.m[cfg] = inst
	return inst, nil
}

// Start starts the receiver once.
func (si *sharedInstance) Start(ctx context.Context, host component.Host) error {
	si.startOnce.Do(func() { si.startErr = si.receiver.Start(ctx, host) })
	return si.startErr
}

// Shutdown stops the receiver once.
func (si *sharedInstance) Shutdown(ctx context.Context) error {
	si.stopOnce.Do(func() {
		si.stopErr = si.receiver.Shutdown(ctx)
		si.owner.mu.Lock()
		delete(si.owner.m, si.cfg)
		si.owner.mu.Unlock()
	})
	return si.stopErr
}
