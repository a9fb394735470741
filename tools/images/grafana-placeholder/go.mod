module stackkit.local/grafana-placeholder

go 1.22
