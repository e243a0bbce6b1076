#!/usr/bin/env bash
# WebSocket fan-out benchmark: 1 publisher -> SUBSCRIBERS subscribers on one topic, the gateway's
# raw-mode /ws against Node's `ws` (bench/peers/node-ws-fanout.js), and optionally (SERVERS with
# c-epoll) a minimal C epoll WebSocket server (bench/peers/epoll-ws-fanout.c): the floor, what one
# send() per subscriber costs on this machine with nothing else around it; c-uring is the same server
# with each message's sends to all subscribers in one io_uring_enter, the floor with system calls batched.
#
# Two latencies from the publisher's write (bench/loadgen/wsfanout.c): to the frame's arrival at the
# subscriber's socket (the kernel's receive timestamp: the server's latency), and to the load
# generator's read of it (which adds the generator's own time to read 1,000 sockets in turn, 6-10 ms
# here, a floor under every server's p99 at read).
#
# Each repetition runs, for each publish rate in RATES and each server one after another (never
# concurrently, server order alternating between repetitions): start the server pinned to
# SERVER_CPU, run bench/out/wsfanout pinned to CLIENT_CPU, stop the server. Ratios are taken within
# each repetition and the report gives their median. Prints a markdown table and saves the raw
# RESULT lines to bench/out/ws-fanout-<timestamp>.txt.
#
# Usage: bash bench/run-ws-fanout.sh
# Env (defaults):
#   DURATION=10 WARMUP=5 DRAIN=3   measured / warm-up / final drain seconds per run
#   RATES="25 50 200 1000"       publish rates (messages/s); a rate above a server's capacity
#                             measures its maximum deliveries/s (it then falls behind)
#   SUBSCRIBERS=1000 SIZE=64  subscriber connections, message payload bytes (>= 33)
#   SERVERS="gateway node"    subset/order of servers: gateway, node, c-epoll, c-uring
#   SERVER_CPU=0 CLIENT_CPU=1 CPUs for taskset
#   GATEWAY_CMD               command line that starts the gateway (run from the repo root);
#                             default: dotnet publish src/Gateway once, then
#                             "dotnet bench/out/gateway/Gateway.dll"
#   GATEWAY_PORT=8080 NODE_PORT=8180 CEPOLL_PORT=8280 CURING_PORT=8281
#   REPEAT=1 STARTUP_TIMEOUT=60 QUIET_WAIT=120 QUIET_PCT=10 OTHER_MAX_PCT=10 RETRY_DISTURBED=2
#                             as in run-tcp-echo.sh
set -euo pipefail

DURATION="${DURATION:-10}"
WARMUP="${WARMUP:-5}"
DRAIN="${DRAIN:-3}"
RATES="${RATES:-25 50 200 1000}"
SUBSCRIBERS="${SUBSCRIBERS:-1000}"
SIZE="${SIZE:-64}"
SERVERS="${SERVERS:-gateway node}"
GATEWAY_PORT="${GATEWAY_PORT:-8080}"
NODE_PORT="${NODE_PORT:-8180}"
CEPOLL_PORT="${CEPOLL_PORT:-8280}"
CURING_PORT="${CURING_PORT:-8281}"
TOPIC="bench/fanout"
source "$(dirname "$0")/lib.sh"

check_servers gateway node c-epoll c-uring
for r in $RATES; do
    [[ "$r" =~ ^[0-9]+$ && "$r" -gt 0 ]] || die "bad rate '$r' in RATES (positive integers, messages/s)"
done
mkdir -p "$OUT"

# ---------- build ----------
log "building the load generator into $OUT"
make -s -C "$BENCH_DIR/loadgen" OUT="$OUT" "$OUT/wsfanout" "$OUT/epoll-ws-fanout" >&2
LOADGEN="$OUT/wsfanout"
command -v taskset >/dev/null || die "taskset not found (util-linux)"
if [[ " $SERVERS " == *" node "* ]]; then
    command -v node >/dev/null || die "node not found"
    if [[ ! -d "$BENCH_DIR/node_modules/ws" ]]; then
        log "installing the ws package into bench/node_modules (npm ci)"
        (cd "$BENCH_DIR" && npm ci --no-audit --no-fund >&2) || die "npm ci failed in bench/"
    fi
fi
prepare_gateway
# 1,001 sockets: make sure the servers (started from this shell) may open them.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

SERVER_ENV=("Gateway__Http__Port=$GATEWAY_PORT")
server_cmd() {
    case "$1" in
        gateway) echo "$GATEWAY_CMD" ;;
        node)    echo "node $BENCH_DIR/peers/node-ws-fanout.js $NODE_PORT" ;;
        c-epoll) echo "$OUT/epoll-ws-fanout $CEPOLL_PORT" ;;
        c-uring) echo "$OUT/epoll-ws-fanout $CURING_PORT uring" ;;
    esac
}

# ---------- run ----------
open_results ws-fanout "duration=${DURATION}s warmup=${WARMUP}s drain=${DRAIN}s subscribers=$SUBSCRIBERS size=$SIZE rates=\"$RATES\" ws=$(node -p "require('$BENCH_DIR/node_modules/ws/package.json').version" 2>/dev/null || echo n/a)"

# One measurement. The load generator itself samples the server's, its own and the whole machine's CPU
# over exactly the measured window (--server-pid). Sets RUN and RUN_OTHER.
run_one() {   # server rate
    local server="$1" rate="$2" port lg_out lg_rc
    port="$(server_port "$server")"
    begin_run "$server" "$port" "$OUT/server-ws-$server.log" port_open
    log "$server / $rate msg/s: 1 publisher -> $SUBSCRIBERS subscribers, ${SIZE}B, warmup ${WARMUP}s + ${DURATION}s + drain ${DRAIN}s"
    lg_out="$OUT/wsfanout-last.txt"
    lg_rc=0
    # timeout is a safety net only: wsfanout stops itself after setup+warmup+duration+drain.
    timeout --kill-after=5 "$(awk -v w="$WARMUP" -v d="$DURATION" -v r="$DRAIN" 'BEGIN{print int(w+d+r+60)}')" \
        taskset -c "$CLIENT_CPU" "$LOADGEN" --host 127.0.0.1 --port "$port" --path /ws --topic "$TOPIC" \
        --subscribers "$SUBSCRIBERS" --rate "$rate" --size "$SIZE" \
        --duration "$DURATION" --warmup "$WARMUP" --drain "$DRAIN" --server-pid "$SERVER_PID" --server-cpu "$SERVER_CPU" >"$lg_out" || lg_rc=$?
    end_run "$lg_rc" "$lg_out" "server=$server rate=$rate"
    if [[ -n "$line" ]]; then
        echo "RESULT server=$server ${line#RESULT }" >>"$RESULTS"
        RUN_OTHER="$(field other_cpu_pct)"
        RUN=("$(field deliveries_per_s)" "$(field ideal_deliveries_per_s)" "$(field p50_us)" "$(field p99_us)" \
             "$(field lost_pct)" "$(field server_cpu_pct)" "$(field loadgen_cpu_pct)" "$RUN_OTHER" \
             "$(field server_core_softirq_pct)" "$(field arrival_p50_us)" "$(field arrival_p99_us)")
        [[ "$(field errors)" == "0" ]] || FAILED=1
    fi
    sleep 1
}

FAILED=0
declare -A DPS IDEAL P50 P99 AP50 AP99 LOST SRVCPU SIRQ LGCPU OTHER REPDPS REPP99 REPAP99
for ((rep = 1; rep <= REPEAT; rep++)); do
    ((REPEAT == 1)) || log "repetition $rep/$REPEAT"
    for rate in $RATES; do
        for server in $(servers_for_rep "$rep"); do
            measure_retrying run_one "$server" "$rate"
            ((${#RUN[@]})) || continue
            k="$server|$rate"
            DPS[$k]+="${RUN[0]} "; IDEAL[$k]+="${RUN[1]} "; P50[$k]+="${RUN[2]} "; P99[$k]+="${RUN[3]} "
            LOST[$k]+="${RUN[4]} "; SRVCPU[$k]+="${RUN[5]} "; LGCPU[$k]+="${RUN[6]} "; OTHER[$k]+="${RUN[7]} "
            SIRQ[$k]+="${RUN[8]} "; AP50[$k]+="${RUN[9]} "; AP99[$k]+="${RUN[10]} "
            REPDPS[$k|$rep]="${RUN[0]}"; REPP99[$k|$rep]="${RUN[3]}"; REPAP99[$k|$rep]="${RUN[10]}"
            # The most a server delivered at any rate in this repetition: its maximum deliveries/s.
            best="${REPDPS[$server|best|$rep]:-0}"
            REPDPS[$server|best|$rep]="$(awk -v a="$best" -v b="${RUN[0]}" 'BEGIN{print (b > a) ? b : a}')"
        done
    done
done

# ---------- report ----------
ms() { awk -v v="$1" 'BEGIN{ if (v ~ /^[0-9.]+$/) printf "%.1f", v/1000; else print "n/a" }'; }
{
    echo
    echo "WebSocket fan-out, 1 publisher -> ${SUBSCRIBERS} subscribers, ${SIZE} B text messages, ${DURATION} s measured after ${WARMUP} s warmup (+ ${DRAIN} s drain); server on CPU ${SERVER_CPU}, loadgen on CPU ${CLIENT_CPU}; median of ${REPEAT} run(s)"
    echo
    echo "| server | publish rate (msg/s) | offered deliveries/s | deliveries/s | p50 / p99 at arrival (ms) | p50 / p99 at read (ms) | lost % | server CPU % | softirq on server CPU % | loadgen CPU % |"
    echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    for rate in $RATES; do
        for server in $SERVERS; do
            k="$server|$rate"
            echo "| $server | $rate | $(median IDEAL "$k") | $(range_cell DPS "$k") | $(ms "$(median AP50 "$k")") / $(ms "$(median AP99 "$k")") | $(ms "$(median P50 "$k")") / $(ms "$(median P99 "$k")") | $(median LOST "$k") | $(median SRVCPU "$k") | $(median SIRQ "$k") | $(median LGCPU "$k") |"
        done
    done
    echo
    echo "Ratios: median over repetitions of the ratio within each repetition (min-max in brackets); deliveries/s"
    echo "above 1 means the gateway delivers more; p99 below 1 means the gateway's tail latency is lower."
    echo
    echo "| publish rate (msg/s) | gateway/node deliveries/s | gateway/node p99 at arrival | gateway/node p99 at read | c-epoll/node p99 at arrival | c-uring/node p99 at arrival |"
    echo "|---:|---:|---:|---:|---:|---:|"
    for rate in $RATES; do
        echo "| $rate | $(paired_ratio REPDPS gateway node "$rate") | $(paired_ratio REPAP99 gateway node "$rate") | $(paired_ratio REPP99 gateway node "$rate") | $(paired_ratio REPAP99 c-epoll node "$rate") | $(paired_ratio REPAP99 c-uring node "$rate") |"
    done
    echo "| most at any rate | $(paired_ratio REPDPS gateway node best) | | | | |"
    echo
    warn_disturbed OTHER
} | tee -a "$RESULTS"
log "raw results: $RESULTS"
exit "$FAILED"
