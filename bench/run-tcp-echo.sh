#!/usr/bin/env bash
# Framed-TCP echo benchmark: gateway vs Node.js vs a C epoll byte-echo ceiling.
#
# For every server and scenario: start the server pinned to SERVER_CPU, wait for its port, run
# bench/out/loadgen pinned to CLIENT_CPU, stop the server. Servers run strictly one after another.
# Within a repetition the servers of one scenario run back to back, in an order that alternates
# between repetitions; ratios are taken within each repetition (paired) and the report gives their
# median. Prints a markdown table and saves the raw RESULT lines to bench/out/results-<timestamp>.txt.
#
# Usage: bash bench/run-tcp-echo.sh
# Env (defaults):
#   DURATION=10 WARMUP=2      measured / warm-up seconds per run
#   SIZE=64                   frame body bytes
#   CONNECTIONS=50            connections per run
#   PIPELINED_INFLIGHT=16     frames in flight per connection, "pipelined" scenario
#   SERVERS="gateway node c-epoll"   subset/order of servers to run
#   SCENARIOS="pipelined ping-pong"
#   SERVER_CPU=0 CLIENT_CPU=1 CPUs for taskset
#   GATEWAY_CMD               command line that starts the gateway (run from the repo root);
#                             default: dotnet publish src/Gateway once, then
#                             "dotnet bench/out/gateway/Gateway.dll"
#   GATEWAY_PORT=9000 NODE_PORT=9100 CEPOLL_PORT=9200
#   REPEAT=1                  repetitions
#   STARTUP_TIMEOUT=60        seconds to wait for a server's port to accept
#   QUIET_WAIT=120 QUIET_PCT=10   before each run, wait up to QUIET_WAIT s for the
#                             machine's CPU use to drop below QUIET_PCT % (100 = 1 core)
#   OTHER_MAX_PCT=10 RETRY_DISTURBED=2   repeat a run (up to RETRY_DISTURBED times)
#                             when other processes used more than OTHER_MAX_PCT % CPU
set -euo pipefail

DURATION="${DURATION:-10}"
WARMUP="${WARMUP:-2}"
SIZE="${SIZE:-64}"
CONNECTIONS="${CONNECTIONS:-50}"
PIPELINED_INFLIGHT="${PIPELINED_INFLIGHT:-16}"
SERVERS="${SERVERS:-gateway node c-epoll}"
SCENARIOS="${SCENARIOS:-pipelined ping-pong}"
GATEWAY_PORT="${GATEWAY_PORT:-9000}"
NODE_PORT="${NODE_PORT:-9100}"
CEPOLL_PORT="${CEPOLL_PORT:-9200}"
source "$(dirname "$0")/lib.sh"

check_servers gateway node c-epoll
for s in $SCENARIOS; do
    [[ "$s" =~ ^(pipelined|ping-pong)$ ]] || die "unknown scenario '$s' in SCENARIOS (pipelined, ping-pong)"
done
mkdir -p "$OUT"

# ---------- build ----------
log "building C programs into $OUT"
make -s -C "$BENCH_DIR/loadgen" OUT="$OUT" "$OUT/loadgen" "$OUT/epoll-echo" >&2
LOADGEN="$OUT/loadgen"
command -v taskset >/dev/null || die "taskset not found (util-linux)"
if [[ " $SERVERS " == *" node "* ]]; then command -v node >/dev/null || die "node not found"; fi
prepare_gateway

SERVER_ENV=("Gateway__Endpoints__echo__Port=$GATEWAY_PORT")
server_cmd() {
    case "$1" in
        gateway) echo "$GATEWAY_CMD" ;;
        node)    echo "node $BENCH_DIR/peers/node-echo.js $NODE_PORT" ;;
        c-epoll) echo "$OUT/epoll-echo $CEPOLL_PORT" ;;
    esac
}
scenario_inflight() { if [[ "$1" == pipelined ]]; then echo "$PIPELINED_INFLIGHT"; else echo 1; fi; }

# ---------- run ----------
open_results tcp-echo "duration=${DURATION}s warmup=${WARMUP}s size=$SIZE connections=$CONNECTIONS"

# One measurement: start server, run loadgen, stop server. Appends the raw RESULT line to $RESULTS and
# leaves the figures in RUN (empty if the run failed) and RUN_OTHER (CPU % used by other processes).
run_one() {   # server scenario
    local server="$1" scenario="$2" port inflight lg_out lg_rc t0 t1 busy0 busy1 srv0 srv1
    local steal0 steal1 srv_pct busy_pct steal_pct lg_pct
    port="$(server_port "$server")"
    inflight="$(scenario_inflight "$scenario")"
    begin_run "$server" "$port" "$OUT/server-$server.log" port_open
    log "$server / $scenario: $CONNECTIONS conns x $inflight in flight, ${SIZE}B, warmup ${WARMUP}s + ${DURATION}s"
    # loadgen runs in the background so the CPU use of the server and of everything else on the machine
    # can be sampled over the measured window. timeout is a safety net only: loadgen stops itself.
    lg_out="$OUT/loadgen-last.txt"
    timeout --kill-after=5 "$(awk -v w="$WARMUP" -v d="$DURATION" 'BEGIN{print int(w+d+30)}')" \
        taskset -c "$CLIENT_CPU" "$LOADGEN" --host 127.0.0.1 --port "$port" \
        --connections "$CONNECTIONS" --inflight "$inflight" --size "$SIZE" \
        --duration "$DURATION" --warmup "$WARMUP" >"$lg_out" &
    LOADGEN_PID=$!
    sleep "$WARMUP"
    t0=$(date +%s%N); busy0=$(machine_ticks); steal0=$(steal_ticks); srv0=$(proc_ticks "$SERVER_PID")
    lg_rc=0; wait "$LOADGEN_PID" || lg_rc=$?
    LOADGEN_PID=""
    t1=$(date +%s%N); busy1=$(machine_ticks); steal1=$(steal_ticks); srv1=$(proc_ticks "$SERVER_PID")
    # CPU % over the measured window (100 = one core); "other" is everything that is neither this
    # server nor the loadgen (e.g. a build running meanwhile).
    read -r srv_pct busy_pct steal_pct < <(awk -v a="$srv0" -v b="$srv1" -v c="$busy0" -v d="$busy1" \
        -v e="$steal0" -v f="$steal1" -v t="$(( (t1 - t0) / 1000 ))" -v hz="$CLK_TCK" \
        'BEGIN{ s=t/1e6; printf "%.0f %.0f %.0f\n", 100*(b-a)/hz/s, 100*(d-c)/hz/s, 100*(f-e)/hz/s }')
    end_run "$lg_rc" "$lg_out" "server=$server scenario=$scenario"
    if [[ -n "$line" ]]; then
        lg_pct="$(field loadgen_cpu_pct)"
        RUN_OTHER=$(( busy_pct - srv_pct - lg_pct ))
        ((RUN_OTHER > 0)) || RUN_OTHER=0
        echo "RESULT server=$server scenario=$scenario ${line#RESULT } server_cpu_pct=$srv_pct other_cpu_pct=$RUN_OTHER steal_pct=$steal_pct" >>"$RESULTS"
        RUN=("$(field frames_per_s)" "$(field mb_per_s)" "$(field p50_us)" "$(field p99_us)" \
             "$srv_pct" "$lg_pct" "$RUN_OTHER")
        log "server cpu ${srv_pct}%, loadgen cpu ${lg_pct}%, other processes ${RUN_OTHER}%, hypervisor steal ${steal_pct}%"
        [[ "$(field errors)" == "0" ]] || FAILED=1
    fi
    sleep 1   # let sockets from the previous run settle
}

FAILED=0
declare -A FPS MBPS P50 P99 SRVCPU LGCPU OTHER REPFPS REPP99
for ((rep = 1; rep <= REPEAT; rep++)); do
    ((REPEAT == 1)) || log "repetition $rep/$REPEAT"
    for scenario in $SCENARIOS; do
        for server in $(servers_for_rep "$rep"); do
            measure_retrying run_one "$server" "$scenario"
            if ((${#RUN[@]})); then
                k="$server|$scenario"
                FPS[$k]+="${RUN[0]} "; MBPS[$k]+="${RUN[1]} "; P50[$k]+="${RUN[2]} "; P99[$k]+="${RUN[3]} "
                SRVCPU[$k]+="${RUN[4]} "; LGCPU[$k]+="${RUN[5]} "; OTHER[$k]+="${RUN[6]} "
                REPFPS[$k|$rep]="${RUN[0]}"; REPP99[$k|$rep]="${RUN[3]}"
            fi
        done
    done
done

# ---------- report ----------
{
    echo
    echo "TCP echo, ${SIZE} B body, ${CONNECTIONS} connections, ${DURATION} s measured after ${WARMUP} s warmup; server on CPU ${SERVER_CPU}, loadgen on CPU ${CLIENT_CPU}; median of ${REPEAT} run(s)"
    echo
    echo "| server | scenario | frames/s | MB/s | p50 (us) | p99 (us) | server CPU % | loadgen CPU % |"
    echo "|---|---|---:|---:|---:|---:|---:|---:|"
    for scenario in $SCENARIOS; do
        for server in $SERVERS; do
            k="$server|$scenario"
            label="$scenario ($CONNECTIONS x $(scenario_inflight "$scenario"))"
            echo "| $server | $label | $(range_cell FPS "$k") | $(median MBPS "$k") | $(median P50 "$k") | $(median P99 "$k") | $(median SRVCPU "$k") | $(median LGCPU "$k") |"
        done
    done
    echo
    echo "Ratios: median over repetitions of the ratio within each repetition (min-max in brackets); frames/s above 1"
    echo "means the gateway is faster; p99 below 1 means the gateway's tail latency is lower."
    echo
    echo "| scenario | gateway/node frames/s | gateway/c-epoll frames/s | gateway/node p99 | gateway/c-epoll p99 |"
    echo "|---|---:|---:|---:|---:|"
    for scenario in $SCENARIOS; do
        echo "| $scenario | $(paired_ratio REPFPS gateway node "$scenario") | $(paired_ratio REPFPS gateway c-epoll "$scenario") | $(paired_ratio REPP99 gateway node "$scenario") | $(paired_ratio REPP99 gateway c-epoll "$scenario") |"
    done
    echo
    warn_disturbed OTHER
} | tee -a "$RESULTS"
log "raw results: $RESULTS"
exit "$FAILED"
