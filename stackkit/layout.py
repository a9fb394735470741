"""Where the upstream images read configuration and keep data: one place for every target.

The rendered files refer to these paths, and the Docker program and the Kubernetes manifests put
files and volumes there. Standard library only, so the Pulumi programs can import it.
"""

OTELCOL_DIR = "/etc/otelcol-contrib"
OTELCOL_CONFIG = f"{OTELCOL_DIR}/config.yaml"
OTELCOL_TLS_DIR = f"{OTELCOL_DIR}/tls"

PROMETHEUS_DIR = "/etc/prometheus"
PROMETHEUS_SECRETS_DIR = f"{PROMETHEUS_DIR}/secrets"
PROMETHEUS_DATA = "/prometheus"

GRAFANA_DIR = "/etc/grafana"
# Outside /var/lib/grafana (a data volume), so a re-render replaces dashboards, never stacks them.
GRAFANA_DASHBOARDS_DIR = f"{GRAFANA_DIR}/dashboards"
GRAFANA_SECRETS_DIR = f"{GRAFANA_DIR}/secrets"
GRAFANA_DATA = "/var/lib/grafana"
