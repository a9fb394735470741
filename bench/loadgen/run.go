package main

// The run: one scheduler goroutine owns a min-heap of developers keyed by their next action;
// a fixed pool of workers plays the due ones (a session start, an event window, an export) and
// hands them back with their next due time. Each developer is in exactly one place at a time
// (heap, queue or one worker), so its state needs no lock.

import (
	"container/heap"
	"context"
	"sync"
	"sync/atomic"
	"time"
)

type run struct {
	cfg  *config
	cat  *catalogue
	devs []*developer

	ctx    context.Context // canceled when the drain times out
	cancel context.CancelFunc

	stopReq  chan string  // a stop request (signal or -duration), with its reason
	stopping atomic.Bool  // no new sessions; open ones flush and end
	abandon  atomic.Bool  // drain timed out: end sessions without sending
	reserved atomic.Int64 // sessions started or about to start (for -max-sessions)

	httpShared  sender
	grpcShared  []sender
	workers     []*worker
	lagHist     hist
	stopReason  string
	startedAt   time.Time
	stoppedAt   time.Time
	finishedAt  time.Time
	drainTimely bool
}

func newRun(cfg *config) (*run, error) {
	r := &run{cfg: cfg, cat: newCatalogue(), stopReq: make(chan string, 1)}
	r.ctx, r.cancel = context.WithCancel(context.Background())
	for i := range cfg.Developers {
		r.devs = append(r.devs, newDeveloper(cfg, i))
	}
	if cfg.Conns > 0 {
		if cfg.HTTPShare > 0 {
			r.httpShared = newHTTPSender(cfg, cfg.Workers)
		}
		if cfg.HTTPShare < 1 {
			for range cfg.Conns {
				s, err := newGRPCSender(cfg)
				if err != nil {
					return nil, err
				}
				r.grpcShared = append(r.grpcShared, s)
			}
		}
	}
	for range cfg.Workers {
		r.workers = append(r.workers, newWorker(r))
	}
	return r, nil
}

func (r *run) shared(proto, dev int) sender {
	if proto == protoHTTP {
		return r.httpShared
	}
	return r.grpcShared[dev%len(r.grpcShared)]
}

// newSender opens a session's own connection (-conns 0).
func (r *run) newSender(useHTTP bool) sender {
	if useHTTP {
		return newHTTPSender(r.cfg, 1)
	}
	s, err := newGRPCSender(r.cfg)
	if err != nil { // only on a malformed target, which validation has ruled out
		panic(err)
	}
	return s
}

// reserve claims one session start under -max-sessions.
func (r *run) reserve() bool {
	if r.cfg.MaxSessions == 0 {
		r.reserved.Add(1)
		return true
	}
	for {
		n := r.reserved.Load()
		if n >= int64(r.cfg.MaxSessions) {
			return false
		}
		if r.reserved.CompareAndSwap(n, n+1) {
			return true
		}
	}
}

func (r *run) mayStart() bool {
	return !r.stopping.Load() && (r.cfg.MaxSessions == 0 || r.reserved.Load() < int64(r.cfg.MaxSessions))
}

// devHeap orders developers by due time.
type devHeap []*developer

func (h devHeap) Len() int           { return len(h) }
func (h devHeap) Less(i, j int) bool { return h[i].due < h[j].due }
func (h devHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].heapIdx, h[j].heapIdx = i, j
}
func (h *devHeap) Push(x any) {
	d := x.(*developer)
	d.heapIdx = len(*h)
	*h = append(*h, d)
}
func (h *devHeap) Pop() any {
	old := *h
	d := old[len(old)-1]
	*h = old[:len(old)-1]
	return d
}

// requestStop ends the run early: no session starts any more, open ones flush and end.
func (r *run) requestStop(reason string) {
	select {
	case r.stopReq <- reason:
	default:
	}
}

// requestAbandon ends open sessions without sending anything more and cancels requests in flight.
func (r *run) requestAbandon() {
	r.abandon.Store(true)
	r.cancel()
}

// loop runs until every developer has retired: after -max-sessions sessions have ended, or
// after a stop request once every open session has flushed (or the drain timed out).
func (r *run) loop() {
	stop := r.stopReq
	r.startedAt = time.Now()
	now := r.startedAt.UnixNano()
	h := make(devHeap, 0, len(r.devs))
	ramp := int64(r.cfg.Ramp)
	for _, d := range r.devs {
		d.due = now + d.rng.Int64N(max(ramp, 1))
		heap.Push(&h, d)
	}
	work := make(chan *developer, len(r.workers))
	done := make(chan *developer, len(r.workers))
	var wg sync.WaitGroup
	for _, w := range r.workers {
		wg.Go(func() {
			for d := range work {
				w.process(d)
				done <- d
			}
		})
	}

	tick := int64(r.cfg.Tick)
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	var drain <-chan time.Time
	inflight := 0
	quotaDone := false
	for h.Len() > 0 || inflight > 0 {
		now = time.Now().UnixNano()
		var sendTo chan *developer
		var next *developer
		var wake <-chan time.Time
		if h.Len() > 0 {
			next = h[0]
			if r.stopping.Load() || next.due <= now {
				sendTo = work
			} else {
				// Wake on tick boundaries only: everything due within one tick goes out in one
				// burst, which costs far fewer thread wake-ups than one wake-up per request.
				at := next.due
				if tick > 0 {
					at = (at + tick - 1) / tick * tick
				}
				timer.Reset(time.Duration(at - now))
				wake = timer.C
			}
		}
		select {
		case sendTo <- next:
			heap.Pop(&h)
			inflight++
			if !r.stopping.Load() {
				r.lagHist.add(time.Duration(now - next.due))
			}
		case d := <-done:
			inflight--
			if !d.retired {
				heap.Push(&h, d)
			}
			if !quotaDone && r.cfg.MaxSessions > 0 && !r.mayStart() {
				// -max-sessions is used up: developers between sessions will start none.
				quotaDone = true
				h = retireIdle(h)
			}
		case <-wake:
		case reason := <-stop:
			stop = nil
			r.stopReason = reason
			r.stoppedAt = time.Now()
			r.stopping.Store(true)
			drain = time.After(r.cfg.DrainTimeout)
		case <-drain:
			drain = nil
			r.requestAbandon()
		}
	}
	close(work)
	wg.Wait()
	r.finishedAt = time.Now()
	r.drainTimely = !r.abandon.Load()
	if r.stopReason == "" {
		r.stopReason = "max-sessions"
		r.stoppedAt = r.finishedAt
	}
}

// retireIdle drops the developers without an open session from the heap.
func retireIdle(h devHeap) devHeap {
	kept := h[:0]
	for _, d := range h {
		if d.s != nil {
			kept = append(kept, d)
		} else {
			d.retired = true
		}
	}
	for i := len(kept); i < len(h); i++ {
		h[i] = nil
	}
	for i, d := range kept {
		d.heapIdx = i
	}
	heap.Init(&kept)
	return kept
}

func (r *run) close() {
	if r.httpShared != nil {
		r.httpShared.close()
	}
	for _, s := range r.grpcShared {
		s.close()
	}
	r.cancel()
}
