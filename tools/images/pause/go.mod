module stackkit.local/pause

go 1.22
