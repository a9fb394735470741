package main

import (
	"context"
	"math"
	"testing"

	collogs "go.opentelemetry.io/proto/otlp/collector/logs/v1"
	colmetrics "go.opentelemetry.io/proto/otlp/collector/metrics/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	metricspb "go.opentelemetry.io/proto/otlp/metrics/v1"
	"google.golang.org/protobuf/proto"
)

// capture is a sender that keeps every request and accepts it.
type capture struct{ bodies [numSignals][][]byte }

func (c *capture) send(_ context.Context, signal int, body []byte) outcome {
	c.bodies[signal] = append(c.bodies[signal], append([]byte(nil), body...))
	return outcome{accepted: true}
}
func (c *capture) close() {}

func testRun(t *testing.T, cumulative float64) (*run, *worker) {
	t.Helper()
	return runWith(t, "-developers", "3", "-duration", "1s", "-interval", "1s",
		"-cumulative-share", fmtFloat(cumulative), "-prompts", "6", "-api-error-rate", "0.2",
		"-resource-attributes", "cost_center=cc%2042", "-workers", "1", "-conns", "1")
}

// runWith is a run of the given flags, closed when the test ends, and its one worker.
func runWith(t *testing.T, args ...string) (*run, *worker) {
	t.Helper()
	cfg, err := parseConfig(args)
	if err != nil {
		t.Fatal(err)
	}
	r, err := newRun(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.close)
	return r, r.workers[0]
}

func fmtFloat(f float64) string {
	if f == 0 {
		return "0"
	}
	return "1"
}

// playSession runs one whole session of d on w, sending into c; returns the number of ticks.
func playSession(w *worker, d *developer, c *capture) {
	now := int64(1_800_000_000_000_000_000)
	w.startSession(d, now, false)
	d.s.send = c
	for d.s != nil {
		now = d.s.nextDue(w.logsNanos)
		w.advance(d, d.s, now)
	}
}

func attrMap(kvs []*commonpb.KeyValue) map[string]*commonpb.AnyValue {
	m := map[string]*commonpb.AnyValue{}
	for _, kv := range kvs {
		m[kv.Key] = kv.Value
	}
	return m
}

func TestRequestsDecode(t *testing.T) {
	for _, cumulative := range []float64{0, 1} {
		r, w := testRun(t, cumulative)
		d := r.devs[0]
		c := &capture{}
		playSession(w, d, c)
		if len(c.bodies[sigMetrics]) == 0 || len(c.bodies[sigLogs]) == 0 {
			t.Fatalf("no requests: %d metrics, %d logs", len(c.bodies[sigMetrics]), len(c.bodies[sigLogs]))
		}
		wantTemp := metricspb.AggregationTemporality_AGGREGATION_TEMPORALITY_DELTA
		if cumulative == 1 {
			wantTemp = metricspb.AggregationTemporality_AGGREGATION_TEMPORALITY_CUMULATIVE
		}
		var sessions float64
		tokens := map[string]float64{}
		for _, body := range c.bodies[sigMetrics] {
			var req colmetrics.ExportMetricsServiceRequest
			if err := proto.Unmarshal(body, &req); err != nil {
				t.Fatalf("metrics request does not decode: %v", err)
			}
			rm := req.ResourceMetrics[0]
			res := attrMap(rm.Resource.Attributes)
			if res["service.name"].GetStringValue() != "claude-code" || res["cost_center"].GetStringValue() != "cc 42" ||
				res["team.id"].GetStringValue() == "" || res["department"].GetStringValue() == "" {
				t.Fatalf("resource: %v", rm.Resource.Attributes)
			}
			sm := rm.ScopeMetrics[0]
			if sm.Scope.Name != meterScope || sm.Scope.Version != r.cfg.CLIVersion {
				t.Fatalf("scope %v", sm.Scope)
			}
			for _, m := range sm.Metrics {
				sum := m.GetSum()
				if sum == nil || !sum.IsMonotonic || sum.AggregationTemporality != wantTemp {
					t.Fatalf("%s: not a monotonic sum of the right temporality", m.Name)
				}
				for _, dp := range sum.DataPoints {
					a := attrMap(dp.Attributes)
					if a["user.id"].GetStringValue() != d.userID || a["session.id"].GetStringValue() != string(d.spare.id) ||
						a["team.id"] == nil || a["cost_center"] == nil || a["terminal.type"] == nil {
						t.Fatalf("%s: common attributes missing: %v", m.Name, dp.Attributes)
					}
					if _, ok := dp.Value.(*metricspb.NumberDataPoint_AsDouble); !ok {
						t.Fatalf("%s: value is not a double", m.Name)
					}
					if dp.StartTimeUnixNano == 0 || dp.StartTimeUnixNano > dp.TimeUnixNano {
						t.Fatalf("%s: start %d time %d", m.Name, dp.StartTimeUnixNano, dp.TimeUnixNano)
					}
					switch m.Name {
					case "claude_code.session.count":
						if cumulative == 0 {
							sessions += dp.GetAsDouble()
						} else {
							sessions = dp.GetAsDouble()
						}
					case "claude_code.token.usage":
						k := a["model"].GetStringValue() + "/" + a["type"].GetStringValue() + "/" +
							a["query_source"].GetStringValue() + "/" + a["effort"].GetStringValue()
						if cumulative == 0 {
							tokens[k] += dp.GetAsDouble()
						} else {
							tokens[k] = dp.GetAsDouble()
						}
					}
				}
			}
		}
		if sessions != 1 {
			t.Fatalf("session.count sums to %v", sessions)
		}
		// The accepted totals equal what was decoded.
		var tokTotal, accTotal float64
		for _, v := range tokens {
			tokTotal += v
		}
		for g, gd := range r.cat.groups {
			if gd.metric == mTokens {
				accTotal += w.acct.groups[g]
			}
		}
		if math.Abs(tokTotal-accTotal) > 1e-6 || tokTotal == 0 {
			t.Fatalf("tokens decoded %v, accounted %v", tokTotal, accTotal)
		}

		var nEvents int64
		seq := int64(-1)
		for _, body := range c.bodies[sigLogs] {
			var req collogs.ExportLogsServiceRequest
			if err := proto.Unmarshal(body, &req); err != nil {
				t.Fatalf("logs request does not decode: %v", err)
			}
			sl := req.ResourceLogs[0].ScopeLogs[0]
			if sl.Scope.Name != loggerScope {
				t.Fatalf("scope %v", sl.Scope)
			}
			for _, lr := range sl.LogRecords {
				nEvents++
				a := attrMap(lr.Attributes)
				name := a["event.name"].GetStringValue()
				if lr.Body.GetStringValue() != "claude_code."+name {
					t.Fatalf("body %v vs event.name %q", lr.Body, name)
				}
				if got := a["event.sequence"].GetIntValue(); got != seq+1 {
					t.Fatalf("event.sequence %d after %d", got, seq)
				}
				seq++
				if lr.TimeUnixNano == 0 || lr.ObservedTimeUnixNano != lr.TimeUnixNano {
					t.Fatalf("timestamps %d %d", lr.TimeUnixNano, lr.ObservedTimeUnixNano)
				}
				if name == "api_request" {
					if _, ok := a["cost_usd"].Value.(*commonpb.AnyValue_DoubleValue); !ok {
						t.Fatalf("cost_usd is not a double: %v", a["cost_usd"])
					}
				}
				if name == "managed_settings_resolved" && a["managed_settings.sources"].GetArrayValue() == nil {
					t.Fatalf("managed_settings.sources is not an array")
				}
			}
		}
		var accEvents int64
		for _, n := range w.acct.events.count {
			accEvents += n
		}
		if accEvents != nEvents {
			t.Fatalf("events decoded %d, accounted %d", nEvents, accEvents)
		}
	}
}

func TestPartialSuccess(t *testing.T) {
	b, err := proto.Marshal(&colmetrics.ExportMetricsServiceResponse{
		PartialSuccess: &colmetrics.ExportMetricsPartialSuccess{RejectedDataPoints: 7, ErrorMessage: "too old"},
	})
	if err != nil {
		t.Fatal(err)
	}
	if n, msg := readPartialSuccess(b); n != 7 || msg != "too old" {
		t.Fatalf("got %d %q", n, msg)
	}
	if n, _ := readPartialSuccess(nil); n != 0 {
		t.Fatalf("empty response: %d", n)
	}
}

func TestLoopbackOnly(t *testing.T) {
	for _, ep := range []string{"127.0.0.1:4317", "localhost:4317", "[::1]:4317", "http://127.0.0.2:4317"} {
		if _, err := grpcTarget(ep, false); err != nil {
			t.Errorf("%s refused: %v", ep, err)
		}
	}
	for _, ep := range []string{"10.0.0.1:4317", "collector:4317", "0.0.0.0:4317", "https://127.0.0.1:4317"} {
		if _, err := grpcTarget(ep, false); err == nil {
			t.Errorf("%s accepted", ep)
		}
	}
	if _, err := httpBase("http://example.com:4318", false); err == nil {
		t.Error("http://example.com accepted")
	}
	if _, err := httpBase("http://example.com:4318", true); err != nil {
		t.Errorf("-allow-remote: %v", err)
	}
}
