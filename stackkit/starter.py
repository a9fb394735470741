"""The commented starter config `stackkit init` writes. Every value shown is the default."""

STARTER = """\
# stackkit.yaml: a Claude Code monitoring stack (OpenTelemetry Collector, Prometheus, Grafana).
# Every key is optional; the values below are the defaults. `stackkit schema` prints the JSON
# Schema (point your editor's YAML language server at it for completion and checks).
# Secrets never go in this file: they come from environment variables or are generated.

name: claude-code          # stack name: Docker resource prefix, Pulumi stack, state folder
target: docker             # docker (this machine) or kubernetes

collector:
  grpc: {enabled: true, port: 4317}
  http: {enabled: true, port: 4318}
  auth:
    enabled: true                  # clients must send "Authorization: Bearer <token>"
    token_env: STACKKIT_OTLP_TOKEN # token from this variable; generated and kept if unset
  # tls: {cert_file: server.crt, key_file: server.key, ca_file: ca.crt}
  memory_limit_mib: 1024
  batch: {timeout: 1s, send_batch_size: 2048, send_batch_max_size: 4096}
  export: otlp             # otlp (pushed, queued across restarts) | scrape
  max_stale: 5m            # a stream idle this long is forgotten (it restarts from zero, exactly)
  push_interval: 5s        # how often each stream's latest total is pushed to Prometheus
  queue_size: 5000         # batches held while Prometheus is away; then clients are refused
  metric_expiration: 24h   # export: scrape only: how long a series without updates stays exported

attributes:
  session_id: keep   # keep | drop | hash   (dashboards sum sessions away either way)
  user_id: keep      # keep | drop | hash
  labels: [team.id, department, cost_center]   # resource attributes that become labels

prometheus:
  retention_time: 30d
  # retention_size: 50GB
  scrape_interval: 15s
  evaluation_interval: 15s
  memory_limit_mib: 2048   # Kubernetes memory limit
  # alertmanager_url: http://alertmanager:9093
  remote_write: []
  # - name: mimir
  #   url: https://mimir.example.com/api/v1/push
  #   basic_auth: {username: tenant-1, password_env: MIMIR_PASSWORD}

grafana:
  admin_user: admin
  # admin_password_env: GRAFANA_ADMIN_PASSWORD   # generated and kept as a secret if unset
  anonymous_access: false
  # root_url: https://grafana.example.com

alerts:
  # monthly_budget_usd: 5000
  user_spend_usd_per_hour: 20
  team_spend_usd_per_hour: 100
  no_telemetry_minutes: 30

# images:                  # pinned by stackkit; override for mirrors and air-gapped sites
#   registry: registry.example.com/mirror
#   otelcol: otel/opentelemetry-collector-contrib:<version>

docker:
  bind_address: 127.0.0.1   # ports are reachable from this machine only

kubernetes:
  namespace: stackkit
  # context: my-cluster
  collector_replicas: 2     # a rollout never stops intake

client:                     # what `stackkit env` tells Claude Code
  # grpc_endpoint: https://otel.example.com:4317   # for a shared stack
  resource_attributes: {}   # e.g. {team.id: platform, department: engineering}
  metric_export_interval_ms: 60000
  logs_export_interval_ms: 5000
"""
