package main

// What Claude Code sends, as observed from the real CLI (see
// /work/shared/reference/claude-code-telemetry.md and tests/bench/test_loadgen_shape.py, which
// compares this catalogue with a real run): metric names, descriptions, units and the attribute
// keys of each metric's data points, in the CLI's order. Every series a session can write is
// listed here once, with its own attributes pre-encoded and the accounting group it adds to.

import "fmt"

const (
	meterScope  = "com.anthropic.claude_code"
	loggerScope = "com.anthropic.claude_code.events"
	serviceName = "claude-code"
	userAgent   = "OTel-OTLP-Exporter-JavaScript/0.208.0"
)

// Metrics, in the order the CLI exports them.
const (
	mSession = iota
	mLines
	mCost
	mTokens
	mDecision
	mActive
	numMetrics
)

type metricDef struct {
	name, desc, unit string
	groupBy          []string // attribute keys the summary totals are grouped by
	header           []byte   // pre-encoded name, description and unit
}

var metricDefs = [numMetrics]metricDef{
	mSession: {name: "claude_code.session.count", desc: "Count of CLI sessions started",
		groupBy: []string{"start_type"}},
	mLines: {name: "claude_code.lines_of_code.count",
		desc: "Count of lines of code modified, with the 'type' attribute indicating whether lines " +
			"were added or removed and the 'model' attribute indicating which model made the change",
		groupBy: []string{"type"}},
	mCost: {name: "claude_code.cost.usage", desc: "Cost of the Claude Code session", unit: "USD",
		groupBy: []string{"model"}},
	mTokens: {name: "claude_code.token.usage", desc: "Number of tokens used", unit: "tokens",
		groupBy: []string{"model", "type"}},
	mDecision: {name: "claude_code.code_edit_tool.decision",
		desc:    "Count of code editing tool permission decisions (accept/reject) for Edit, Write, and NotebookEdit tools",
		groupBy: []string{"decision", "tool_name"}},
	mActive: {name: "claude_code.active_time.total", desc: "Total active time in seconds", unit: "s",
		groupBy: []string{"type"}},
}

// Models with their price per million tokens (input, output, cache read, cache creation) and
// the share of prompts that use them. The prices are this simulation's; only consistency
// between cost.usage, api_request.cost_usd and the summary matters.
type model struct {
	name   string
	price  [numTokenTypes]float64
	weight float64
}

var models = []model{
	{"claude-sonnet-5-5", [numTokenTypes]float64{3, 15, 0.3, 3.75}, 0.6},
	{"claude-opus-5-5", [numTokenTypes]float64{5, 25, 0.5, 6.25}, 0.3},
	{"claude-haiku-5-5", [numTokenTypes]float64{1, 5, 0.1, 1.25}, 0.1},
}

const haiku = 2 // index of the small model auxiliary requests use

const (
	tInput = iota
	tOutput
	tCacheRead
	tCacheCreation
	numTokenTypes
)

var tokenTypes = [numTokenTypes]string{"input", "output", "cacheRead", "cacheCreation"}

// Query sources: the metric value and the event value (the CLI maps repl_main_thread to main,
// agent:* to subagent, anything else to auxiliary).
const (
	qMain = iota
	qSubagent
	qAuxiliary
	numQuerySources
)

var querySources = [numQuerySources]string{"main", "subagent", "auxiliary"}
var eventQuerySources = [numQuerySources]string{"repl_main_thread", "agent:builtin:general-purpose", "generate_session_title"}

var efforts = []string{"medium", "high", "low"}
var effortWeights = []float64{0.7, 0.25, 0.05}

const (
	activeUser = iota
	activeCLI
)

var activeTypes = [2]string{"user", "cli"}

const (
	locAdded = iota
	locRemoved
)

var locTypes = [2]string{"added", "removed"}

// Tools. Write and Edit are the edit tools (code_edit_tool.decision, lines_of_code).
var tools = [...]string{"Write", "Edit", "Read", "Bash", "Grep", "Glob"}

const numEditTools = 2

var readToolWeights = []float64{0.45, 0.35, 0.1, 0.1} // Read, Bash, Grep, Glob

// Permission decisions: decision and source (the CLI's sources: config, hook, classifier,
// user_permanent, user_temporary, user_abort, user_reject).
type decisionKind struct {
	decision, source string
	weight           float64 // within accept or within reject
}

var acceptKinds = []decisionKind{{"accept", "config", 0.4}, {"accept", "user_temporary", 0.35}, {"accept", "user_permanent", 0.25}}
var rejectKinds = []decisionKind{{"reject", "user_reject", 0.8}, {"reject", "config", 0.2}}
var decisionKinds = append(append([]decisionKind{}, acceptKinds...), rejectKinds...)

var languages = []string{"Python", "TypeScript", "JavaScript", "Go", "Rust", "Java", "Markdown", "JSON"}
var languageWeights = []float64{0.3, 0.25, 0.1, 0.1, 0.05, 0.05, 0.1, 0.05}

// Per-developer environment pools (stable per developer).
var terminals = []string{"vscode", "iTerm.app", "Apple_Terminal", "tmux", "xterm-256color", "cursor", "ghostty", "WezTerm"}

type platform struct {
	osType, osVersion, arch string
	weight                  float64
}

var platforms = []platform{
	{"darwin", "24.6.0", "arm64", 0.45},
	{"darwin", "25.1.0", "arm64", 0.15},
	{"linux", "6.8.0-87-generic", "amd64", 0.25},
	{"linux", "6.12.48-1-MANJARO", "amd64", 0.05},
	{"windows", "10.0.26100", "amd64", 0.1},
}

// Startup housekeeping: the bundled plugins every session reports as loaded.
var bundledPlugins = []struct{ name, hash string }{
	{"cc-plugin-agents-md", "da63145d0acbb62d"},
	{"cc-plugin-telemetry", "0452636910a73fd4"},
	{"cc-plugin-privacy", "a2f27f067781660d"},
	{"cc-plugin-plugin-authoring", "559932fe5f722b82"},
}

// API errors: status code, message, whether the CLI retries it (then api_retries_exhausted
// follows api_error, with attempt = retries + 1).
type apiErrorKind struct {
	status    int
	message   string
	retryable bool
	weight    float64
}

var apiErrors = [...]apiErrorKind{
	{529, "Overloaded", true, 0.4},
	{500, "Internal server error", true, 0.25},
	{429, "Number of request tokens has exceeded your per-minute rate limit", true, 0.25},
	{400, "prompt is too long: 210000 tokens > 200000 maximum", false, 0.1},
}

const maxRetries = 10 // CLAUDE_CODE_MAX_RETRIES default

// ---------------------------------------------------------------------------------- series

// A series is one metric with one combination of its own attributes (the session's common
// attributes come on top). group is the summary total it adds to.
type seriesDef struct {
	metric int
	attrs  []byte // pre-encoded data-point attributes (field 7), the CLI's key order
	group  int
	model  int // for cost and token series, else -1
}

// groupDef is one line of a summary total: metric and the values of its groupBy keys.
type groupDef struct {
	metric int
	labels []string
}

type catalogue struct {
	series   []seriesDef
	groups   []groupDef
	groupIdx map[string]int

	session  int       // session.count, start_type fresh
	resume   int       // session.count, start_type resume
	cost     [][][]int // [model][query source][effort]
	tokens   [][][][numTokenTypes]int
	active   [2]int
	lines    [][2]int            // [model][added/removed]
	decision [numEditTools][]int // [tool][decisionKind*len(languages)+language]

	sumTail [2][]byte // per temporality: aggregation_temporality + is_monotonic
}

func newCatalogue() *catalogue {
	c := &catalogue{groupIdx: map[string]int{}}
	for i := range metricDefs {
		d := &metricDefs[i]
		var h []byte
		h = appendStringField(h, fMetricName, d.name)
		h = appendStringField(h, fMetricDesc, d.desc)
		if d.unit != "" {
			h = appendStringField(h, fMetricUnit, d.unit)
		}
		d.header = h
	}
	for i, t := range []uint64{temporalityDelta, temporalityCumulative} {
		var b []byte
		b = appendVarintField(b, fSumTemporality, t)
		c.sumTail[i] = appendVarintField(b, fSumMonotonic, 1)
	}

	c.session = c.add(mSession, -1, []string{"start_type", "fresh"})
	c.resume = c.add(mSession, -1, []string{"start_type", "resume"})
	c.cost = make([][][]int, len(models))
	c.tokens = make([][][][numTokenTypes]int, len(models))
	c.lines = make([][2]int, len(models))
	for mi, m := range models {
		c.cost[mi] = make([][]int, numQuerySources)
		c.tokens[mi] = make([][][numTokenTypes]int, numQuerySources)
		for q := range numQuerySources {
			c.cost[mi][q] = make([]int, len(efforts))
			c.tokens[mi][q] = make([][numTokenTypes]int, len(efforts))
			for e, eff := range efforts {
				kv := []string{"model", m.name, "query_source", querySources[q], "effort", eff}
				c.cost[mi][q][e] = c.add(mCost, mi, kv)
				for t, tt := range tokenTypes {
					c.tokens[mi][q][e][t] = c.add(mTokens, mi, append(kv[:6:6], "type", tt))
				}
			}
		}
		for t, lt := range locTypes {
			c.lines[mi][t] = c.add(mLines, -1, []string{"type", lt, "model", m.name})
		}
	}
	for t, at := range activeTypes {
		c.active[t] = c.add(mActive, -1, []string{"type", at})
	}
	for ti := range numEditTools {
		for _, k := range decisionKinds {
			for _, lang := range languages {
				c.decision[ti] = append(c.decision[ti], c.add(mDecision, -1, []string{
					"decision", k.decision, "source", k.source, "tool_name", tools[ti], "language", lang}))
			}
		}
	}
	return c
}

// add registers a series with its own attributes (key, value pairs) and returns its index.
func (c *catalogue) add(metric, modelIdx int, kv []string) int {
	var attrs []byte
	vals := map[string]string{}
	for i := 0; i < len(kv); i += 2 {
		attrs = appendKVString(attrs, fPointAttrs, kv[i], kv[i+1])
		vals[kv[i]] = kv[i+1]
	}
	labels := make([]string, len(metricDefs[metric].groupBy))
	for i, k := range metricDefs[metric].groupBy {
		labels[i] = vals[k]
	}
	key := fmt.Sprint(metric, labels)
	g, ok := c.groupIdx[key]
	if !ok {
		g = len(c.groups)
		c.groups = append(c.groups, groupDef{metric, labels})
		c.groupIdx[key] = g
	}
	c.series = append(c.series, seriesDef{metric: metric, attrs: attrs, group: g, model: modelIdx})
	return len(c.series) - 1
}

// ---------------------------------------------------------------------------------- events

// Event kinds (log record bodies) the simulation emits, for accounting.
const (
	evUserPrompt = iota
	evAPIRequest
	evAPIError
	evRetriesExhausted
	evToolDecision
	evToolResult
	evAssistantResponse
	evPluginLoaded
	evManagedSettings
	numEventKinds
)

var eventNames = [numEventKinds]string{
	"user_prompt", "api_request", "api_error", "api_retries_exhausted", "tool_decision",
	"tool_result", "assistant_response", "plugin_loaded", "managed_settings_resolved",
}

// eventBodies holds each kind's pre-encoded body (field 5: AnyValue{string "claude_code.<name>"}).
var eventBodies = func() (out [numEventKinds][]byte) {
	for i, n := range eventNames {
		var any []byte
		any = appendStringField(any, fAnyString, "claude_code."+n)
		out[i] = appendBytesField(nil, fLogBody, any)
	}
	return out
}()
