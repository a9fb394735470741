package main

// Accounting: each worker books into its own acct (no locks); run merges them at the end.

import (
	"math"
	"time"
)

type ioStats struct {
	Requests      int64            `json:"requests"`
	Accepted      int64            `json:"accepted"`
	Refused       int64            `json:"refused"`
	Partial       int64            `json:"partial"`
	Items         int64            `json:"items"`
	ItemsAccepted int64            `json:"items_accepted"`
	ItemsRefused  int64            `json:"items_refused"`
	ItemsRejected int64            `json:"items_rejected"`
	Bytes         int64            `json:"bytes"`
	Reasons       map[string]int64 `json:"refused_by_reason"`
}

func (s *ioStats) merge(o *ioStats) {
	s.Requests += o.Requests
	s.Accepted += o.Accepted
	s.Refused += o.Refused
	s.Partial += o.Partial
	s.Items += o.Items
	s.ItemsAccepted += o.ItemsAccepted
	s.ItemsRefused += o.ItemsRefused
	s.ItemsRejected += o.ItemsRejected
	s.Bytes += o.Bytes
	for k, v := range o.Reasons {
		if s.Reasons == nil {
			s.Reasons = map[string]int64{}
		}
		s.Reasons[k] += v
	}
}

// tally counts events by kind, api_error by status, tool_result by tool and success.
type tally struct {
	count      [numEventKinds]int64
	apiError   [len(apiErrors)]int64
	toolResult [len(tools)][2]int64
}

func (t *tally) add(o *tally) {
	for i := range t.count {
		t.count[i] += o.count[i]
	}
	for i := range t.apiError {
		t.apiError[i] += o.apiError[i]
	}
	for i := range t.toolResult {
		t.toolResult[i][0] += o.toolResult[i][0]
		t.toolResult[i][1] += o.toolResult[i][1]
	}
}

// hist is a latency histogram with fixed bucket bounds in milliseconds.
var histBounds = []float64{0.25, 0.5, 1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, math.Inf(1)}

type hist struct {
	counts [16]int64
	sum    float64
	max    float64
}

func (h *hist) add(d time.Duration) {
	ms := float64(d) / 1e6
	i := 0
	for ms > histBounds[i] {
		i++
	}
	h.counts[i]++
	h.sum += ms
	h.max = max(h.max, ms)
}

func (h *hist) merge(o *hist) {
	for i := range h.counts {
		h.counts[i] += o.counts[i]
	}
	h.sum += o.sum
	h.max = max(h.max, o.max)
}

// quantile returns the upper bound of the bucket holding quantile q (the max for the last one).
func (h *hist) quantile(q float64) float64 {
	var n int64
	for _, c := range h.counts {
		n += c
	}
	if n == 0 {
		return 0
	}
	want := int64(math.Ceil(q * float64(n)))
	var seen int64
	for i, c := range h.counts {
		seen += c
		if seen >= want {
			return min(histBounds[i], h.max)
		}
	}
	return h.max
}

type acct struct {
	io      [numSignals][numProtocols]ioStats
	latency [numSignals]hist
	inexact bool // some request was accepted with rejected items: totals may be short

	groups       []float64 // accepted metric totals per catalogue group
	teamCost     []float64
	teamTokens   []float64
	teamSessions []float64
	userCost     []float64
	events       tally // accepted events

	sessionsStarted, sessionsFinished, sessionsCut, sessionsAbandoned int64
	sessionsCumulative, sessionsResumed                               int64
}

func newAcct(cat *catalogue, cfg *config) *acct {
	return &acct{
		groups:       make([]float64, len(cat.groups)),
		teamCost:     make([]float64, cfg.Teams),
		teamTokens:   make([]float64, cfg.Teams),
		teamSessions: make([]float64, cfg.Teams),
		userCost:     make([]float64, cfg.Developers),
	}
}

// addPoint books what an accepted point adds to the totals.
func (a *acct) addPoint(cat *catalogue, d *developer, series int, inc float64) {
	ser := &cat.series[series]
	a.groups[ser.group] += inc
	switch ser.metric {
	case mCost:
		a.teamCost[d.team] += inc
		a.userCost[d.idx] += inc
	case mTokens:
		a.teamTokens[d.team] += inc
	case mSession:
		a.teamSessions[d.team] += inc
	}
}

func (a *acct) merge(o *acct) {
	for s := range a.io {
		for p := range a.io[s] {
			a.io[s][p].merge(&o.io[s][p])
		}
		a.latency[s].merge(&o.latency[s])
	}
	a.inexact = a.inexact || o.inexact
	addAll(a.groups, o.groups)
	addAll(a.teamCost, o.teamCost)
	addAll(a.teamTokens, o.teamTokens)
	addAll(a.teamSessions, o.teamSessions)
	addAll(a.userCost, o.userCost)
	a.events.add(&o.events)
	a.sessionsStarted += o.sessionsStarted
	a.sessionsFinished += o.sessionsFinished
	a.sessionsCut += o.sessionsCut
	a.sessionsAbandoned += o.sessionsAbandoned
	a.sessionsCumulative += o.sessionsCumulative
	a.sessionsResumed += o.sessionsResumed
}

func addAll(dst, src []float64) {
	for i, v := range src {
		dst[i] += v
	}
}
