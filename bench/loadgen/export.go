package main

// Building one session's metrics export and events export from pre-encoded parts, sending it,
// and booking the outcome: sent/accepted/refused counts, and the data totals of accepted
// requests only.

import (
	"context"
	"time"
)

// expo is one exported point: the session slot and what it adds to the totals if accepted.
type expo struct {
	slot int
	inc  float64
}

// exportMetrics sends the session's points at time now: with delta temporality the series
// recorded since the last export, with cumulative every series with its running total. Nothing
// is sent when there is no point (the CLI skips empty exports).
func (w *worker) exportMetrics(d *developer, s *session, now int64) {
	temp := 0
	if s.cumulative {
		temp = 1
	}
	w.scope = append(w.scope[:0], w.meterScope...)
	w.expo = w.expo[:0]
	for m := range numMetrics {
		w.mb = w.mb[:0]
		for i := range s.slots {
			sl := &s.slots[i]
			ser := &w.cat.series[sl.series]
			if ser.metric != m || !(s.cumulative || sl.touched) {
				continue
			}
			start, val, inc := sl.first, sl.pending, sl.pending
			if s.cumulative {
				val, inc = sl.total, sl.total-sl.acked
			} else if sl.exported {
				start = s.lastExport
			}
			w.mb = appendHeader(w.mb, fSumPoints, len(s.pointAttrs)+len(ser.attrs)+27)
			w.mb = append(w.mb, s.pointAttrs...)
			w.mb = append(w.mb, ser.attrs...)
			w.mb = appendFixed64Field(w.mb, fPointStart, uint64(start))
			w.mb = appendFixed64Field(w.mb, fPointTime, uint64(now))
			w.mb = appendDoubleField(w.mb, fPointAsDouble, val)
			w.expo = append(w.expo, expo{i, inc})
		}
		if len(w.mb) == 0 {
			continue
		}
		tail := w.cat.sumTail[temp]
		head := metricDefs[m].header
		sumLen := len(w.mb) + len(tail)
		w.scope = appendHeader(w.scope, fScopeItems, len(head)+1+varintLen(uint64(sumLen))+sumLen)
		w.scope = append(w.scope, head...)
		w.scope = appendHeader(w.scope, fMetricSum, sumLen)
		w.scope = append(w.scope, w.mb...)
		w.scope = append(w.scope, tail...)
	}
	s.lastExport = now
	if len(w.expo) == 0 {
		return
	}
	w.req = w.wrap(w.req[:0], d, w.scope, nil)
	o := w.send(d, s, sigMetrics, w.req, len(w.expo))
	exact := o.accepted && o.rejected == 0
	if o.accepted && o.rejected > 0 {
		w.acct.inexact = true // which points were rejected is unknown
	}
	for _, e := range w.expo {
		sl := &s.slots[e.slot]
		if exact {
			w.acct.addPoint(w.cat, d, int(sl.series), e.inc)
		}
		if s.cumulative {
			if o.accepted {
				sl.acked = sl.total
			}
		} else {
			sl.pending = 0
		}
		sl.touched = false
		sl.exported = true
	}
}

// exportLogs sends the log records gathered in w.recs (one event window), if any.
func (w *worker) exportLogs(d *developer, s *session) {
	if w.nRecs == 0 {
		return
	}
	w.req = w.wrap(w.req[:0], d, w.loggerScope, w.recs)
	o := w.send(d, s, sigLogs, w.req, w.nRecs)
	if o.accepted && o.rejected == 0 {
		w.acct.events.add(&w.tally)
	} else if o.accepted {
		w.acct.inexact = true
	}
	w.recs = w.recs[:0]
	w.nRecs = 0
	w.tally = tally{}
}

// wrap writes Export*ServiceRequest{resource_*: [{resource, scope_*: [{scope + items}]}]}; the
// scope part is scope (already holding the scope and, for metrics, the items) plus items.
func (w *worker) wrap(b []byte, d *developer, scope, items []byte) []byte {
	scopeLen := len(scope) + len(items)
	resLen := len(d.resource) + 1 + varintLen(uint64(scopeLen)) + scopeLen
	b = appendHeader(b, fReqResource, resLen)
	b = append(b, d.resource...)
	b = appendHeader(b, fResScope, scopeLen)
	b = append(b, scope...)
	return append(b, items...)
}

// scopeField encodes Scope{Metrics,Logs}.scope: InstrumentationScope{name, version}.
func scopeField(name, version string) []byte {
	var sc []byte
	sc = appendStringField(sc, fScopeName, name)
	sc = appendStringField(sc, fScopeVersion, version)
	return appendBytesField(nil, fScopeScope, sc)
}

// send sends one request once, on the session's own connection or the developer's shared one,
// and books it.
func (w *worker) send(d *developer, s *session, signal int, body []byte, items int) outcome {
	proto := protoGRPC
	if d.useHTTP {
		proto = protoHTTP
	}
	var o outcome
	if w.run.abandon.Load() {
		o = outcome{reason: "abandoned"}
	} else {
		snd := s.send
		if snd == nil {
			snd = w.run.shared(proto, d.idx)
		}
		ctx, cancel := context.WithTimeout(w.run.ctx, w.cfg.Timeout)
		t0 := time.Now()
		o = snd.send(ctx, signal, body)
		cancel()
		w.acct.latency[signal].add(time.Since(t0))
	}
	st := &w.acct.io[signal][proto]
	st.Requests++
	st.Items += int64(items)
	st.Bytes += int64(len(body))
	if o.accepted {
		st.Accepted++
		st.ItemsAccepted += int64(items) - o.rejected
		if o.rejected > 0 {
			st.Partial++
			st.ItemsRejected += o.rejected
		}
	} else {
		st.Refused++
		st.ItemsRefused += int64(items)
		if st.Reasons == nil {
			st.Reasons = map[string]int64{}
		}
		st.Reasons[o.reason]++
	}
	return o
}
