#!/usr/bin/env bash
# Subscriptions benchmark, two parts:
# 1. What unrelated wildcard subscriptions cost a publish: pipelined TCP echo (as in run-tcp-echo.sh) with 0, then
#    WILDCARDS unrelated wildcard subscriptions present, held by one WebSocket in envelope mode
#    (bench/loadgen/ws-subscribe.js: "bench/<i>/+" and "+/bench<i>/#", none matching an echo topic).
# 2. What a shared topic costs a subscribe: CLIENTS TCP clients connect (bench/loadgen/connect-many.js) to an
#    endpoint whose connections all subscribe to one topic ("shared"), and to one where each subscribes to a topic
#    of its own ("apart"); the time until the gateway reports them all open, and the gateway's CPU seconds in it.
#
# For every server and count: start the server pinned to SERVER_CPU, subscribe, run bench/out/loadgen pinned to
# CLIENT_CPU, stop both. Within a repetition the counts run in turn for each server, in an order that alternates
# between repetitions; the report gives each count's frames/s against the same server's 0 in that repetition
# (>= 1 means the subscriptions cost nothing). SERVERS="gateway-base gateway" with GATEWAY_BASE_CMD measures an
# older build beside this one.
#
# Usage: bash bench/run-subscriptions.sh
# Env (defaults):
#   WILDCARDS="0 10000 40000"   subscription counts (0 is the baseline and is always run)
#   DURATION=10 WARMUP=2 SIZE=64 CONNECTIONS=50 INFLIGHT=16   the echo load, as run-tcp-echo.sh's pipelined case
#   CLIENTS=19000               clients per connect run (0: skip part 2); each is a socket of the gateway, whose
#                               open-file limit must hold them (ulimit -n)
#   CONNECT_WARMUP=2000         clients connected and closed before each connect run is measured (0: none)
#   PARTS="wildcards connect"   which parts to run
#   SERVERS="gateway"           gateway and/or gateway-base
#   GATEWAY_PORT=9000 HTTP_PORT=8080 SERVER_CPU=0 CLIENT_CPU=1 REPEAT=1 (and lib.sh's)
set -euo pipefail

WILDCARDS="${WILDCARDS:-0 10000 40000}"
DURATION="${DURATION:-10}"
WARMUP="${WARMUP:-2}"
SIZE="${SIZE:-64}"
CONNECTIONS="${CONNECTIONS:-50}"
INFLIGHT="${INFLIGHT:-16}"
SERVERS="${SERVERS:-gateway}"
CLIENTS="${CLIENTS:-19000}"
CONNECT_WARMUP="${CONNECT_WARMUP:-2000}"
PARTS="${PARTS:-wildcards connect}"
SHARED_PORT="${SHARED_PORT:-9010}"
APART_PORT="${APART_PORT:-9011}"
GATEWAY_PORT="${GATEWAY_PORT:-9000}"
HTTP_PORT="${HTTP_PORT:-8080}"
source "$(dirname "$0")/lib.sh"

check_servers gateway
[[ " $WILDCARDS " == *" 0 "* ]] || WILDCARDS="0 $WILDCARDS"
mkdir -p "$OUT"
log "building the load generator into $OUT"
make -s -C "$BENCH_DIR/loadgen" OUT="$OUT" "$OUT/loadgen" >&2
command -v node >/dev/null || die "node not found"
[[ -d "$BENCH_DIR/node_modules/ws" ]] || (cd "$BENCH_DIR" && npm ci --no-audit --no-fund --loglevel=error >&2)
prepare_gateway

SERVER_ENV=("Gateway__Endpoints__echo__Port=$GATEWAY_PORT" "Gateway__Http__Port=$HTTP_PORT")
# Part 2's endpoints: line-framed, room for every client, every connection subscribed to one topic or to its own.
for endpoint in shared apart; do
    port_var="${endpoint^^}_PORT"
    SERVER_ENV+=("Gateway__Endpoints__${endpoint}__Port=${!port_var}" "Gateway__Endpoints__${endpoint}__Framing__Kind=Line"
                 "Gateway__Endpoints__${endpoint}__MaxConnections=$((CLIENTS + 100))"
                 "Gateway__Endpoints__${endpoint}__Publish=bench/up/{connectionId}")
done
SERVER_ENV+=("Gateway__Endpoints__shared__Subscribe__0=bench/shared" "Gateway__Endpoints__apart__Subscribe__0=bench/apart/{connectionId}")
server_cmd() { echo "$GATEWAY_CMD"; }

open_results subscriptions "duration=${DURATION}s warmup=${WARMUP}s size=$SIZE connections=$CONNECTIONS inflight=$INFLIGHT wildcards=\"$WILDCARDS\" clients=$CLIENTS connect_warmup=$CONNECT_WARMUP"

SUBSCRIBER_PID=""
stop_subscriber() {
    [[ -n "$SUBSCRIBER_PID" ]] || return 0
    kill "$SUBSCRIBER_PID" 2>/dev/null || true
    wait "$SUBSCRIBER_PID" 2>/dev/null || true
    SUBSCRIBER_PID=""
}
trap 'stop_subscriber; bench_cleanup' EXIT

# One measurement; leaves frames/s, p99 and the server's CPU % in RUN (empty if it failed) and RUN_OTHER.
run_one() {   # server wildcards
    local server="$1" count="$2" lg_out lg_rc t0 t1 busy0 busy1 srv0 srv1 srv_pct busy_pct lg_pct
    begin_run "$server" "$GATEWAY_PORT" "$OUT/server-$server.log" port_open
    if ((count > 0)); then
        node "$BENCH_DIR/loadgen/ws-subscribe.js" "ws://127.0.0.1:$HTTP_PORT/ws" "$count" >"$OUT/subscriber.log" 2>&1 &
        SUBSCRIBER_PID=$!
        wait_for_line "$OUT/subscriber.log" subscribed "$SUBSCRIBER_PID" 120 "the subscriber of $count wildcards"
        sleep 1   # let the acknowledgements' work settle before measuring
    fi
    log "$server / $count wildcard subscriptions: pipelined echo, $CONNECTIONS conns x $INFLIGHT in flight, ${SIZE}B, warmup ${WARMUP}s + ${DURATION}s"
    lg_out="$OUT/loadgen-last.txt"
    timeout --kill-after=5 "$((WARMUP + DURATION + 30))" taskset -c "$CLIENT_CPU" "$OUT/loadgen" --host 127.0.0.1 \
        --port "$GATEWAY_PORT" --connections "$CONNECTIONS" --inflight "$INFLIGHT" --size "$SIZE" \
        --duration "$DURATION" --warmup "$WARMUP" >"$lg_out" &
    LOADGEN_PID=$!
    sleep "$WARMUP"
    t0=$(date +%s%N); busy0=$(machine_ticks); srv0=$(proc_ticks "$SERVER_PID")
    lg_rc=0; wait "$LOADGEN_PID" || lg_rc=$?
    LOADGEN_PID=""
    t1=$(date +%s%N); busy1=$(machine_ticks); srv1=$(proc_ticks "$SERVER_PID")
    read -r srv_pct busy_pct < <(awk -v a="$srv0" -v b="$srv1" -v c="$busy0" -v d="$busy1" -v t="$(( (t1 - t0) / 1000 ))" \
        -v hz="$CLK_TCK" 'BEGIN{ s=t/1e6; printf "%.0f %.0f\n", 100*(b-a)/hz/s, 100*(d-c)/hz/s }')
    stop_subscriber
    end_run "$lg_rc" "$lg_out" "server=$server wildcards=$count"
    if [[ -n "$line" ]]; then
        lg_pct="$(field loadgen_cpu_pct)"
        RUN_OTHER=$(( busy_pct - srv_pct - lg_pct )); ((RUN_OTHER > 0)) || RUN_OTHER=0
        echo "RESULT server=$server wildcards=$count ${line#RESULT } server_cpu_pct=$srv_pct other_cpu_pct=$RUN_OTHER" >>"$RESULTS"
        RUN=("$(field frames_per_s)" "$(field p99_us)" "$srv_pct")
        log "server cpu ${srv_pct}%, loadgen cpu ${lg_pct}%, other processes ${RUN_OTHER}%"
        [[ "$(field errors)" == "0" ]] || FAILED=1
    fi
    sleep 1
}

CONNECT_RUN=0
# Starts COUNT clients of PORT in the background (SUBSCRIBER_PID), from a loopback address of their own: a run's closed
# connections hold their ports in TIME_WAIT.
start_clients() {   # port count
    CONNECT_RUN=$((CONNECT_RUN + 1))
    taskset -c "$CLIENT_CPU" node "$BENCH_DIR/loadgen/connect-many.js" "127.0.0.1:$1" "$2" 200 \
        "127.0.$((CONNECT_RUN / 250)).$((CONNECT_RUN % 250 + 2))" >"$OUT/connect-last.txt" 2>&1 &
    SUBSCRIBER_PID=$!
}

# Waits until the gateway lists COUNT connections open on ENDPOINT (while the clients live, if they should).
wait_listed() {   # endpoint count
    local endpoint="$1" count="$2" open=-1 deadline=$((SECONDS + 300))
    while ((open != count)); do
        if ((count > 0)); then
            kill -0 "$SUBSCRIBER_PID" 2>/dev/null || { cat "$OUT/connect-last.txt" >&2; die "the connecting clients failed"; }
        fi
        ((SECONDS < deadline)) || die "$endpoint did not list $count connections after 300 s ($open did)"
        sleep 0.1
        # curl and grep rather than a JSON parser's start-up ten times a second, which would take CPU from the run.
        open=$(curl -s "http://127.0.0.1:$HTTP_PORT/api/endpoints" | awk -v RS='[{]"name":' -v name="\"$endpoint\"" \
            'index($0, name) == 1 && match($0, /"connections":[0-9]+/) { print substr($0, RSTART + 14, RLENGTH - 14) }')
        open=${open:-0}
    done
}

# One connect run; leaves the seconds until the gateway listed every client and its CPU seconds meanwhile in RUN.
connect_one() {   # server endpoint
    local server="$1" endpoint="$2" port_var="${2^^}_PORT" port t0 t1 srv0 srv1
    port="${!port_var}"
    begin_run "$server" "$port" "$OUT/server-$server.log" port_open
    if ((CONNECT_WARMUP > 0)); then
        # The connect path compiled and optimised (the JIT's tiers) before anything is measured.
        log "$server / warming up $endpoint with $CONNECT_WARMUP clients"
        start_clients "$port" "$CONNECT_WARMUP"
        wait_listed "$endpoint" "$CONNECT_WARMUP"
        stop_subscriber
        wait_listed "$endpoint" 0
        sleep 2
    fi
    log "$server / $CLIENTS clients connecting to $endpoint ($( [[ $endpoint == shared ]] && echo 'one topic for all' || echo 'a topic each'))"
    t0=$(date +%s%N); srv0=$(proc_ticks "$SERVER_PID")
    start_clients "$port" "$CLIENTS"
    wait_listed "$endpoint" "$CLIENTS"
    t1=$(date +%s%N); srv1=$(proc_ticks "$SERVER_PID")
    stop_subscriber
    stop_server
    RUN=("$(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.2f", (b-a)/1e9}')" "$(awk -v a="$srv0" -v b="$srv1" -v hz="$CLK_TCK" 'BEGIN{printf "%.2f", (b-a)/hz}')")
    RUN_OTHER=0
    echo "RESULT server=$server endpoint=$endpoint clients=$CLIENTS seconds=${RUN[0]} server_cpu_s=${RUN[1]}" >>"$RESULTS"
    log "all $CLIENTS open after ${RUN[0]} s, gateway cpu ${RUN[1]} s"
    sleep 2
}

counts_for_rep() { if (($1 % 2)); then echo "$WILDCARDS"; else printf '%s\n' $WILDCARDS | tac | tr '\n' ' '; fi; }

FAILED=0
declare -A FPS P99 OTHER REPFPS REPP99 CONNECT_S CONNECT_CPU REPCONNECT_S REPCONNECT_CPU
for ((rep = 1; rep <= REPEAT; rep++)); do
    ((REPEAT == 1)) || log "repetition $rep/$REPEAT"
    for server in $(servers_for_rep "$rep"); do
        if [[ " $PARTS " == *" wildcards "* ]]; then
            for count in $(counts_for_rep "$rep"); do
                measure_retrying run_one "$server" "$count"
                if ((${#RUN[@]})); then
                    k="$server|$count"
                    FPS[$k]+="${RUN[0]} "; P99[$k]+="${RUN[1]} "; OTHER[$k]+="$RUN_OTHER "
                    REPFPS[$k|$rep]="${RUN[0]}"; REPP99[$k|$rep]="${RUN[1]}"
                fi
            done
        fi
        if [[ " $PARTS " == *" connect "* ]] && ((CLIENTS > 0)); then
            endpoints="shared apart"; ((rep % 2)) || endpoints="apart shared"
            for endpoint in $endpoints; do
                connect_one "$server" "$endpoint"
                k="$server|$endpoint"
                CONNECT_S[$k]+="${RUN[0]} "; CONNECT_CPU[$k]+="${RUN[1]} "
                REPCONNECT_S[$k|c|$rep]="${RUN[0]}"; REPCONNECT_CPU[$k|c|$rep]="${RUN[1]}"
            done
        fi
    done
done

# ---------- report ----------
{
    if [[ " $PARTS " == *" wildcards "* ]]; then
    echo
    echo "Pipelined TCP echo (${CONNECTIONS} x ${INFLIGHT} in flight, ${SIZE} B) with unrelated wildcard subscriptions present, ${DURATION} s measured after ${WARMUP} s warmup; server on CPU ${SERVER_CPU}, loadgen on CPU ${CLIENT_CPU}; median of ${REPEAT} run(s)"
    echo
    echo "| server | wildcard subscriptions | frames/s | p99 (us) | frames/s vs none | p99 vs none |"
    echo "|---|---:|---:|---:|---:|---:|"
    for server in $SERVERS; do
        for count in $WILDCARDS; do
            # Per repetition: this count against the same server's run without subscriptions (paired_ratio keys).
            declare -A PAIR_FPS=() PAIR_P99=()
            for ((rep = 1; rep <= REPEAT; rep++)); do
                PAIR_FPS[with|c|$rep]="${REPFPS[$server|$count|$rep]:-}"; PAIR_FPS[none|c|$rep]="${REPFPS[$server|0|$rep]:-}"
                PAIR_P99[with|c|$rep]="${REPP99[$server|0|$rep]:-}"; PAIR_P99[none|c|$rep]="${REPP99[$server|$count|$rep]:-}"
            done
            echo "| $server | $count | $(range_cell FPS "$server|$count") | $(median P99 "$server|$count") | $(paired_ratio PAIR_FPS with none c) | $(paired_ratio PAIR_P99 with none c) |"
            unset PAIR_FPS PAIR_P99
        done
    done
    echo
    echo "vs none: median over repetitions of the ratio to the same server without subscriptions in the same repetition;"
    echo "frames/s: with/none, p99: none/with, so 1 means the subscriptions cost nothing."
    fi
    echo
    if [[ " $PARTS " == *" connect "* ]] && ((CLIENTS > 0)); then
        echo "$CLIENTS clients connecting (200 at a time, after $CONNECT_WARMUP connected and closed), until the gateway lists them all open: one topic shared by all (shared) or one each (apart)"
        echo
        echo "| server | endpoint | seconds | gateway CPU seconds | shared/apart seconds | shared/apart CPU |"
        echo "|---|---|---:|---:|---:|---:|"
        for server in $SERVERS; do
            for endpoint in shared apart; do
                ratios="| |"
                [[ $endpoint == shared ]] && ratios="| $(paired_ratio REPCONNECT_S "$server|shared" "$server|apart" c) | $(paired_ratio REPCONNECT_CPU "$server|shared" "$server|apart" c) |"
                echo "| $server | $endpoint | $(median CONNECT_S "$server|$endpoint") | $(median CONNECT_CPU "$server|$endpoint") $ratios"
            done
        done
        echo
    fi
    warn_disturbed OTHER
} | tee -a "$RESULTS"
log "raw results: $RESULTS"
exit "$FAILED"
