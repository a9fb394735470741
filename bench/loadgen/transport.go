package main

// Sending an encoded OTLP request over HTTP/protobuf or gRPC, once (the CLI does not retry a
// refused batch), and classifying the answer: accepted, accepted with rejected items (OTLP
// partial success) or refused (an error status, or no answer at all).

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/mem"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

const (
	sigMetrics = iota
	sigLogs
	numSignals
)

const (
	protoGRPC = iota
	protoHTTP
	numProtocols
)

var signalNames = [numSignals]string{"metrics", "logs"}
var protocolNames = [numProtocols]string{"grpc", "http"}

type outcome struct {
	accepted bool
	rejected int64  // items the server rejected in an accepted request (partial success)
	reason   string // why a request was refused: "http_401", "grpc_Unauthenticated", "transport", ...
}

type sender interface {
	send(ctx context.Context, signal int, body []byte) outcome
	close()
}

// ------------------------------------------------------------------------------------ HTTP

type httpSender struct {
	client *http.Client
	urls   [numSignals]string
	auth   string
}

func newHTTPSender(cfg *config, idle int) *httpSender {
	tr := &http.Transport{
		DialContext:         (&net.Dialer{Timeout: cfg.Timeout, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:        idle,
		MaxIdleConnsPerHost: idle,
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true,
		WriteBufferSize:     64 << 10, // headers and body in one write
	}
	s := &httpSender{
		client: &http.Client{Transport: tr, Timeout: cfg.Timeout},
		urls:   [numSignals]string{cfg.httpBase + "/v1/metrics", cfg.httpBase + "/v1/logs"},
	}
	if cfg.Token != "" {
		s.auth = "Bearer " + cfg.Token
	}
	return s
}

func (s *httpSender) send(ctx context.Context, signal int, body []byte) outcome {
	// The transport may still read the body after a refusal; give it its own copy.
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.urls[signal], bytes.NewReader(bytes.Clone(body)))
	if err != nil {
		return outcome{reason: "transport"}
	}
	req.Header.Set("Content-Type", "application/x-protobuf")
	req.Header.Set("User-Agent", userAgent)
	if s.auth != "" {
		req.Header.Set("Authorization", s.auth)
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return outcome{reason: transportReason(ctx, err)}
	}
	data, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	_ = resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return outcome{reason: "http_" + strconv.Itoa(resp.StatusCode)}
	}
	o := outcome{accepted: true}
	if strings.Contains(resp.Header.Get("Content-Type"), "protobuf") {
		o.rejected, _ = readPartialSuccess(data)
	}
	return o
}

func (s *httpSender) close() { s.client.CloseIdleConnections() }

// ------------------------------------------------------------------------------------ gRPC

var grpcMethods = [numSignals]string{
	"/opentelemetry.proto.collector.metrics.v1.MetricsService/Export",
	"/opentelemetry.proto.collector.logs.v1.LogsService/Export",
}

// rawCodec sends already-encoded protobuf bytes and hands back the response bytes. Its name is
// "proto", so the content type is the usual application/grpc+proto.
type rawCodec struct{}

func (rawCodec) Marshal(v any) (mem.BufferSlice, error) {
	// A copy: the transport may hold the buffer after a refused call returns.
	return mem.BufferSlice{mem.SliceBuffer(bytes.Clone(*v.(*[]byte)))}, nil
}

func (rawCodec) Unmarshal(data mem.BufferSlice, v any) error {
	*v.(*[]byte) = data.Materialize()
	return nil
}

func (rawCodec) Name() string { return "proto" }

type grpcSender struct {
	conn *grpc.ClientConn
	md   metadata.MD
	opts []grpc.CallOption
}

func newGRPCSender(cfg *config) (*grpcSender, error) {
	conn, err := grpc.NewClient("passthrough:///"+cfg.grpcTarget,
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithUserAgent(userAgent),
	)
	if err != nil {
		return nil, err
	}
	s := &grpcSender{conn: conn, opts: []grpc.CallOption{grpc.ForceCodecV2(rawCodec{})}}
	if cfg.Token != "" {
		s.md = metadata.Pairs("authorization", "Bearer "+cfg.Token)
	}
	return s, nil
}

func (s *grpcSender) send(ctx context.Context, signal int, body []byte) outcome {
	if s.md != nil {
		ctx = metadata.NewOutgoingContext(ctx, s.md)
	}
	var resp []byte
	if err := s.conn.Invoke(ctx, grpcMethods[signal], &body, &resp, s.opts...); err != nil {
		if ctx.Err() != nil {
			return outcome{reason: transportReason(ctx, ctx.Err())}
		}
		return outcome{reason: "grpc_" + status.Code(err).String()}
	}
	o := outcome{accepted: true}
	o.rejected, _ = readPartialSuccess(resp)
	return o
}

func (s *grpcSender) close() { _ = s.conn.Close() }

func transportReason(ctx context.Context, err error) string {
	switch {
	case errors.Is(ctx.Err(), context.Canceled):
		return "canceled"
	case errors.Is(err, context.DeadlineExceeded) || errors.Is(ctx.Err(), context.DeadlineExceeded):
		return "timeout"
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return "timeout"
	}
	return "transport"
}
