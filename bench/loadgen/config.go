package main

// Command-line flags, their validation and the loopback-only rule for endpoints.

import (
	"errors"
	"flag"
	"fmt"
	"net"
	"net/url"
	"os"
	"strings"
	"time"
)

// defaultCLIVersion is stamped by tools/build-loadgen.sh from stackkit/versions.py.
var defaultCLIVersion = "2.1.332"

type config struct {
	Developers         int
	Teams              int
	Departments        []string
	ResourceAttributes [][2]string
	ResourceAttrsText  string
	CLIVersion         string
	Interval           time.Duration
	LogsInterval       time.Duration
	Ramp               time.Duration
	SessionMin         int
	SessionMax         int
	ThinkMin           float64
	ThinkMax           float64
	Prompts            float64
	RequestsPerPrompt  float64
	ToolShare          float64
	EditShare          float64
	RejectShare        float64
	ToolFailShare      float64
	APIErrorRate       float64
	SubagentShare      float64
	AuxiliaryShare     float64
	CumulativeShare    float64
	ResumeShare        float64
	HTTPShare          float64
	GRPCEndpoint       string
	HTTPEndpoint       string
	AllowRemote        bool
	Token              string
	TokenSet           bool
	Duration           time.Duration
	MaxSessions        int
	DrainTimeout       time.Duration
	Workers            int
	Tick               time.Duration
	Procs              int
	Conns              int
	Timeout            time.Duration
	Seed               uint64
	SummaryPath        string
	CPUProfile         string

	grpcTarget string // host:port
	httpBase   string // scheme://host:port
}

func parseConfig(args []string) (*config, error) {
	c := &config{}
	fs := flag.NewFlagSet("loadgen", flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: loadgen -developers N (-duration D | -max-sessions N) [flags]\n"+
			"Simulates Claude Code clients sending OTLP metrics and events; see README.md.\n\n")
		fs.PrintDefaults()
	}
	var departments, tokenEnv string
	fs.IntVar(&c.Developers, "developers", 100, "simulated developers (each runs sessions back to back)")
	fs.IntVar(&c.Teams, "teams", 10, "team.id pool size (team-001 ...); a developer belongs to one team")
	fs.StringVar(&departments, "departments", "engineering,platform,data,product", "department pool (a team's department is fixed)")
	fs.StringVar(&c.ResourceAttrsText, "resource-attributes", "", "extra resource attributes, OTEL_RESOURCE_ATTRIBUTES syntax (k=v,k=v)")
	fs.StringVar(&c.CLIVersion, "cli-version", defaultCLIVersion, "service.version and scope version")
	fs.DurationVar(&c.Interval, "interval", 60*time.Second, "metrics export interval; stands for the CLI's 60 s")
	fs.DurationVar(&c.LogsInterval, "logs-interval", 0, "events export interval (default interval/12, the CLI's 5 s)")
	fs.DurationVar(&c.Ramp, "ramp", 0, "developers start their first session spread over this time (default one interval)")
	fs.IntVar(&c.SessionMin, "session-min", 3, "shortest session, in export intervals")
	fs.IntVar(&c.SessionMax, "session-max", 10, "longest session, in export intervals")
	fs.Float64Var(&c.ThinkMin, "think-min", 0.5, "shortest gap between two sessions, in intervals")
	fs.Float64Var(&c.ThinkMax, "think-max", 3, "longest gap between two sessions, in intervals")
	fs.Float64Var(&c.Prompts, "prompts", 1.5, "mean user prompts per session per interval (Poisson)")
	fs.Float64Var(&c.RequestsPerPrompt, "requests-per-prompt", 3, "mean API requests per prompt")
	fs.Float64Var(&c.ToolShare, "tool-share", 0.6, "share of API requests (but a prompt's last) followed by a tool call")
	fs.Float64Var(&c.EditShare, "edit-share", 0.35, "share of tool calls that are Write/Edit")
	fs.Float64Var(&c.RejectShare, "reject-share", 0.08, "share of tool calls rejected")
	fs.Float64Var(&c.ToolFailShare, "tool-fail-share", 0.05, "share of accepted tool calls that fail")
	fs.Float64Var(&c.APIErrorRate, "api-error-rate", 0.02, "share of API requests failing for good (api_error)")
	fs.Float64Var(&c.SubagentShare, "subagent-share", 0.15, "share of API requests with query_source subagent")
	fs.Float64Var(&c.AuxiliaryShare, "auxiliary-share", 0.05, "share of API requests with query_source auxiliary")
	fs.Float64Var(&c.CumulativeShare, "cumulative-share", 0, "share of sessions exporting cumulative sums (the CLI's default is delta)")
	fs.Float64Var(&c.ResumeShare, "resume-share", 0, "share of ended sessions the developer resumes at once (claude --resume: a new process under the same session.id)")
	fs.Float64Var(&c.HTTPShare, "http-share", 0.5, "share of developers using OTLP/HTTP protobuf (the rest gRPC)")
	fs.StringVar(&c.GRPCEndpoint, "grpc-endpoint", "127.0.0.1:4317", "OTLP/gRPC endpoint (host:port or http://host:port)")
	fs.StringVar(&c.HTTPEndpoint, "http-endpoint", "http://127.0.0.1:4318", "OTLP/HTTP base URL (/v1/metrics and /v1/logs are appended)")
	fs.BoolVar(&c.AllowRemote, "allow-remote", false, "allow endpoints that are not loopback addresses")
	fs.StringVar(&c.Token, "token", "", "bearer token (Authorization: Bearer <token>); default from -token-env")
	fs.StringVar(&tokenEnv, "token-env", "STACKKIT_OTLP_TOKEN", "environment variable holding the bearer token")
	fs.DurationVar(&c.Duration, "duration", 0, "stop after this long (open sessions are flushed and ended)")
	fs.IntVar(&c.MaxSessions, "max-sessions", 0, "start at most this many sessions in all, then stop once they end")
	fs.DurationVar(&c.DrainTimeout, "drain-timeout", 30*time.Second, "after the stop, give up on sessions not flushed within this time")
	fs.IntVar(&c.Workers, "workers", 32, "worker goroutines (bounds requests in flight)")
	fs.DurationVar(&c.Tick, "tick", -1, "scheduling granularity: due work goes out in bursts on tick boundaries, far fewer wake-ups (default min(100ms, interval/100); 0: exact times)")
	fs.IntVar(&c.Procs, "procs", 0, "GOMAXPROCS: OS threads running Go code (0: Go's default, one per core)")
	fs.IntVar(&c.Conns, "conns", 4, "shared gRPC connections (HTTP keeps up to -workers); 0: one connection per session, like real processes")
	fs.DurationVar(&c.Timeout, "timeout", 10*time.Second, "per-request timeout (the CLI's exporter default)")
	fs.Uint64Var(&c.Seed, "seed", 1, "random seed: same seed, same developers and sessions")
	fs.StringVar(&c.SummaryPath, "summary", "", "write the JSON summary to this file")
	fs.StringVar(&c.CPUProfile, "cpuprofile", "", "write a Go CPU profile of the run to this file")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected arguments: %v", fs.Args())
	}
	for _, d := range strings.Split(departments, ",") {
		if d = strings.TrimSpace(d); d != "" {
			c.Departments = append(c.Departments, d)
		}
	}
	if c.Token == "" && tokenEnv != "" {
		c.Token = os.Getenv(tokenEnv)
	}
	c.TokenSet = c.Token != ""
	if c.LogsInterval == 0 {
		c.LogsInterval = c.Interval / 12
	}
	if c.Tick < 0 {
		c.Tick = min(100*time.Millisecond, c.Interval/100)
	}
	if c.Ramp == 0 {
		c.Ramp = c.Interval
	}
	attrs, err := parseResourceAttributes(c.ResourceAttrsText)
	if err != nil {
		return nil, err
	}
	c.ResourceAttributes = attrs
	return c, c.validate()
}

// describe is the configuration as the summary reports it (never the token itself).
func (c *config) describe() map[string]any {
	return map[string]any{
		"developers": c.Developers, "teams": c.Teams, "departments": c.Departments,
		"resource_attributes": c.ResourceAttrsText, "cli_version": c.CLIVersion,
		"interval_seconds": c.Interval.Seconds(), "logs_interval_seconds": c.LogsInterval.Seconds(),
		"ramp_seconds": c.Ramp.Seconds(), "duration_seconds": c.Duration.Seconds(),
		"max_sessions": c.MaxSessions, "drain_timeout_seconds": c.DrainTimeout.Seconds(),
		"session_min_intervals": c.SessionMin, "session_max_intervals": c.SessionMax,
		"think_min_intervals": c.ThinkMin, "think_max_intervals": c.ThinkMax,
		"prompts_per_interval": c.Prompts, "requests_per_prompt": c.RequestsPerPrompt,
		"tool_share": c.ToolShare, "edit_share": c.EditShare, "reject_share": c.RejectShare,
		"tool_fail_share": c.ToolFailShare, "api_error_rate": c.APIErrorRate,
		"subagent_share": c.SubagentShare, "auxiliary_share": c.AuxiliaryShare,
		"cumulative_share": c.CumulativeShare, "resume_share": c.ResumeShare, "http_share": c.HTTPShare,
		"grpc_endpoint": c.GRPCEndpoint, "http_endpoint": c.HTTPEndpoint, "allow_remote": c.AllowRemote,
		"token_set": c.TokenSet, "workers": c.Workers, "procs": c.Procs, "tick_seconds": c.Tick.Seconds(), "conns": c.Conns,
		"timeout_seconds": c.Timeout.Seconds(), "seed": c.Seed,
	}
}

func (c *config) validate() error {
	var errs []error
	check := func(ok bool, format string, a ...any) {
		if !ok {
			errs = append(errs, fmt.Errorf(format, a...))
		}
	}
	check(c.Developers > 0, "-developers must be at least 1")
	check(c.Teams > 0, "-teams must be at least 1")
	check(len(c.Departments) > 0, "-departments must name at least one department")
	check(c.Interval >= 10*time.Millisecond, "-interval must be at least 10ms")
	check(c.LogsInterval > 0 && c.LogsInterval <= c.Interval, "-logs-interval must be in (0, interval]")
	check(c.Interval/c.LogsInterval <= 240, "-logs-interval must be at least interval/240")
	check(c.SessionMin >= 1 && c.SessionMax >= c.SessionMin, "need 1 <= -session-min <= -session-max")
	check(c.ThinkMin >= 0 && c.ThinkMax >= c.ThinkMin, "need 0 <= -think-min <= -think-max")
	check(c.Prompts >= 0 && c.RequestsPerPrompt >= 1, "need -prompts >= 0 and -requests-per-prompt >= 1")
	for name, v := range map[string]float64{
		"tool-share": c.ToolShare, "edit-share": c.EditShare, "reject-share": c.RejectShare,
		"tool-fail-share": c.ToolFailShare, "api-error-rate": c.APIErrorRate,
		"cumulative-share": c.CumulativeShare, "resume-share": c.ResumeShare, "http-share": c.HTTPShare,
		"subagent-share": c.SubagentShare, "auxiliary-share": c.AuxiliaryShare,
	} {
		check(v >= 0 && v <= 1, "-%s must be between 0 and 1", name)
	}
	check(c.SubagentShare+c.AuxiliaryShare <= 1, "-subagent-share + -auxiliary-share must not exceed 1")
	check(c.Duration > 0 || c.MaxSessions > 0, "the run must be bounded: give -duration and/or -max-sessions")
	check(c.Duration >= 0 && c.MaxSessions >= 0, "-duration and -max-sessions must not be negative")
	check(c.Workers >= 1, "-workers must be at least 1")
	check(c.Procs >= 0, "-procs must not be negative")
	check(c.Tick >= 0 && c.Tick <= c.LogsInterval, "-tick must be in [0, logs interval]")
	check(c.Conns >= 0, "-conns must not be negative")
	check(c.Timeout > 0 && c.DrainTimeout > 0, "-timeout and -drain-timeout must be positive")
	if c.HTTPShare < 1 {
		target, err := grpcTarget(c.GRPCEndpoint, c.AllowRemote)
		check(err == nil, "-grpc-endpoint: %v", err)
		c.grpcTarget = target
	}
	if c.HTTPShare > 0 {
		base, err := httpBase(c.HTTPEndpoint, c.AllowRemote)
		check(err == nil, "-http-endpoint: %v", err)
		c.httpBase = base
	}
	return errors.Join(errs...)
}

var errNotLoopback = errors.New("is not a loopback address (refused: this tool only loads local stacks; -allow-remote overrides)")

// checkHost accepts "localhost" and loopback IP literals; other names are not resolved, so a
// name that happens to resolve elsewhere can never be loaded by accident.
func checkHost(host string, allowRemote bool) error {
	if host == "" {
		return errors.New("no host")
	}
	if allowRemote {
		return nil
	}
	if strings.EqualFold(host, "localhost") {
		return nil
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() {
		return nil
	}
	return fmt.Errorf("%q %w", host, errNotLoopback)
}

func grpcTarget(endpoint string, allowRemote bool) (string, error) {
	hostport := endpoint
	if strings.Contains(endpoint, "://") {
		u, err := url.Parse(endpoint)
		if err != nil {
			return "", err
		}
		if u.Scheme != "http" && u.Scheme != "grpc" {
			return "", fmt.Errorf("scheme %q not supported (plain-text gRPC only)", u.Scheme)
		}
		hostport = u.Host
	}
	host, port, err := net.SplitHostPort(hostport)
	if err != nil {
		return "", err
	}
	if port == "" {
		return "", errors.New("no port")
	}
	return hostport, checkHost(host, allowRemote)
}

func httpBase(endpoint string, allowRemote bool) (string, error) {
	u, err := url.Parse(endpoint)
	if err != nil {
		return "", err
	}
	if u.Scheme != "http" {
		return "", fmt.Errorf("scheme %q not supported (plain http only)", u.Scheme)
	}
	if err := checkHost(u.Hostname(), allowRemote); err != nil {
		return "", err
	}
	return strings.TrimRight(u.String(), "/"), nil
}

// parseResourceAttributes reads OTEL_RESOURCE_ATTRIBUTES syntax: k=v pairs, comma separated,
// values percent-decoded.
func parseResourceAttributes(s string) ([][2]string, error) {
	var out [][2]string
	for _, part := range strings.Split(s, ",") {
		if strings.TrimSpace(part) == "" {
			continue
		}
		k, v, ok := strings.Cut(part, "=")
		if !ok || strings.TrimSpace(k) == "" {
			return nil, fmt.Errorf("-resource-attributes: %q is not key=value", part)
		}
		dv, err := url.PathUnescape(strings.TrimSpace(v))
		if err != nil {
			return nil, fmt.Errorf("-resource-attributes: %q: %v", part, err)
		}
		k = strings.TrimSpace(k)
		if k == "team.id" || k == "department" {
			return nil, fmt.Errorf("-resource-attributes: %s comes from -teams/-departments", k)
		}
		out = append(out, [2]string{k, dv})
	}
	return out, nil
}
