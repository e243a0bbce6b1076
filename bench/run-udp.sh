#!/usr/bin/env bash
# UDP echo benchmark: the gateway's `udp` endpoint (every datagram echoed to its sender through the
# topic udp/{remote}) against Node's dgram (bench/peers/node-udp-echo.js).
#
# Each repetition runs, for each server one after another (never concurrently, order alternating
# between repetitions), two runs with a fresh server pinned to SERVER_CPU and bench/out/udpgen pinned
# to CLIENT_CPU:
#   max   unlimited send rate from SOCKETS sockets: the echoed datagrams/s is the server's sustained
#         maximum (the excess is dropped in socket buffers);
#   load  paced at LOAD_PCT % of THAT server's max in this repetition: loss % and round-trip latency
#         at a load it should sustain.
# Ratios are taken within each repetition and the report gives their median. Prints a markdown table
# and saves the raw RESULT lines to bench/out/udp-<timestamp>.txt.
#
# Usage: bash bench/run-udp.sh
# Env (defaults):
#   DURATION=10 WARMUP=5 DRAIN=1  measured / warm-up / drain seconds per run
#   SIZE=64 SOCKETS=32 LOAD_PCT=80
#   BATCH=32                  datagrams udpgen sends from one socket before the next (1: every datagram from
#                             another source port, so with SOCKETS above the endpoint's MaxPeers each one
#                             displaces a peer)
#   MODES="max load"          runs per server; "max" alone skips the paced run (load needs max: its rate
#                             is a share of the max just measured)
#   SERVERS="gateway node"    subset/order of servers
#   SERVER_CPU=0 CLIENT_CPU=1 CPUs for taskset
#   GATEWAY_CMD               command line that starts the gateway (run from the repo root);
#                             default: dotnet publish src/Gateway once, then
#                             "dotnet bench/out/gateway/Gateway.dll"
#   GATEWAY_PORT=9003 NODE_PORT=9103
#   REPEAT=1 STARTUP_TIMEOUT=60 QUIET_WAIT=120 QUIET_PCT=10 OTHER_MAX_PCT=10 RETRY_DISTURBED=2
#                             as in run-tcp-echo.sh
set -euo pipefail

DURATION="${DURATION:-10}"
WARMUP="${WARMUP:-5}"
DRAIN="${DRAIN:-1}"
SIZE="${SIZE:-64}"
SOCKETS="${SOCKETS:-32}"
BATCH="${BATCH:-32}"
LOAD_PCT="${LOAD_PCT:-80}"
MODES="${MODES:-max load}"
SERVERS="${SERVERS:-gateway node}"
GATEWAY_PORT="${GATEWAY_PORT:-9003}"
NODE_PORT="${NODE_PORT:-9103}"
source "$(dirname "$0")/lib.sh"

check_servers gateway node
[[ "$LOAD_PCT" =~ ^[0-9]+$ && "$LOAD_PCT" -gt 0 ]] || die "LOAD_PCT must be a positive integer"
read -ra modes <<<"$MODES"
[[ "${modes[*]}" =~ ^max( load)?$ ]] || die "MODES must be \"max load\" or \"max\" (got \"$MODES\")"
mkdir -p "$OUT"

# ---------- build ----------
log "building the load generator into $OUT"
make -s -C "$BENCH_DIR/loadgen" OUT="$OUT" "$OUT/udpgen" >&2
LOADGEN="$OUT/udpgen"
command -v taskset >/dev/null || die "taskset not found (util-linux)"
command -v ss >/dev/null || die "ss not found (iproute2)"
if [[ " $SERVERS " == *" node "* ]]; then command -v node >/dev/null || die "node not found"; fi
prepare_gateway

SERVER_ENV=("Gateway__Endpoints__udp__Port=$GATEWAY_PORT")
server_cmd() {
    case "$1" in
        gateway) echo "$GATEWAY_CMD" ;;
        node)    echo "node $BENCH_DIR/peers/node-udp-echo.js $NODE_PORT" ;;
    esac
}

# ---------- run ----------
open_results udp "duration=${DURATION}s warmup=${WARMUP}s drain=${DRAIN}s size=$SIZE sockets=$SOCKETS batch=$BATCH load_pct=$LOAD_PCT"

# One measurement: start server, run udpgen (it samples the CPU of the server, of itself and of the
# machine over exactly the measured window), stop server. Sets RUN and RUN_OTHER.
run_one() {   # server mode(max|load) rate(0 = unlimited)
    local server="$1" mode="$2" rate="$3" port lg_out lg_rc
    port="$(server_port "$server")"
    begin_run "$server" "$port" "$OUT/server-udp-$server.log" udp_bound
    sleep 0.5   # bound is not yet serving: let the host finish starting
    log "$server / $mode: $SOCKETS sockets, ${SIZE}B, rate $([[ $rate == 0 ]] && echo unlimited || echo "$rate/s"), warmup ${WARMUP}s + ${DURATION}s"
    lg_out="$OUT/udpgen-last.txt"
    lg_rc=0
    # timeout is a safety net only: udpgen stops itself after warmup+duration+drain.
    timeout --kill-after=5 "$(awk -v w="$WARMUP" -v d="$DURATION" -v r="$DRAIN" 'BEGIN{print int(w+d+r+30)}')" \
        taskset -c "$CLIENT_CPU" "$LOADGEN" --host 127.0.0.1 --port "$port" --sockets "$SOCKETS" --batch "$BATCH" --size "$SIZE" \
        --rate "$rate" --duration "$DURATION" --warmup "$WARMUP" --drain "$DRAIN" \
        --server-pid "$SERVER_PID" --server-cpu "$SERVER_CPU" >"$lg_out" || lg_rc=$?
    end_run "$lg_rc" "$lg_out" "server=$server mode=$mode"
    if [[ -n "$line" ]]; then
        echo "RESULT server=$server mode=$mode ${line#RESULT }" >>"$RESULTS"
        RUN_OTHER="$(field other_cpu_pct)"
        RUN=("$(field sent_per_s)" "$(field recv_per_s)" "$(field loss_pct)" "$(field p50_us)" "$(field p99_us)" \
             "$(field server_cpu_pct)" "$(field server_core_softirq_pct)" "$(field loadgen_cpu_pct)" "$RUN_OTHER" "$rate")
    fi
    sleep 1
}

FAILED=0
declare -A SENT RECV LOSS P50 P99 SRVCPU SIRQ LGCPU OTHER TARGET REPRECV REPP99
store() {   # server mode rep: keeps RUN's figures
    local k="$1|$2"
    ((${#RUN[@]})) || return 0
    SENT[$k]+="${RUN[0]} "; RECV[$k]+="${RUN[1]} "; LOSS[$k]+="${RUN[2]} "; P50[$k]+="${RUN[3]} "
    P99[$k]+="${RUN[4]} "; SRVCPU[$k]+="${RUN[5]} "; SIRQ[$k]+="${RUN[6]} "; LGCPU[$k]+="${RUN[7]} "
    OTHER[$k]+="${RUN[8]} "; TARGET[$k]+="${RUN[9]} "
    REPRECV[$k|$3]="${RUN[1]}"; REPP99[$k|$3]="${RUN[4]}"
}
for ((rep = 1; rep <= REPEAT; rep++)); do
    ((REPEAT == 1)) || log "repetition $rep/$REPEAT"
    order="$(servers_for_rep "$rep")"
    for server in $order; do
        measure_retrying run_one "$server" max 0
        store "$server" max "$rep"
    done
    [[ " $MODES " == *" load "* ]] || continue
    for server in $order; do
        max="${REPRECV[$server|max|$rep]:-0}"
        if awk -v m="$max" 'BEGIN{exit !(m >= 100)}'; then
            measure_retrying run_one "$server" load "$(awk -v m="$max" -v p="$LOAD_PCT" 'BEGIN{printf "%.0f", m*p/100}')"
            store "$server" load "$rep"
        else
            log "no usable max for $server: skipping its ${LOAD_PCT}% run"; FAILED=1
        fi
    done
done

# ---------- report ----------
{
    echo
    echo "UDP echo, ${SIZE} B datagrams, ${SOCKETS} client sockets, ${DURATION} s measured after ${WARMUP} s warmup (+ ${DRAIN} s drain); server on CPU ${SERVER_CPU}, loadgen on CPU ${CLIENT_CPU}; median of ${REPEAT} run(s)"
    echo
    echo "| server | run | target/s | sent/s | echoed/s | loss % | p50 (us) | p99 (us) | server CPU % | softirq on server CPU % | loadgen CPU % |"
    echo "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    for mode in $MODES; do
        for server in $SERVERS; do
            k="$server|$mode"
            label="$([[ $mode == max ]] && echo "max (unlimited)" || echo "${LOAD_PCT}% of own max")"
            tgt="$(median TARGET "$k")"; [[ "$tgt" == 0 ]] && tgt="unlimited"
            echo "| $server | $label | $tgt | $(median SENT "$k") | $(range_cell RECV "$k") | $(median LOSS "$k") | $(median P50 "$k") | $(median P99 "$k") | $(median SRVCPU "$k") | $(median SIRQ "$k") | $(median LGCPU "$k") |"
        done
    done
    echo
    echo "Ratios: median over repetitions of the ratio within each repetition (min-max in brackets); echoed/s"
    echo "above 1 means the gateway echoes more; p99 below 1 means the gateway's tail latency is lower."
    echo
    echo "| metric | gateway/node |"
    echo "|---|---:|"
    echo "| max echoed datagrams/s | $(paired_ratio REPRECV gateway node max) |"
    if [[ " $MODES " == *" load "* ]]; then
        echo "| echoed/s at ${LOAD_PCT}% of own max | $(paired_ratio REPRECV gateway node load) |"
        echo "| p99 at ${LOAD_PCT}% of own max | $(paired_ratio REPP99 gateway node load) |"
        echo "| loss % at ${LOAD_PCT}% of own max (gateway, node) | $(median LOSS "gateway|load"), $(median LOSS "node|load") |"
    fi
    echo
    warn_disturbed OTHER
} | tee -a "$RESULTS"
log "raw results: $RESULTS"
exit "$FAILED"
