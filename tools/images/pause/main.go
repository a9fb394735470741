// Command pause is the pod sandbox process of the tests' Kubernetes node (tests/fixtures/kube.py).
//
// Like the upstream pause image, it holds the pod's namespaces open and does nothing else: it
// waits for SIGTERM or SIGINT and exits 0, and, running as PID 1 of a pod that shares its process
// namespace, reaps every child that is re-parented to it. The fixture builds it as a static binary
// (stdlib only) and packs it into an image without Docker, because no registry is reachable.
package main

import (
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

// version is stamped at build time (-X main.version=...).
var version = "dev"

func main() {
	if len(os.Args) > 1 && (os.Args[1] == "-v" || os.Args[1] == "--version") {
		fmt.Println("stackkit pause", version)
		return
	}
	signals := make(chan os.Signal, 8)
	signal.Notify(signals, syscall.SIGTERM, syscall.SIGINT, syscall.SIGCHLD)
	for sig := range signals {
		switch sig {
		case syscall.SIGCHLD:
			reap()
		default:
			os.Exit(0)
		}
	}
}

// reap collects every exited child without blocking.
func reap() {
	for {
		var status syscall.WaitStatus
		pid, err := syscall.Wait4(-1, &status, syscall.WNOHANG, nil)
		if pid <= 0 || err != nil {
			return
		}
	}
}
