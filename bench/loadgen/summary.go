package main

// The run's summary: JSON for benches (schema in README.md) and one line for people.

import (
	"fmt"
	"strconv"
	"syscall"
	"time"
)

const summarySchema = "stackkit.loadgen.summary/v1"

type cpuUsage struct {
	user, sys time.Duration
	maxRSSKiB int64
}

func readCPU() cpuUsage {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return cpuUsage{}
	}
	return cpuUsage{
		user:      time.Duration(ru.Utime.Nano()),
		sys:       time.Duration(ru.Stime.Nano()),
		maxRSSKiB: ru.Maxrss,
	}
}

type group struct {
	labels map[string]string
	value  float64
}

func (r *run) summary(a *acct, cpu0, cpu1 cpuUsage) map[string]any {
	cfg := r.cfg
	wall := r.finishedAt.Sub(r.startedAt).Seconds()
	user := (cpu1.user - cpu0.user).Seconds()
	sys := (cpu1.sys - cpu0.sys).Seconds()
	cores := 0.0
	if wall > 0 {
		cores = (user + sys) / wall
	}

	requests := map[string]any{}
	latency := map[string]any{}
	for s := range numSignals {
		var all ioStats
		bySig := map[string]any{}
		for p := range numProtocols {
			st := a.io[s][p]
			if st.Reasons == nil {
				st.Reasons = map[string]int64{}
			}
			all.merge(&st)
			bySig[protocolNames[p]] = st
		}
		if all.Reasons == nil {
			all.Reasons = map[string]int64{}
		}
		bySig["all"] = all
		requests[signalNames[s]] = bySig
		latency[signalNames[s]] = histJSON(&a.latency[s])
	}

	metrics := map[string]any{}
	for m := range numMetrics {
		def := metricDefs[m]
		groups := []map[string]any{}
		total := 0.0
		for g, gd := range r.cat.groups {
			if gd.metric != m || a.groups[g] == 0 {
				continue
			}
			row := map[string]any{"value": a.groups[g]}
			for i, k := range def.groupBy {
				row[k] = gd.labels[i]
			}
			groups = append(groups, row)
			total += a.groups[g]
		}
		metrics[def.name] = map[string]any{"unit": def.unit, "group_by": def.groupBy, "total": total, "groups": groups}
	}
	perTeam := map[string]any{}
	for t := range cfg.Teams {
		if a.teamCost[t] == 0 && a.teamTokens[t] == 0 && a.teamSessions[t] == 0 {
			continue
		}
		perTeam[teamName(t)] = map[string]any{
			"department": cfg.Departments[t%len(cfg.Departments)],
			"cost_usd":   a.teamCost[t], "tokens": a.teamTokens[t], "sessions": a.teamSessions[t],
		}
	}
	perUser := map[string]any{}
	for i, d := range r.devs {
		if a.userCost[i] != 0 {
			perUser[d.userID] = map[string]any{"team.id": teamName(d.team), "cost_usd": a.userCost[i]}
		}
	}
	byBody := map[string]int64{}
	var nEvents int64
	for k, n := range a.events.count {
		if n > 0 {
			byBody["claude_code."+eventNames[k]] = n
			nEvents += n
		}
	}
	byStatus := map[string]int64{}
	for k, n := range a.events.apiError {
		if n > 0 {
			byStatus[strconv.Itoa(apiErrors[k].status)] += n
		}
	}
	toolResults := []map[string]any{}
	for t, byOK := range a.events.toolResult {
		for ok, n := range byOK {
			if n > 0 {
				toolResults = append(toolResults, map[string]any{
					"tool_name": tools[t], "success": strconv.FormatBool(ok == 1), "count": n})
			}
		}
	}

	return map[string]any{
		"schema": summarySchema,
		"config": cfg.describe(),
		"run": map[string]any{
			"started":       r.startedAt.UTC().Format(time.RFC3339Nano),
			"stopped":       r.stoppedAt.UTC().Format(time.RFC3339Nano),
			"finished":      r.finishedAt.UTC().Format(time.RFC3339Nano),
			"wall_seconds":  wall,
			"drain_seconds": r.finishedAt.Sub(r.stoppedAt).Seconds(),
			"stop_reason":   r.stopReason,
			"drained":       r.drainTimely,
		},
		"cpu": map[string]any{
			"user_seconds":              user,
			"system_seconds":            sys,
			"cores":                     cores,
			"cores_per_1000_developers": cores * 1000 / float64(cfg.Developers),
			"max_rss_mib":               float64(cpu1.maxRSSKiB) / 1024,
		},
		"sessions": map[string]any{
			"started":    a.sessionsStarted,
			"finished":   a.sessionsFinished,
			"cut_short":  a.sessionsCut,
			"abandoned":  a.sessionsAbandoned,
			"cumulative": a.sessionsCumulative,
			"delta":      a.sessionsStarted - a.sessionsCumulative,
			"resumed":    a.sessionsResumed,
		},
		"requests":        requests,
		"latency_ms":      latency,
		"schedule_lag_ms": histJSON(&r.lagHist),
		"accepted": map[string]any{
			"exact":    !a.inexact,
			"metrics":  metrics,
			"per_team": perTeam,
			"per_user": perUser,
			"events": map[string]any{
				"total":                           nEvents,
				"by_body":                         byBody,
				"api_error_by_status_code":        byStatus,
				"tool_result_by_tool_and_success": toolResults,
			},
		},
	}
}

func histJSON(h *hist) map[string]any {
	var n int64
	for _, c := range h.counts {
		n += c
	}
	mean := 0.0
	if n > 0 {
		mean = h.sum / float64(n)
	}
	buckets := map[string]int64{}
	for i, c := range h.counts {
		if c > 0 {
			buckets["le_"+strconv.FormatFloat(histBounds[i], 'g', -1, 64)] = c
		}
	}
	return map[string]any{"count": n, "mean": mean, "p50": h.quantile(0.5), "p90": h.quantile(0.9),
		"p99": h.quantile(0.99), "max": h.max, "buckets": buckets}
}

// oneLine is the human summary printed on stderr.
func oneLine(r *run, a *acct, sum map[string]any) string {
	req := func(s int) (st ioStats) {
		for p := range numProtocols {
			st.merge(&a.io[s][p])
		}
		return st
	}
	m, l := req(sigMetrics), req(sigLogs)
	cpu := sum["cpu"].(map[string]any)
	return fmt.Sprintf("loadgen: %d developers, %.1fs (stop: %s); sessions %d started (%d resumed), %d finished;"+
		" metrics %d requests (%d accepted, %d refused) %d points (%d accepted);"+
		" logs %d requests (%d accepted, %d refused) %d events (%d accepted);"+
		" cpu %.2fs = %.3f cores (%.3f per 1000 developers)",
		r.cfg.Developers, r.finishedAt.Sub(r.startedAt).Seconds(), r.stopReason,
		a.sessionsStarted, a.sessionsResumed, a.sessionsFinished,
		m.Requests, m.Accepted, m.Refused, m.Items, m.ItemsAccepted,
		l.Requests, l.Accepted, l.Refused, l.Items, l.ItemsAccepted,
		cpu["user_seconds"].(float64)+cpu["system_seconds"].(float64), cpu["cores"].(float64),
		cpu["cores_per_1000_developers"].(float64))
}
