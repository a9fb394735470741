package main

// What happens in a session: start-up housekeeping, then prompts. A prompt is a user_prompt
// event, a chain of API requests (api_request, or api_error ending the chain), tool calls
// between them (tool_decision, tool_result; edits also count code_edit_tool.decision and
// lines_of_code) and an assistant_response. Counters are recorded on the session as the CLI
// records them; events are encoded at once as OTLP log records into the worker's batch.

import (
	"math/rand/v2"
	"strconv"
	"time"
)

// Attributes that never change, encoded once (log record field 6).
var (
	startupSettings = func() (b []byte) {
		b = appendKVString(b, fLogAttrs, "managed_settings.trigger", "startup")
		b = appendKVEmptyArray(b, fLogAttrs, "managed_settings.sources")
		b = appendKVString(b, fLogAttrs, "managed_settings.source_behavior", "first-wins")
		b = appendKVString(b, fLogAttrs, "managed_settings.helper.state", "none")
		return appendKVString(b, fLogAttrs, "managed_settings.helper.applied", "none")
	}()
	startupPlugins = func() (out [][]byte) {
		for _, p := range bundledPlugins {
			var b []byte
			b = appendKVString(b, fLogAttrs, "plugin.name", p.name)
			b = appendKVString(b, fLogAttrs, "marketplace.name", "builtin")
			b = appendKVString(b, fLogAttrs, "plugin.scope", "default-bundle")
			b = appendKVString(b, fLogAttrs, "enabled_via", "default-enable")
			b = appendKVString(b, fLogAttrs, "plugin_id_hash", p.hash)
			b = appendKVBool(b, fLogAttrs, "has_hooks", true)
			b = appendKVBool(b, fLogAttrs, "has_mcp", false)
			b = appendKVBool(b, fLogAttrs, "host_owned_mcp", false)
			b = appendKVInt(b, fLogAttrs, "skill_path_count", 0)
			b = appendKVInt(b, fLogAttrs, "command_path_count", 0)
			b = appendKVInt(b, fLogAttrs, "agent_path_count", 0)
			b = appendKVString(b, fLogAttrs, "safe_mode", "false")
			out = append(out, b)
		}
		return out
	}()
	redactedPrompt = func() (b []byte) {
		b = appendKVString(b, fLogAttrs, "prompt", "<REDACTED>")
		return appendKVString(b, fLogAttrs, "prompt_text", "<REDACTED>")
	}()
	builtinDefault = func() (b []byte) {
		b = appendKVString(b, fLogAttrs, "tool_source", "builtin")
		return appendKVString(b, fLogAttrs, "permission_mode", "default")
	}()
	speedNormal = appendKVString(nil, fLogAttrs, "speed", "normal")
)

// clock hands out increasing event times inside one window.
type clock struct{ t, step int64 }

func (c *clock) next() int64 {
	c.t += c.step
	return c.t
}

// window plays event window i of the session's current interval: the start-up events of a new
// session and the prompts planned for it. Events go to w.recs, counts to w.tally.
func (w *worker) window(d *developer, s *session, i int) {
	start := s.ivStart + int64(i)*w.logsNanos
	end := s.windowEnd(i, w.logsNanos)
	n := int64(s.win[i])
	clk := clock{t: start, step: max(1, (end-start)/(n*24+8))}
	if i == 0 && s.startup {
		s.startup = false
		w.begin(s, evManagedSettings, clk.next())
		w.rb = append(w.rb, startupSettings...)
		w.end(evManagedSettings)
		for _, p := range startupPlugins {
			w.begin(s, evPluginLoaded, clk.next())
			w.rb = append(w.rb, p...)
			w.end(evPluginLoaded)
		}
	}
	for range n {
		w.prompt(d, s, &clk)
	}
}

func (w *worker) prompt(d *developer, s *session, clk *clock) {
	cfg, rng := w.cfg, d.rng
	w.promptID = appendUUID(w.promptID[:0], rng)
	mi, effort := s.model, s.effort

	t := clk.next()
	w.begin(s, evUserPrompt, t)
	w.kvBytes("prompt.id", w.promptID)
	w.kvString("prompt_length", strconv.Itoa(5+rng.IntN(1500)))
	w.rb = append(w.rb, redactedPrompt...)
	w.uuidAttr(rng, "message.uuid")
	w.end(evUserPrompt)
	s.add(w.cat.active[activeUser], 2+rng.Float64()*28, t) // typing and reading

	cliMillis := 0
	n := 1 + min(int(rng.ExpFloat64()*(cfg.RequestsPerPrompt-1)), 30)
	for r := range n {
		q, m := qMain, mi
		if x := rng.Float64(); x < cfg.SubagentShare {
			q = qSubagent
		} else if x < cfg.SubagentShare+cfg.AuxiliaryShare {
			q, m = qAuxiliary, haiku
		}
		w.requestID = append(w.requestID[:0], "req_011C"...)
		w.requestID = appendBase62(w.requestID, rng, 20)
		dur := 600 + rng.IntN(14000)
		cliMillis += dur
		t = clk.next()

		if rng.Float64() < cfg.APIErrorRate {
			w.apiError(s, rng, m, q, effort, dur, t, clk)
			break // a request failing for good ends the turn
		}

		var tok [numTokenTypes]int
		tok[tInput] = 1 + rng.IntN(4000)
		tok[tOutput] = 20 + rng.IntN(1500)
		tok[tCacheRead] = rng.IntN(60000)
		tok[tCacheCreation] = rng.IntN(6000)
		cost := 0.0
		for k, n := range tok {
			cost += float64(n) * models[m].price[k] / 1e6
		}
		s.add(w.cat.cost[m][q][effort], cost, t)
		for k, n := range tok {
			s.add(w.cat.tokens[m][q][effort][k], float64(n), t)
		}
		w.begin(s, evAPIRequest, t)
		w.kvBytes("prompt.id", w.promptID)
		w.kvString("model", models[m].name)
		w.kvInt("input_tokens", int64(tok[tInput]))
		w.kvInt("output_tokens", int64(tok[tOutput]))
		w.kvInt("cache_read_tokens", int64(tok[tCacheRead]))
		w.kvInt("cache_creation_tokens", int64(tok[tCacheCreation]))
		w.kvInt("cache_creation_5m_tokens", int64(tok[tCacheCreation]))
		w.kvInt("cache_creation_1h_tokens", 0)
		w.rb = appendKVDouble(w.rb, fLogAttrs, "cost_usd", cost)
		w.kvInt("cost_usd_micros", int64(cost*1e6+0.5))
		w.kvInt("duration_ms", int64(dur))
		w.kvInt("ttft_ms", int64(200+rng.IntN(dur/2)))
		w.kvBytes("request_id", w.requestID)
		w.rb = append(w.rb, speedNormal...)
		w.kvString("query_source", eventQuerySources[q])
		w.kvString("effort", efforts[effort])
		w.end(evAPIRequest)

		if r == n-1 {
			w.begin(s, evAssistantResponse, clk.next())
			w.kvBytes("prompt.id", w.promptID)
			w.kvInt("response_length", int64(20+rng.IntN(4000)))
			w.kvString("response", "<REDACTED>")
			w.kvBytes("request_id", w.requestID)
			w.uuidAttr(rng, "message.uuid")
			w.kvString("model", models[m].name)
			w.kvString("query_source", eventQuerySources[q])
			w.end(evAssistantResponse)
		} else if rng.Float64() < cfg.ToolShare {
			cliMillis += w.toolCall(s, rng, m, clk)
		}
	}
	s.add(w.cat.active[activeCLI], float64(cliMillis)/1000, clk.t)
}

func (w *worker) apiError(s *session, rng *rand.Rand, m, q, effort, dur int, t int64, clk *clock) {
	k := pick(rng, apiErrorWeights)
	e := apiErrors[k]
	attempts := 1
	if e.retryable {
		attempts = maxRetries + 1
	}
	w.begin(s, evAPIError, t)
	w.kvBytes("prompt.id", w.promptID)
	w.kvString("model", models[m].name)
	w.kvString("error", e.message)
	w.kvInt("status_code", int64(e.status))
	w.kvInt("duration_ms", int64(dur))
	w.kvInt("attempt", int64(attempts))
	w.kvBytes("request_id", w.requestID)
	w.rb = append(w.rb, speedNormal...)
	w.kvString("query_source", eventQuerySources[q])
	w.kvString("effort", efforts[effort])
	w.end(evAPIError)
	w.tally.apiError[k]++
	if !e.retryable {
		return
	}
	w.begin(s, evRetriesExhausted, clk.next())
	w.kvBytes("prompt.id", w.promptID)
	w.kvString("model", models[m].name)
	w.kvString("error", e.message)
	w.kvInt("status_code", int64(e.status))
	w.kvInt("total_attempts", int64(attempts))
	w.kvInt("total_retry_duration_ms", int64(dur*attempts+30000))
	w.rb = append(w.rb, speedNormal...)
	w.kvString("query_source", eventQuerySources[q])
	w.kvString("effort", efforts[effort])
	w.end(evRetriesExhausted)
}

// toolCall plays one tool call requested by the API reply just played; returns its duration.
func (w *worker) toolCall(s *session, r *rand.Rand, m int, clk *clock) int {
	cfg := w.cfg
	tool := numEditTools + pick(r, readToolWeights)
	if r.Float64() < cfg.EditShare {
		tool = r.IntN(numEditTools) // Write or Edit
	}
	w.toolUseID = append(w.toolUseID[:0], "toolu_01"...)
	w.toolUseID = appendBase62(w.toolUseID, r, 22)
	reject := r.Float64() < cfg.RejectShare
	kind := pick(r, acceptWeights)
	dk := acceptKinds[kind]
	if reject {
		kind = len(acceptKinds) + pick(r, rejectWeights)
		dk = decisionKinds[kind]
	}
	t := clk.next()
	w.begin(s, evToolDecision, t)
	w.kvBytes("prompt.id", w.promptID)
	w.kvString("decision", dk.decision)
	w.kvString("source", dk.source)
	w.kvString("tool_name", tools[tool])
	w.kvBytes("tool_use_id", w.toolUseID)
	w.rb = append(w.rb, builtinDefault...)
	w.kvBytes("request_id", w.requestID)
	w.end(evToolDecision)
	if tool < numEditTools {
		lang := pick(r, languageWeights)
		s.add(w.cat.decision[tool][kind*len(languages)+lang], 1, t)
	}
	if reject {
		return 0
	}
	fail := r.Float64() < cfg.ToolFailShare
	dur := 3 + r.IntN(400)
	if tools[tool] == "Bash" {
		dur = 50 + r.IntN(20000)
	}
	t = clk.next()
	w.begin(s, evToolResult, t)
	w.kvBytes("prompt.id", w.promptID)
	w.kvString("tool_name", tools[tool])
	w.kvBytes("tool_use_id", w.toolUseID)
	w.kvString("success", strconv.FormatBool(!fail))
	w.kvString("duration_ms", strconv.Itoa(dur))
	if fail {
		errType := "Error"
		if tools[tool] == "Bash" {
			errType = "ShellError"
		}
		w.kvString("error_type", errType)
	}
	w.kvString("tool_input_size_bytes", strconv.Itoa(20+r.IntN(8000)))
	if !fail {
		w.kvString("tool_result_size_bytes", strconv.Itoa(30+r.IntN(30000)))
	}
	w.kvBytes("request_id", w.requestID)
	w.end(evToolResult)
	success := 0
	if !fail {
		success = 1
	}
	w.tally.toolResult[tool][success]++
	if tool < numEditTools && !fail {
		added, removed := 5+r.IntN(200), 0 // Write: a new file
		if tool == 1 {
			added, removed = 1+r.IntN(40), r.IntN(30) // Edit
		}
		s.add(w.cat.lines[m][locAdded], float64(added), t)
		s.add(w.cat.lines[m][locRemoved], float64(removed), t)
	}
	return dur
}

// --------------------------------------------------------------------------- log records

// begin starts a log record of kind at t in w.rb: timestamps, body, the session's attributes,
// event.name, event.timestamp and event.sequence. end moves it into the batch.
func (w *worker) begin(s *session, kind int, t int64) {
	w.rb = w.rb[:0]
	w.rb = appendFixed64Field(w.rb, fLogTime, uint64(t))
	w.rb = appendFixed64Field(w.rb, fLogObserved, uint64(t))
	w.rb = append(w.rb, eventBodies[kind]...)
	w.rb = append(w.rb, s.logAttrs...)
	w.kvString("event.name", eventNames[kind])
	w.ts = time.Unix(0, t).UTC().AppendFormat(w.ts[:0], "2006-01-02T15:04:05.000Z")
	w.kvBytes("event.timestamp", w.ts)
	w.kvInt("event.sequence", s.seq)
	s.seq++
}

func (w *worker) end(kind int) {
	w.recs = appendBytesField(w.recs, fScopeItems, w.rb)
	w.nRecs++
	w.tally.count[kind]++
}

func (w *worker) kvString(k, v string) { w.rb = appendKVString(w.rb, fLogAttrs, k, v) }
func (w *worker) kvBytes(k string, v []byte) {
	w.rb = appendKVStringBytes(w.rb, fLogAttrs, k, v)
}
func (w *worker) kvInt(k string, v int64) { w.rb = appendKVInt(w.rb, fLogAttrs, k, v) }
func (w *worker) uuidAttr(rng *rand.Rand, k string) {
	w.uuid = appendUUID(w.uuid[:0], rng)
	w.kvBytes(k, w.uuid)
}

func weightsOf[T any](xs []T, f func(T) float64) []float64 {
	out := make([]float64, len(xs))
	for i, x := range xs {
		out[i] = f(x)
	}
	return out
}

var (
	modelWeights    = weightsOf(models, func(m model) float64 { return m.weight })
	acceptWeights   = weightsOf(acceptKinds, func(k decisionKind) float64 { return k.weight })
	rejectWeights   = weightsOf(rejectKinds, func(k decisionKind) float64 { return k.weight })
	apiErrorWeights = weightsOf(apiErrors[:], func(e apiErrorKind) float64 { return e.weight })
)
