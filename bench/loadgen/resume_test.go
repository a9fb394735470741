package main

import (
	"math"
	"strconv"
	"testing"

	colmetrics "go.opentelemetry.io/proto/otlp/collector/metrics/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	metricspb "go.opentelemetry.io/proto/otlp/metrics/v1"
	"google.golang.org/protobuf/proto"
)

func resumeRun(t *testing.T, cumulative, resume string) (*run, *worker) {
	t.Helper()
	return runWith(t, "-developers", "1", "-duration", "1s", "-interval", "1s",
		"-cumulative-share", cumulative, "-resume-share", resume, "-prompts", "6",
		"-think-min", "1", "-think-max", "2", "-workers", "1", "-conns", "1")
}

// playOpen plays d's open session to its end on w, sending into c; returns the end time.
func playOpen(w *worker, d *developer, c *capture) int64 {
	d.s.send = c
	var now int64
	for d.s != nil {
		now = d.s.nextDue(w.logsNanos)
		w.advance(d, d.s, now)
	}
	return now
}

type decodedPoint struct {
	metric, sessionID, startType string
	key                          string // metric and every own attribute but session.id
	start, time                  uint64
	value                        float64
	cumulative                   bool
}

func decodePoints(t *testing.T, bodies [][]byte) []decodedPoint {
	t.Helper()
	var out []decodedPoint
	for _, body := range bodies {
		var req colmetrics.ExportMetricsServiceRequest
		if err := proto.Unmarshal(body, &req); err != nil {
			t.Fatal(err)
		}
		for _, m := range req.ResourceMetrics[0].ScopeMetrics[0].Metrics {
			sum := m.GetSum()
			for _, dp := range sum.DataPoints {
				p := decodedPoint{metric: m.Name, start: dp.StartTimeUnixNano, time: dp.TimeUnixNano,
					value: dp.GetAsDouble(), key: m.Name,
					cumulative: sum.AggregationTemporality == metricspb.AggregationTemporality_AGGREGATION_TEMPORALITY_CUMULATIVE}
				for _, kv := range dp.Attributes {
					switch kv.Key {
					case "session.id":
						p.sessionID = kv.Value.GetStringValue()
					case "start_type":
						p.startType = kv.Value.GetStringValue()
					}
					if kv.Key != "session.id" {
						v := kv.Value.String() // stable within one test binary
						if sv, ok := kv.Value.Value.(*commonpb.AnyValue_StringValue); ok {
							v = sv.StringValue
						}
						p.key += "," + kv.Key + "=" + v
					}
				}
				out = append(out, p)
			}
		}
	}
	return out
}

// TestResumeTakesOverTheSession: with -resume-share 1 a developer's next session is a new
// process under the same session.id, at once, with the same temporality; its counters start
// from zero (cumulative: later start times), its session.count says resume; the accepted
// totals by group are what the decoded points add up to when each process's running totals
// are kept apart by their start time (what the stack's Collector does).
func TestResumeTakesOverTheSession(t *testing.T) {
	for _, cumulative := range []string{"0", "1"} {
		r, w := resumeRun(t, cumulative, "1")
		d := r.devs[0]
		w.startSession(d, 1_800_000_000_000_000_000, false)
		procs := make([]*capture, 3) // a fresh session, resumed twice
		ends := make([]int64, 3)
		var id string
		for i := range procs {
			if i > 0 {
				w.afterSession(d, ends[i-1])
				if d.s == nil || d.retired {
					t.Fatalf("cumulative %s: session %d was not resumed", cumulative, i)
				}
				if d.due != d.s.nextDue(w.logsNanos) || d.s.start != ends[i-1] {
					t.Fatalf("cumulative %s: the resumed session starts at %d, the last ended at %d", cumulative, d.s.start, ends[i-1])
				}
			} else {
				id = string(d.s.id)
			}
			procs[i] = &capture{}
			ends[i] = playOpen(w, d, procs[i])
		}
		firstStart := map[string]uint64{} // series -> start time in the previous process
		for i, c := range procs {
			pts := decodePoints(t, c.bodies[sigMetrics])
			if len(pts) == 0 {
				t.Fatalf("process %d sent no points", i)
			}
			starts := map[string]uint64{}
			var sessionCount float64
			for _, p := range pts {
				if p.sessionID != id {
					t.Fatalf("cumulative %s: process %d point %s has session.id %s, want %s", cumulative, i, p.metric, p.sessionID, id)
				}
				if p.cumulative != (cumulative == "1") {
					t.Fatalf("process %d changed temporality", i)
				}
				if i > 0 && p.start < uint64(ends[i-1]) {
					t.Fatalf("cumulative %s: process %d point %s starts at %d, before the previous process ended (%d)", cumulative, i, p.metric, p.start, ends[i-1])
				}
				if p.metric == "claude_code.session.count" {
					want := "fresh"
					if i > 0 {
						want = "resume"
					}
					if p.startType != want {
						t.Fatalf("process %d: session.count start_type %q, want %q", i, p.startType, want)
					}
					if p.cumulative {
						sessionCount = p.value
					} else {
						sessionCount += p.value
					}
				}
				if p.cumulative {
					if s, ok := starts[p.key]; ok && s != p.start {
						t.Fatalf("process %d: %s changed its start time within the process", i, p.key)
					}
					starts[p.key] = p.start
					if prev, ok := firstStart[p.key]; ok && p.start <= prev {
						t.Fatalf("process %d: %s starts at %d, not after the previous process's %d", i, p.key, p.start, prev)
					}
				}
			}
			if sessionCount != 1 {
				t.Fatalf("process %d: session.count adds up to %v", i, sessionCount)
			}
			firstStart = starts
		}
		if cumulative == "1" && len(firstStart) == 0 {
			t.Fatal("no cumulative series")
		}

		// Totals: deltas summed; cumulative series keyed by (series, start), their last value.
		want := map[string]float64{}
		meta := map[string]decodedPoint{}
		last := map[string]decodedPoint{}
		for _, c := range procs {
			for _, p := range decodePoints(t, c.bodies[sigMetrics]) {
				meta[p.key] = p
				if !p.cumulative {
					want[p.key] += p.value
					continue
				}
				k := p.key + "@" + strconv.FormatUint(p.start, 10)
				if l, ok := last[k]; !ok || p.time >= l.time {
					last[k] = p
				}
			}
		}
		for _, p := range last {
			want[p.key] += p.value
		}
		var tokens, sessionsFresh, sessionsResume float64
		for k, v := range want {
			switch p := meta[k]; {
			case p.metric == "claude_code.token.usage":
				tokens += v
			case p.metric == "claude_code.session.count" && p.startType == "fresh":
				sessionsFresh += v
			case p.metric == "claude_code.session.count" && p.startType == "resume":
				sessionsResume += v
			}
		}
		var accTokens float64
		accSessions := map[string]float64{}
		for g, gd := range r.cat.groups {
			switch gd.metric {
			case mTokens:
				accTokens += w.acct.groups[g]
			case mSession:
				accSessions[gd.labels[0]] += w.acct.groups[g]
			}
		}
		if sessionsFresh != 1 || sessionsResume != 2 {
			t.Fatalf("cumulative %s: decoded session.count fresh %v resume %v, want 1 and 2", cumulative, sessionsFresh, sessionsResume)
		}
		if accSessions["fresh"] != 1 || accSessions["resume"] != 2 || len(accSessions) != 2 {
			t.Fatalf("cumulative %s: accounted session.count %v, want fresh 1, resume 2", cumulative, accSessions)
		}
		if tokens == 0 || math.Abs(tokens-accTokens) > 1e-6*tokens {
			t.Fatalf("cumulative %s: tokens decoded %v, accounted %v", cumulative, tokens, accTokens)
		}
		if w.acct.sessionsStarted != 3 || w.acct.sessionsResumed != 2 || w.acct.sessionsFinished != 3 {
			t.Fatalf("sessions started %d, resumed %d, finished %d", w.acct.sessionsStarted, w.acct.sessionsResumed, w.acct.sessionsFinished)
		}
		if cumulative == "1" && w.acct.sessionsCumulative != 3 {
			t.Fatalf("cumulative sessions %d, want 3 (a resumed process keeps the temporality)", w.acct.sessionsCumulative)
		}
	}
}

// TestNoResumeThinksAndDrawsNothing: without -resume-share the developer thinks and the random
// stream is the one a run had before the flag existed (same seed, same sessions).
func TestNoResumeThinksAndDrawsNothing(t *testing.T) {
	r, w := resumeRun(t, "0.5", "0")
	d := r.devs[0]
	w.startSession(d, 1_800_000_000_000_000_000, false)
	end := playOpen(w, d, &capture{})
	// The same developer in a second run: same seed, same session, same draws so far.
	r2, w2 := resumeRun(t, "0.5", "0")
	d2 := r2.devs[0]
	w2.startSession(d2, 1_800_000_000_000_000_000, false)
	if end2 := playOpen(w2, d2, &capture{}); end2 != end {
		t.Fatalf("the same session ended at %d and %d", end, end2)
	}
	think := w.cfg.ThinkMin + d2.rng.Float64()*(w.cfg.ThinkMax-w.cfg.ThinkMin)
	w.afterSession(d, end)
	if d.s != nil || d.retired {
		t.Fatal("a session started at once without -resume-share")
	}
	if want := end + int64(think*float64(w.interval)); d.due != want {
		t.Fatalf("due %d, want %d (think drawn first)", d.due, want)
	}
	w.startSession(d, d.due, false)
	if d.s.slots[0].series != int32(w.cat.session) {
		t.Fatal("the next session is not a fresh one")
	}
}

func TestResumeShareIsValidated(t *testing.T) {
	for _, v := range []string{"-0.1", "1.5"} {
		if _, err := parseConfig([]string{"-duration", "1s", "-resume-share", v}); err == nil {
			t.Errorf("-resume-share %s accepted", v)
		}
	}
	c, err := parseConfig([]string{"-duration", "1s", "-resume-share", "0.25"})
	if err != nil || c.ResumeShare != 0.25 || c.describe()["resume_share"] != 0.25 {
		t.Fatalf("-resume-share 0.25: %v %v", err, c)
	}
}
