package main

// `loadgen sink`: a fast OTLP sink (gRPC and HTTP/protobuf) for measuring the generator alone.
// It counts requests, data points and log records (a protobuf walk, no decoding into objects),
// optionally requires a bearer token (401 / UNAUTHENTICATED otherwise), and prints its counts
// and its own CPU time as JSON on stdout when it gets SIGINT or SIGTERM.

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"sync/atomic"
	"syscall"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

type sinkCounts struct {
	requests, refused, items, bytes [numSignals][numProtocols]atomic.Int64
}

func sinkMain(args []string) int {
	fs := flag.NewFlagSet("loadgen sink", flag.ContinueOnError)
	grpcAddr := fs.String("grpc", "127.0.0.1:4317", "gRPC listen address (empty: none)")
	httpAddr := fs.String("http", "127.0.0.1:4318", "HTTP listen address (empty: none)")
	token := fs.String("token", "", "require Authorization: Bearer <token>")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	var c sinkCounts
	auth := ""
	if *token != "" {
		auth = "Bearer " + *token
	}
	cpu0, t0 := readCPU(), time.Now()

	if *grpcAddr != "" {
		lis, err := net.Listen("tcp", *grpcAddr)
		if err != nil {
			fmt.Fprintf(os.Stderr, "sink: %v\n", err)
			return 1
		}
		srv := grpc.NewServer(grpc.ForceServerCodecV2(rawCodec{}),
			grpc.UnknownServiceHandler(func(_ any, stream grpc.ServerStream) error {
				method, _ := grpc.MethodFromServerStream(stream)
				sig := sigMetrics
				if method == grpcMethods[sigLogs] {
					sig = sigLogs
				} else if method != grpcMethods[sigMetrics] {
					return status.Error(codes.Unimplemented, method)
				}
				var body []byte
				if err := stream.RecvMsg(&body); err != nil {
					return err
				}
				c.requests[sig][protoGRPC].Add(1)
				c.bytes[sig][protoGRPC].Add(int64(len(body)))
				if auth != "" {
					md, _ := metadata.FromIncomingContext(stream.Context())
					if v := md.Get("authorization"); len(v) != 1 || v[0] != auth {
						c.refused[sig][protoGRPC].Add(1)
						return status.Error(codes.Unauthenticated, "sink: bad token")
					}
				}
				c.items[sig][protoGRPC].Add(countItems(sig, body))
				empty := []byte{}
				return stream.SendMsg(&empty)
			}))
		go func() { _ = srv.Serve(lis) }()
		defer srv.Stop()
		fmt.Fprintf(os.Stderr, "sink: gRPC on %s\n", lis.Addr())
	}
	if *httpAddr != "" {
		lis, err := net.Listen("tcp", *httpAddr)
		if err != nil {
			fmt.Fprintf(os.Stderr, "sink: %v\n", err)
			return 1
		}
		mux := http.NewServeMux()
		for sig, path := range map[int]string{sigMetrics: "/v1/metrics", sigLogs: "/v1/logs"} {
			mux.HandleFunc("POST "+path, func(w http.ResponseWriter, req *http.Request) {
				body, _ := io.ReadAll(req.Body)
				c.requests[sig][protoHTTP].Add(1)
				c.bytes[sig][protoHTTP].Add(int64(len(body)))
				if auth != "" && req.Header.Get("Authorization") != auth {
					c.refused[sig][protoHTTP].Add(1)
					http.Error(w, "sink: bad token", http.StatusUnauthorized)
					return
				}
				c.items[sig][protoHTTP].Add(countItems(sig, body))
				w.Header().Set("Content-Type", "application/x-protobuf")
				w.WriteHeader(http.StatusOK)
			})
		}
		srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
		go func() { _ = srv.Serve(lis) }()
		defer srv.Close()
		fmt.Fprintf(os.Stderr, "sink: HTTP on %s\n", lis.Addr())
	}

	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	<-sigs
	cpu1 := readCPU()
	out := map[string]any{
		"wall_seconds": time.Since(t0).Seconds(),
		"cpu_seconds":  (cpu1.user + cpu1.sys - cpu0.user - cpu0.sys).Seconds(),
	}
	for s := range numSignals {
		for p := range numProtocols {
			out[signalNames[s]+"_"+protocolNames[p]] = map[string]int64{
				"requests": c.requests[s][p].Load(), "refused": c.refused[s][p].Load(),
				"items": c.items[s][p].Load(), "bytes": c.bytes[s][p].Load(),
			}
		}
	}
	_ = json.NewEncoder(os.Stdout).Encode(out)
	return 0
}

// countItems counts the data points (sums, gauges, histograms...) or log records of a request.
func countItems(sig int, body []byte) int64 {
	var n int64
	walk(body, func(f, w int, _ uint64, res []byte) { // resource_metrics / resource_logs
		if f != 1 || w != wireBytes {
			return
		}
		walk(res, func(f, w int, _ uint64, scope []byte) { // scope_metrics / scope_logs
			if f != 2 || w != wireBytes {
				return
			}
			walk(scope, func(f, w int, _ uint64, item []byte) { // metrics / log_records
				if f != 2 || w != wireBytes {
					return
				}
				if sig == sigLogs {
					n++
					return
				}
				walk(item, func(f, w int, _ uint64, data []byte) { // gauge 5, sum 7, histogram 9, ...
					if w != wireBytes || f < 5 || f == 12 {
						return
					}
					walk(data, func(f, w int, _ uint64, _ []byte) {
						if f == 1 && w == wireBytes {
							n++
						}
					})
				})
			})
		})
	})
	return n
}
