#!/usr/bin/env bash
# HTTP publish benchmark: the gateway's POST /api/topics/{topic} against a Node `http` server doing the same
# work (bench/peers/node-http-publish.js: read the body, look the topic up, answer {id, topic, subscribers}).
#
# For every server: start it pinned to SERVER_CPU, wait for its port, run wrk (one thread, CONNECTIONS
# keep-alive connections, SIZE-byte bodies, bench/loadgen/wrk-publish.lua) pinned to CLIENT_CPU, stop the
# server. Within a repetition the servers run back to back, in an order that alternates between
# repetitions; ratios are taken within each repetition (paired) and the report gives their median.
# Prints a markdown table and saves the raw RESULT lines to bench/out/http-publish-<timestamp>.txt.
#
# Usage: bash bench/run-http-publish.sh
# Env (defaults):
#   DURATION=10 WARMUP=5      measured / warm-up seconds per run (a wrk run of its own: the gateway's
#                             request path needs a few seconds of load before the JIT has optimised it)
#   SIZE=64                   body bytes
#   CONNECTIONS=50            keep-alive connections
#   SERVERS="gateway node"    subset/order of servers to run
#   SERVER_CPU=0 CLIENT_CPU=1 CPUs for taskset
#   GATEWAY_CMD               as in run-tcp-echo.sh
#   GATEWAY_PORT=8080 NODE_PORT=8180
#   REPEAT=1 STARTUP_TIMEOUT=60 QUIET_WAIT=120 QUIET_PCT=10 OTHER_MAX_PCT=10 RETRY_DISTURBED=2   (lib.sh)
set -euo pipefail

DURATION="${DURATION:-10}"
WARMUP="${WARMUP:-5}"
SIZE="${SIZE:-64}"
CONNECTIONS="${CONNECTIONS:-50}"
SERVERS="${SERVERS:-gateway node}"
GATEWAY_PORT="${GATEWAY_PORT:-8080}"
NODE_PORT="${NODE_PORT:-8180}"
source "$(dirname "$0")/lib.sh"

check_servers gateway node
mkdir -p "$OUT"
command -v wrk >/dev/null || die "wrk not found (apt-get install wrk)"
command -v taskset >/dev/null || die "taskset not found (util-linux)"
if [[ " $SERVERS " == *" node "* ]]; then command -v node >/dev/null || die "node not found"; fi
prepare_gateway

# Only the HTTP host: the default endpoints' raw ports would be idle listeners, and are kept off so that a
# leftover process on them cannot stop the run.
SERVER_ENV=("Gateway__Http__Port=$GATEWAY_PORT")
for endpoint in echo stick chat console udp chat_unix; do SERVER_ENV+=("Gateway__Endpoints__${endpoint}__Enabled=false"); done
server_cmd() {
    case "$1" in
        gateway) echo "$GATEWAY_CMD" ;;
        node)    echo "node $BENCH_DIR/peers/node-http-publish.js $NODE_PORT" ;;
    esac
}

# CHILDREN_CPU_S: CPU seconds of this shell's waited-for children so far; taken around a run_wrk, wrk's (the
# servers are waited for only when they stop). `times` must run in this shell, so neither in a pipe nor in $(...).
children_cpu() {
    times >"$OUT/times-last.txt"
    CHILDREN_CPU_S=$(awk 'NR == 2 { total = 0; for (i = 1; i <= 2; i++) { split($i, t, /[ms]/); total += t[1] * 60 + t[2] } print total }' "$OUT/times-last.txt")
}

run_wrk() {   # port seconds output-file
    timeout --kill-after=5 "$(($2 + 30))" env SIZE="$SIZE" taskset -c "$CLIENT_CPU" \
        wrk -t1 -c"$CONNECTIONS" -d"${2}s" --timeout 10s -s "$BENCH_DIR/loadgen/wrk-publish.lua" \
        "http://127.0.0.1:$1/api/topics/bench/x" >"$3"
}

# ---------- run ----------
open_results http-publish "duration=${DURATION}s warmup=${WARMUP}s size=$SIZE connections=$CONNECTIONS wrk=$(wrk --version 2>&1 | awk 'NR==1{print $2}')"

# One measurement: start server, warm it up, run wrk, stop server. Leaves the figures in RUN (empty if the
# run failed) and RUN_OTHER (CPU % used by other processes), as run-tcp-echo.sh's run_one.
run_one() {   # server
    local server="$1" port out rc t0 t1 busy0 busy1 srv0 srv1 steal0 steal1 wrk0 wrk1 srv_pct busy_pct steal_pct wrk_pct
    port="$(server_port "$server")"
    begin_run "$server" "$port" "$OUT/server-$server.log" port_open
    log "$server: $CONNECTIONS connections, POST ${SIZE}B, warmup ${WARMUP}s + ${DURATION}s"
    out="$OUT/wrk-last.txt"
    run_wrk "$port" "$WARMUP" "$out" || true
    t0=$(date +%s%N); busy0=$(machine_ticks); steal0=$(steal_ticks); srv0=$(proc_ticks "$SERVER_PID"); children_cpu; wrk0=$CHILDREN_CPU_S
    rc=0; run_wrk "$port" "$DURATION" "$out" || rc=$?
    t1=$(date +%s%N); busy1=$(machine_ticks); steal1=$(steal_ticks); srv1=$(proc_ticks "$SERVER_PID"); children_cpu; wrk1=$CHILDREN_CPU_S
    # CPU % over the measured window (100 = one core); "other" is everything that is neither this server nor wrk.
    read -r srv_pct busy_pct steal_pct wrk_pct < <(awk -v a="$srv0" -v b="$srv1" -v c="$busy0" -v d="$busy1" \
        -v e="$steal0" -v f="$steal1" -v g="$wrk0" -v h="$wrk1" -v t="$(( (t1 - t0) / 1000 ))" -v hz="$CLK_TCK" \
        'BEGIN{ s=t/1e6; printf "%.0f %.0f %.0f %.0f\n", 100*(b-a)/hz/s, 100*(d-c)/hz/s, 100*(f-e)/hz/s, 100*(h-g)/s }')
    end_run "$rc" "$out" "server=$server"
    if [[ -n "$line" ]]; then
        RUN_OTHER=$(( busy_pct - srv_pct - wrk_pct )); ((RUN_OTHER > 0)) || RUN_OTHER=0
        echo "RESULT server=$server ${line#RESULT } server_cpu_pct=$srv_pct other_cpu_pct=$RUN_OTHER steal_pct=$steal_pct" >>"$RESULTS"
        RUN=("$(field req_per_s)" "$(field p50_us)" "$(field p99_us)" "$srv_pct" "$RUN_OTHER")
        log "$(field req_per_s) req/s, p99 $(field p99_us) us, server cpu ${srv_pct}%, wrk cpu ${wrk_pct}%, other processes ${RUN_OTHER}%, hypervisor steal ${steal_pct}%"
        [[ "$(field errors)" == "0" ]] || { log "wrk counted $(field errors) errors ($(field non_2xx) answers >= 400)"; FAILED=1; }
    fi
    sleep 1
}

FAILED=0
declare -A RPS P50 P99 SRVCPU OTHER REPRPS REPP99
for ((rep = 1; rep <= REPEAT; rep++)); do
    ((REPEAT == 1)) || log "repetition $rep/$REPEAT"
    for server in $(servers_for_rep "$rep"); do
        measure_retrying run_one "$server"
        if ((${#RUN[@]})); then
            RPS[$server]+="${RUN[0]} "; P50[$server]+="${RUN[1]} "; P99[$server]+="${RUN[2]} "
            SRVCPU[$server]+="${RUN[3]} "; OTHER[$server]+="${RUN[4]} "
            REPRPS[$server|publish|$rep]="${RUN[0]}"; REPP99[$server|publish|$rep]="${RUN[2]}"
        fi
    done
done

# ---------- report ----------
{
    echo
    echo "HTTP publish, POST ${SIZE} B to /api/topics/bench/x, ${CONNECTIONS} keep-alive connections (wrk -t1), ${DURATION} s measured after ${WARMUP} s warmup; server on CPU ${SERVER_CPU}, wrk on CPU ${CLIENT_CPU}; median of ${REPEAT} run(s)"
    echo
    echo "| server | req/s | p50 (us) | p99 (us) | server CPU % |"
    echo "|---|---:|---:|---:|---:|"
    for server in $SERVERS; do
        echo "| $server | $(range_cell RPS "$server") | $(median P50 "$server") | $(median P99 "$server") | $(median SRVCPU "$server") |"
    done
    echo
    echo "Ratios: median over repetitions of the ratio within each repetition (min-max in brackets); req/s above 1"
    echo "means the gateway answers more; p99 below 1 means the gateway's tail latency is lower."
    echo
    echo "| gateway/node req/s | gateway/node p99 |"
    echo "|---:|---:|"
    echo "| $(paired_ratio REPRPS gateway node publish) | $(paired_ratio REPP99 gateway node publish) |"
    echo
    warn_disturbed OTHER
} | tee -a "$RESULTS"
log "raw results: $RESULTS"
exit "$FAILED"
