// Command grafana-placeholder is a TEST PLACEHOLDER for Grafana, not Grafana.
//
// Grafana cannot be built offline, so stackkit's tests run this tiny stdlib-only HTTP server in an
// image tagged like the real one (grafana/grafana:<GRAFANA_VERSION>, built by
// tools/build-images.sh). It imitates only what the tests look at:
//
//   - it reads [server] http_port and [security] admin_user/admin_password from grafana.ini
//     ($__file{} and $__env{} expanded) and lets GF_* variables override them, as Grafana does;
//   - it listens on :3000 by default;
//   - GET /api/health answers like Grafana: {"commit":...,"database":"ok","version":"<ver>"}, no auth;
//   - GET /metrics, no auth as in Grafana's default, has grafana_build_info in the Prometheus text
//     format (so a Prometheus on the same network can scrape it);
//   - every other endpoint needs HTTP basic auth with GF_SECURITY_ADMIN_USER /
//     GF_SECURITY_ADMIN_PASSWORD (defaults admin/admin; the __FILE variants are honoured);
//   - GET /api/user returns the signed-in admin;
//   - GET /stackkit/files/ lists, and GET /stackkit/files/<absolute path> returns, the files
//     mounted where Grafana reads them: under GF_PATHS_PROVISIONING (/etc/grafana/provisioning),
//     /etc/grafana and GF_PATHS_DATA (/var/lib/grafana, which holds /var/lib/grafana/dashboards).
//     Tests use this to prove that provisioning and dashboards arrived where Grafana looks.
//
// Every response carries the header "X-Stackkit-Placeholder: grafana".
package main

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"sort"
	"strings"
	"sync/atomic"
	"syscall"
	"time"
)

// version is the Grafana version this placeholder stands in for (set with -ldflags -X).
var version = "dev"

const commit = "stackkit-test-placeholder"

func env(name, def string) string {
	if v, ok := os.LookupEnv(name); ok && v != "" {
		return v
	}
	if path := os.Getenv(name + "__FILE"); path != "" {
		if b, err := os.ReadFile(path); err == nil {
			return strings.TrimSpace(string(b))
		}
	}
	return def
}

// iniSettings reads Grafana's ini file (GF_PATHS_CONFIG) as Grafana does for the few settings the
// placeholder uses: "section.key" -> value, with $__file{path} and $__env{NAME} expanded.
func iniSettings() map[string]string {
	out := map[string]string{}
	b, err := os.ReadFile(env("GF_PATHS_CONFIG", "/etc/grafana/grafana.ini"))
	if err != nil {
		return out
	}
	section := ""
	for _, line := range strings.Split(string(b), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, ";") || strings.HasPrefix(line, "#") {
			continue
		}
		if strings.HasPrefix(line, "[") && strings.HasSuffix(line, "]") {
			section = strings.TrimSpace(line[1 : len(line)-1])
			continue
		}
		key, value, ok := strings.Cut(line, "=")
		if !ok {
			continue
		}
		value = strings.TrimSpace(value)
		if strings.HasPrefix(value, "$__file{") && strings.HasSuffix(value, "}") {
			if data, err := os.ReadFile(value[len("$__file{") : len(value)-1]); err == nil {
				value = strings.TrimSpace(string(data))
			}
		} else if strings.HasPrefix(value, "$__env{") && strings.HasSuffix(value, "}") {
			value = os.Getenv(value[len("$__env{") : len(value)-1])
		}
		out[section+"."+strings.TrimSpace(key)] = value
	}
	return out
}

// setting is Grafana's precedence: GF_<SECTION>_<KEY> (or its __FILE), then the ini file, then def.
func setting(ini map[string]string, section, key, def string) string {
	if v, ok := ini[section+"."+key]; ok && v != "" {
		def = v
	}
	return env("GF_"+strings.ToUpper(section)+"_"+strings.ToUpper(key), def)
}

type server struct {
	user, password string
	roots          []string
	requests       atomic.Int64
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

func (s *server) authorized(r *http.Request) bool {
	u, p, ok := r.BasicAuth()
	if !ok {
		return false
	}
	uo := subtle.ConstantTimeCompare([]byte(u), []byte(s.user))
	po := subtle.ConstantTimeCompare([]byte(p), []byte(s.password))
	return uo&po == 1
}

// allowed reports whether the cleaned absolute path lies under one of the served roots.
func (s *server) allowed(p string) bool {
	for _, root := range s.roots {
		if p == root || strings.HasPrefix(p, root+"/") {
			return true
		}
	}
	return false
}

func (s *server) listFiles() []string {
	seen := map[string]bool{}
	var files []string
	for _, root := range s.roots {
		_ = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return nil // unreadable or missing: skip
			}
			if !d.IsDir() && !seen[p] {
				seen[p] = true
				files = append(files, p)
			}
			return nil
		})
	}
	sort.Strings(files)
	return files
}

func (s *server) files(w http.ResponseWriter, r *http.Request) {
	rest := strings.TrimPrefix(r.URL.Path, "/stackkit/files")
	if rest == "" || rest == "/" {
		writeJSON(w, http.StatusOK, map[string]any{"roots": s.roots, "files": s.listFiles()})
		return
	}
	p := filepath.Clean(rest)
	if !s.allowed(p) {
		writeJSON(w, http.StatusForbidden, map[string]string{"message": "path outside the served roots"})
		return
	}
	info, err := os.Stat(p)
	if err != nil {
		writeJSON(w, http.StatusNotFound, map[string]string{"message": err.Error()})
		return
	}
	if info.IsDir() {
		var entries []string
		des, _ := os.ReadDir(p)
		for _, de := range des {
			name := de.Name()
			if de.IsDir() {
				name += "/"
			}
			entries = append(entries, name)
		}
		writeJSON(w, http.StatusOK, map[string]any{"path": p, "entries": entries})
		return
	}
	b, err := os.ReadFile(p)
	if err != nil {
		writeJSON(w, http.StatusInternalServerError, map[string]string{"message": err.Error()})
		return
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	_, _ = w.Write(b)
}

func (s *server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("X-Stackkit-Placeholder", "grafana")
	log.Printf("%s %s", r.Method, r.URL.Path)
	s.requests.Add(1)
	if r.URL.Path == "/metrics" {
		w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
		fmt.Fprintf(w, "# HELP grafana_build_info A metric with a constant '1' value labeled by version.\n")
		fmt.Fprintf(w, "# TYPE grafana_build_info gauge\n")
		fmt.Fprintf(w, "grafana_build_info{edition=\"stackkit-test-placeholder\",version=%q} 1\n", version)
		fmt.Fprintf(w, "# HELP stackkit_placeholder_http_requests_total Requests served by the placeholder.\n")
		fmt.Fprintf(w, "# TYPE stackkit_placeholder_http_requests_total counter\n")
		fmt.Fprintf(w, "stackkit_placeholder_http_requests_total %d\n", s.requests.Load())
		return
	}
	if r.URL.Path == "/api/health" {
		writeJSON(w, http.StatusOK, map[string]any{"commit": commit, "database": "ok", "version": version})
		return
	}
	if !s.authorized(r) {
		w.Header().Set("WWW-Authenticate", `Basic realm="grafana-placeholder"`)
		writeJSON(w, http.StatusUnauthorized, map[string]string{"message": "Unauthorized"})
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		writeJSON(w, http.StatusMethodNotAllowed, map[string]string{"message": "read-only placeholder"})
		return
	}
	switch {
	case r.URL.Path == "/api/user":
		writeJSON(w, http.StatusOK, map[string]any{"id": 1, "login": s.user, "isGrafanaAdmin": true})
	case r.URL.Path == "/stackkit/info":
		writeJSON(w, http.StatusOK, map[string]any{
			"placeholder": true, "stands_in_for": "grafana", "version": version, "roots": s.roots,
		})
	case r.URL.Path == "/stackkit/files" || strings.HasPrefix(r.URL.Path, "/stackkit/files/"):
		s.files(w, r)
	default:
		writeJSON(w, http.StatusNotFound, map[string]string{"message": "not found (stackkit Grafana placeholder)"})
	}
}

// healthcheck probes the running server, for `grafana-placeholder -healthcheck` in HEALTHCHECK.
func healthcheck(port string) int {
	c := http.Client{Timeout: 3 * time.Second}
	resp, err := c.Get("http://127.0.0.1:" + port + "/api/health")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return 1
	}
	return 0
}

func main() {
	// Flags are read by hand: the real image's entrypoint passes arguments through to Grafana,
	// so unknown arguments are ignored rather than rejected.
	ini := iniSettings()
	port := setting(ini, "server", "http_port", "3000")
	for _, arg := range os.Args[1:] {
		switch arg {
		case "-v", "-version", "--version":
			fmt.Printf("grafana-placeholder %s (stackkit test placeholder, not Grafana)\n", version)
			return
		case "-healthcheck", "--healthcheck":
			os.Exit(healthcheck(port))
		}
	}

	roots := []string{}
	for _, r := range []string{env("GF_PATHS_PROVISIONING", "/etc/grafana/provisioning"), "/etc/grafana", env("GF_PATHS_DATA", "/var/lib/grafana")} {
		roots = append(roots, filepath.Clean(r))
	}
	s := &server{
		user:     setting(ini, "security", "admin_user", "admin"),
		password: setting(ini, "security", "admin_password", "admin"),
		roots:    roots,
	}
	addr := net.JoinHostPort(env("GF_SERVER_HTTP_ADDR", ""), port)
	srv := &http.Server{Addr: addr, Handler: s, ReadHeaderTimeout: 10 * time.Second}

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()
	log.Printf("stackkit TEST PLACEHOLDER for Grafana %s (not Grafana) listening on %s; admin user %q", version, addr, s.user)
	if err := srv.ListenAndServe(); err != nil && !errors.Is(err, http.ErrServerClosed) {
		log.Fatal(err)
	}
}
