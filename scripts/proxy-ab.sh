#!/usr/bin/env bash
# proxy-ab.sh N SERVER... — bench.sh's proxy scenario, interleaved: each
# server (an edge binary, or "nginx") runs N times in turn for 3 s behind
# wrk (50 connections, HTTP/1.1 keep-alive; 4 with C=4), and the medians
# of each are printed with their ratios to the first server, then the
# median of each run's ratio to the first server's run of the same turn.
# "load side" is how busy CPU 1 (wrk and the backend) was: near 100%, it
# may be what limits the rate, not the server. On a VM whose
# speed drifts from minute to minute, many short interleaved runs compare
# two builds better than one long run each; quote bench.sh for results.
#
#   scripts/proxy-ab.sh 8 nginx ./edge /tmp/edge-before
#
# The server runs on CPU 0 (GOMAXPROCS=1), wrk and the backend nginx on
# CPU 1, on ports 23080 and 23081.
set -euo pipefail
n=$1
shift
dir=$(mktemp -d)
trap 'kill $backend 2>/dev/null; rm -rf "$dir"' EXIT
mkdir -p "$dir/b/logs" "$dir/f/logs"
cat >"$dir/b/nginx.conf" <<EOF
worker_processes 1; daemon off; pid $dir/b/nginx.pid; error_log $dir/b/error.log;
events { worker_connections 16384; }
http { access_log off; keepalive_requests 1000000;
  server { listen 127.0.0.1:23081; location / { return 200 "hello"; } } }
EOF
cat >"$dir/f/nginx.conf" <<EOF
worker_processes 1; daemon off; pid $dir/f/nginx.pid; error_log $dir/f/error.log;
events { worker_connections 16384; }
http { access_log off; keepalive_requests 1000000; sendfile on; tcp_nopush on;
  upstream backend { server 127.0.0.1:23081; keepalive 64; }
  server { listen 127.0.0.1:23080;
    location / { proxy_pass http://backend; proxy_http_version 1.1; proxy_set_header Connection ""; } } }
EOF
cat >"$dir/pct.lua" <<'EOF'
done = function(summary, latency, requests)
  io.write(string.format("rps=%.0f p50=%.3f p99=%.3f\n",
    summary.requests / (summary.duration / 1e6), latency:percentile(50) / 1000, latency:percentile(99) / 1000))
end
EOF
taskset -c 1 nginx -p "$dir/b" -c "$dir/b/nginx.conf" &
backend=$!
sleep 0.5
for _ in $(seq "$n"); do
  for s in "$@"; do
    if [ "$s" = nginx ]; then
      taskset -c 0 nginx -p "$dir/f" -c "$dir/f/nginx.conf" &
      m=$!
      sleep 0.4
      p=$(ps -eo pid,ppid,cmd | awk -v m=$m '$2 == m && /worker/ {print $1}')
    else
      GOMAXPROCS=1 taskset -c 0 "$s" -p "$dir/f/" -c "$dir/f/nginx.conf" &
      m=$!
      p=$m
      sleep 0.4
    fi
    taskset -c 1 wrk -t1 -c"${C:-50}" -d1s http://127.0.0.1:23080/ >/dev/null
    read -r u1 s1 < <(awk '{print $14, $15}' "/proc/$p/stat")
    b1=$(awk '$1 == "cpu1" {print $2 + $3 + $4 + $7 + $8}' /proc/stat)
    r=$(taskset -c 1 wrk -t1 -c"${C:-50}" -d3s -s "$dir/pct.lua" http://127.0.0.1:23080/ | tail -1)
    read -r u2 s2 < <(awk '{print $14, $15}' "/proc/$p/stat")
    b2=$(awk '$1 == "cpu1" {print $2 + $3 + $4 + $7 + $8}' /proc/stat)
    echo "$s $r cpu=$(((u2 - u1 + s2 - s1) / 3)) load=$(((b2 - b1) / 3))" >>"$dir/runs"
    kill "$m"
    wait "$m" 2>/dev/null || true
  done
done
python3 - "$dir/runs" <<'EOF'
import statistics as st, sys
runs = {}
for line in open(sys.argv[1]):
    f = line.split()
    runs.setdefault(f[0], []).append(dict(x.split("=") for x in f[1:]))
med = {s: {k: st.median(float(r[k]) for r in rs) for k in ("rps", "p50", "p99", "cpu", "load")} for s, rs in runs.items()}
base = next(iter(med.values()))
for s, m in med.items():
    eff = (m["rps"] / m["cpu"]) / (base["rps"] / base["cpu"])
    print(f"{s}: {m['rps']:.0f} req/s, p50 {m['p50']:.2f} ms, p99 {m['p99']:.2f} ms, cpu {m['cpu']:.0f}%"
          f", load side {m['load']:.0f}% ({m['load'] * 1e4 / m['rps']:.1f} us/req)"
          f" | x{m['rps'] / base['rps']:.3f} p99x {m['p99'] / base['p99']:.2f} eff {eff:.3f} (n={len(runs[s])})")
# Each run against the first server's in the same turn: the drift between
# turns cancels out.
first = next(iter(runs.values()))
for s, rs in runs.items():
    x = sorted(float(r["rps"]) / float(b["rps"]) for r, b in zip(rs, first))
    print(f"{s}: per turn x{st.median(x):.3f} (min {x[0]:.3f}, max {x[-1]:.3f})")
EOF
