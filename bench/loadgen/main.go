// Command loadgen simulates a fleet of developers running Claude Code: every session sends the
// OTLP metrics and events the real CLI sends (same names, units, attribute keys, value types,
// temporality, export rhythm), over OTLP/gRPC and OTLP/HTTP protobuf, to a local stack, and
// accounts exactly for what the stack accepted. See README.md.
package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"syscall"
	"time"
)

func main() {
	os.Exit(mainExit(os.Args[1:]))
}

func mainExit(args []string) int {
	if len(args) > 0 && args[0] == "sink" {
		return sinkMain(args[1:])
	}
	cfg, err := parseConfig(args)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "loadgen: %v\n", err)
		return 2
	}
	r, err := newRun(cfg)
	if err != nil {
		fmt.Fprintf(os.Stderr, "loadgen: %v\n", err)
		return 2
	}
	defer r.close()

	signals := make(chan os.Signal, 2)
	signal.Notify(signals, syscall.SIGINT, syscall.SIGTERM)
	defer signal.Stop(signals)
	go func() {
		n := 0
		for sig := range signals {
			n++
			if n == 1 {
				fmt.Fprintf(os.Stderr, "loadgen: %v: flushing open sessions (again to abandon them)\n", sig)
				r.requestStop(sig.String())
			} else {
				r.requestAbandon()
			}
		}
	}()
	if cfg.Duration > 0 {
		t := time.AfterFunc(cfg.Duration, func() { r.requestStop("duration") })
		defer t.Stop()
	}

	fmt.Fprintf(os.Stderr, "loadgen: %d developers, interval %v (events %v), %.0f%% http, %.0f%% cumulative, %.0f%% resumed, grpc %s, http %s\n",
		cfg.Developers, cfg.Interval, cfg.LogsInterval, cfg.HTTPShare*100, cfg.CumulativeShare*100, cfg.ResumeShare*100,
		cfg.grpcTarget, cfg.httpBase)
	if cfg.CPUProfile != "" {
		f, err := os.Create(cfg.CPUProfile)
		if err != nil {
			fmt.Fprintf(os.Stderr, "loadgen: %v\n", err)
			return 2
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			fmt.Fprintf(os.Stderr, "loadgen: %v\n", err)
			return 2
		}
	}
	if cfg.Procs > 0 {
		runtime.GOMAXPROCS(cfg.Procs)
	}
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(400) // memory is cheap here, CPU is what is measured
	}
	cpu0 := readCPU()
	r.loop()
	cpu1 := readCPU()
	if cfg.CPUProfile != "" {
		pprof.StopCPUProfile()
	}

	total := newAcct(r.cat, cfg)
	for _, w := range r.workers {
		total.merge(w.acct)
	}
	sum := r.summary(total, cpu0, cpu1)
	fmt.Fprintln(os.Stderr, oneLine(r, total, sum))
	if cfg.SummaryPath != "" {
		data, err := json.MarshalIndent(sum, "", "  ")
		if err == nil {
			err = os.WriteFile(cfg.SummaryPath, append(data, '\n'), 0o644)
		}
		if err != nil {
			fmt.Fprintf(os.Stderr, "loadgen: writing the summary: %v\n", err)
			return 1
		}
	}
	if !r.drainTimely {
		fmt.Fprintf(os.Stderr, "loadgen: %d sessions abandoned (drain timed out or second signal)\n", total.sessionsAbandoned)
		return 1
	}
	return 0
}
