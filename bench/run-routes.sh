#!/usr/bin/env bash
# Routes benchmark (issue 18, item 8): line frames published over TCP and forwarded, one POST each, to a local HTTP
# sink, by the gateway's route (To.Kind=Http) and by a Node.js peer doing the same job (bench/peers/routes-peer.js:
# a `net` server POSTing each frame through one http.Agent with keepAlive and maxSockets), with the same connection
# limit (MAX_SOCKETS) and the same bounded queue (QUEUE, drop newest) on both sides.
#
# For every server and scenario: start the server pinned to SERVER_CPU, wait for its port, run bench/out/routegen
# pinned to CLIENT_CPU, stop the server. routegen is the load and the sink in one process (bench/loadgen/routegen.c):
# CONNECTIONS device connections write timestamped line frames to the server, and its HTTP sink answers 204 to every
# POST and measures each frame's latency from its write to the sink's read of the request. Scenarios:
#   saturation  closed loop: each connection has WINDOW frames on their way at most; a frame the sink receives gives
#               its connection a slot back, so the server always has work waiting and forwards at its maximum
#   paced       open loop: PACED_RATE frames/s in all, whatever the server does, for the latency at a rate both
#               servers sustain
# Servers run strictly one after another; within a repetition the servers of one scenario run back to back, in an
# order that alternates between repetitions; ratios are taken within each repetition (paired) and the report gives
# their median. Prints a markdown table and saves the raw RESULT lines to bench/out/routes-<timestamp>.txt.
#
# Usage: bash bench/run-routes.sh
#        SERVERS=node DURATION=5 WARMUP=2 bash bench/run-routes.sh     # the Node peer alone
# Env (defaults):
#   DURATION=10 WARMUP=5      measured / warm-up seconds per run (the warm-up is load too: the gateway's HTTP client
#                             path needs a few seconds before the JIT has optimised it)
#   DRAIN=2                   seconds, after the window, for the frames still on their way (lost: the frames sent in
#                             the measured window that had not arrived by then)
#   SIZE=64                   frame bytes before the LF (the POST body)
#   CONNECTIONS=50            device connections
#   WINDOW=16                 saturation: frames on their way per connection (50 x 16 = 800, under QUEUE + MAX_SOCKETS,
#                             so a server that keeps up never has to drop)
#   PACED_RATE=5000           paced: frames/s in all (a rate the Node peer sustains: frames arriving one per read cost
#                             it about twice what they cost at saturation, where a read carries several)
#   MAX_SOCKETS=16            connections to the sink: the gateway's To.MaxConnections and MaxInFlight, Node's maxSockets
#   QUEUE=1024                requests that may wait for a connection: the gateway's Queue.Capacity, the Node peer's bound
#   SERVERS="gateway node"    subset/order of servers to run
#   SCENARIOS="saturation paced"
#   SERVER_CPU=0 CLIENT_CPU=1 CPUs for taskset
#   GATEWAY_CMD               as in run-tcp-echo.sh
#   GATEWAY_PORT=9300 NODE_PORT=9310 SINK_PORT=9400 GATEWAY_HTTP_PORT=8380
#   GEN_CORE_MAX=90           warn when the generator's core (routegen, and the loopback work charged to it) was busier
#                             than this %: the figure may then be the sink's limit rather than the server's
#   REPEAT=1 STARTUP_TIMEOUT=60 QUIET_WAIT=120 QUIET_PCT=10 OTHER_MAX_PCT=10 RETRY_DISTURBED=2   (lib.sh)
set -euo pipefail

DURATION="${DURATION:-10}"
WARMUP="${WARMUP:-5}"
DRAIN="${DRAIN:-2}"
SIZE="${SIZE:-64}"
CONNECTIONS="${CONNECTIONS:-50}"
WINDOW="${WINDOW:-16}"
PACED_RATE="${PACED_RATE:-5000}"
MAX_SOCKETS="${MAX_SOCKETS:-16}"
QUEUE="${QUEUE:-1024}"
SERVERS="${SERVERS:-gateway node}"
SCENARIOS="${SCENARIOS:-saturation paced}"
GATEWAY_PORT="${GATEWAY_PORT:-9300}"
NODE_PORT="${NODE_PORT:-9310}"
SINK_PORT="${SINK_PORT:-9400}"
GATEWAY_HTTP_PORT="${GATEWAY_HTTP_PORT:-8380}"
GEN_CORE_MAX="${GEN_CORE_MAX:-90}"
source "$(dirname "$0")/lib.sh"

check_servers gateway node
for s in $SCENARIOS; do
    [[ "$s" =~ ^(saturation|paced)$ ]] || die "unknown scenario '$s' in SCENARIOS (saturation, paced)"
done
mkdir -p "$OUT"

# ---------- build ----------
log "building routegen into $OUT"
make -s -C "$BENCH_DIR/loadgen" OUT="$OUT" "$OUT/routegen" >&2
GEN="$OUT/routegen"
command -v taskset >/dev/null || die "taskset not found (util-linux)"
if [[ " $SERVERS " == *" node "* ]]; then command -v node >/dev/null || die "node not found"; fi
prepare_gateway

SINK_URL="http://127.0.0.1:$SINK_PORT/ingest"
# The gateway: one Line-framed TCP endpoint publishing each frame on devices/{connectionId}/up, and one route
# forwarding those topics to the sink. The default endpoints are off (the echo endpoint's port and the console
# endpoint's devices/+/up subscription must not take part); the HTTP host moves off 8080.
SERVER_ENV=(
    "Gateway__Http__Port=$GATEWAY_HTTP_PORT"
    "Gateway__Endpoints__devices__Protocol=Tcp"
    "Gateway__Endpoints__devices__Port=$GATEWAY_PORT"
    "Gateway__Endpoints__devices__Framing__Kind=Line"
    "Gateway__Endpoints__devices__Framing__MaxFrameSize=65536"
    "Gateway__Endpoints__devices__Publish=devices/{connectionId}/up"
    "Gateway__Routes__sink__From__0=devices/+/up"
    "Gateway__Routes__sink__To__Kind=Http"
    "Gateway__Routes__sink__To__Url=$SINK_URL"
    "Gateway__Routes__sink__To__MaxConnections=$MAX_SOCKETS"
    "Gateway__Routes__sink__MaxInFlight=$MAX_SOCKETS"
    "Gateway__Routes__sink__Ordering=None"
    "Gateway__Routes__sink__Queue__Capacity=$QUEUE"
    "Gateway__Routes__sink__Queue__Overflow=DropNewest"
)
for endpoint in echo stick chat console udp chat_unix; do SERVER_ENV+=("Gateway__Endpoints__${endpoint}__Enabled=false"); done
server_cmd() {
    case "$1" in
        gateway) echo "$GATEWAY_CMD" ;;
        node)    echo "node $BENCH_DIR/peers/routes-peer.js $NODE_PORT $SINK_URL $MAX_SOCKETS $QUEUE" ;;
    esac
}
scenario_load() {   # routegen's options for a scenario
    if [[ "$1" == saturation ]]; then echo "--window $WINDOW"; else echo "--rate $PACED_RATE"; fi
}
scenario_label() {
    if [[ "$1" == saturation ]]; then echo "saturation ($CONNECTIONS x $WINDOW)"; else echo "paced ($PACED_RATE/s)"; fi
}

# ---------- run ----------
open_results routes "duration=${DURATION}s warmup=${WARMUP}s drain=${DRAIN}s size=$SIZE connections=$CONNECTIONS window=$WINDOW paced_rate=$PACED_RATE max_sockets=$MAX_SOCKETS queue=$QUEUE"

# One measurement: start the server, run routegen (which measures the server's CPU and its own), stop the server.
# Leaves the figures in RUN (empty if the run failed) and RUN_OTHER (CPU % used by other processes).
run_one() {   # server scenario
    local server="$1" scenario="$2" port out rc srvlog counts
    port="$(server_port "$server")"
    srvlog="$OUT/server-$server.log"
    begin_run "$server" "$port" "$srvlog" port_open
    log "$server / $scenario: $CONNECTIONS connections, $(scenario_load "$scenario"), ${SIZE}B frames -> $SINK_URL, warmup ${WARMUP}s + ${DURATION}s"
    out="$OUT/routegen-last.txt"
    # timeout is a safety net only: routegen stops itself (30 s for the route to come up, then the run and the drain).
    rc=0
    # shellcheck disable=SC2046  # scenario_load's words are separate options
    timeout --kill-after=5 "$(awk -v w="$WARMUP" -v d="$DURATION" -v r="$DRAIN" 'BEGIN{print int(w+d+r+60)}')" \
        taskset -c "$CLIENT_CPU" "$GEN" --port "$port" --sink-port "$SINK_PORT" --connections "$CONNECTIONS" \
        $(scenario_load "$scenario") --size "$SIZE" --warmup "$WARMUP" --duration "$DURATION" --drain "$DRAIN" \
        --server-pid "$SERVER_PID" --server-cpu "$SERVER_CPU" >"$out" || rc=$?
    end_run "$rc" "$out" "server=$server scenario=$scenario"
    # The Node peer prints its own counts (forwarded, dropped by its bounded queue, failed) when it stops.
    counts="$(grep -h '^routes-peer: forwarded' "$srvlog" || true)"
    [[ -z "$counts" ]] || echo "# server=$server scenario=$scenario: $counts" >>"$RESULTS"
    if [[ -n "$line" ]]; then
        RUN_OTHER="$(field other_cpu_pct)"
        echo "RESULT server=$server scenario=$scenario ${line#RESULT }" >>"$RESULTS"
        RUN=("$(field msgs_per_s)" "$(field p50_us)" "$(field p99_us)" "$(field lost)" "$(field server_cpu_pct)" \
             "$(field routegen_core_pct)" "$RUN_OTHER")
        log "$(field msgs_per_s) msgs/s, p99 $(field p99_us) us, lost $(field lost) of the window's frames ($(field lost_all) with the warm-up's), server cpu $(field server_cpu_pct)%, routegen cpu $(field routegen_cpu_pct)% (its core $(field routegen_core_pct)% busy), other processes ${RUN_OTHER}%, sink connections $(field sink_conns_max)"
        [[ "$(field errors)" == "0" ]] || FAILED=1
        if (($(field not_queued) > 0)); then
            log "WARNING: routegen could not queue $(field not_queued) frames (the server stopped reading): the paced rate was not offered in full"
            echo "# WARNING: server=$server scenario=$scenario: $(field not_queued) frames not queued by routegen" >>"$RESULTS"
        fi
        if (($(field sink_conns_max) > MAX_SOCKETS)); then
            log "WARNING: $server opened $(field sink_conns_max) connections to the sink at once, more than MAX_SOCKETS=$MAX_SOCKETS"
            echo "# WARNING: server=$server scenario=$scenario opened $(field sink_conns_max) sink connections at once (MAX_SOCKETS=$MAX_SOCKETS)" >>"$RESULTS"
        fi
    fi
    sleep 1   # let sockets from the previous run settle
}

FAILED=0
declare -A MPS P50 P99 LOST SRVCPU GENCORE OTHER REPMPS REPP99
for ((rep = 1; rep <= REPEAT; rep++)); do
    ((REPEAT == 1)) || log "repetition $rep/$REPEAT"
    for scenario in $SCENARIOS; do
        for server in $(servers_for_rep "$rep"); do
            measure_retrying run_one "$server" "$scenario"
            if ((${#RUN[@]})); then
                k="$server|$scenario"
                MPS[$k]+="${RUN[0]} "; P50[$k]+="${RUN[1]} "; P99[$k]+="${RUN[2]} "; LOST[$k]+="${RUN[3]} "
                SRVCPU[$k]+="${RUN[4]} "; GENCORE[$k]+="${RUN[5]} "; OTHER[$k]+="${RUN[6]} "
                REPMPS[$k|$rep]="${RUN[0]}"; REPP99[$k|$rep]="${RUN[2]}"
            fi
        done
    done
done

# ---------- report ----------
{
    echo
    echo "Routes: ${SIZE} B line frames from ${CONNECTIONS} TCP connections, each POSTed to an HTTP sink over at most ${MAX_SOCKETS} connections (queue ${QUEUE}, drop newest), ${DURATION} s measured after ${WARMUP} s warmup; server on CPU ${SERVER_CPU}, routegen (load and sink) on CPU ${CLIENT_CPU}; median of ${REPEAT} run(s)"
    echo
    echo "| server | scenario | forwarded msgs/s | p50 (us) | p99 (us) | lost | server CPU % | generator core busy % |"
    echo "|---|---|---:|---:|---:|---:|---:|---:|"
    for scenario in $SCENARIOS; do
        for server in $SERVERS; do
            k="$server|$scenario"
            echo "| $server | $(scenario_label "$scenario") | $(range_cell MPS "$k") | $(median P50 "$k") | $(median P99 "$k") | $(median LOST "$k") | $(median SRVCPU "$k") | $(median GENCORE "$k") |"
        done
    done
    echo
    echo "Ratios: median over repetitions of the ratio within each repetition (min-max in brackets); msgs/s above 1"
    echo "means the gateway forwards more; p99 below 1 means the gateway's tail latency is lower."
    echo
    echo "| scenario | gateway/node msgs/s | gateway/node p99 |"
    echo "|---|---:|---:|"
    for scenario in $SCENARIOS; do
        echo "| $scenario | $(paired_ratio REPMPS gateway node "$scenario") | $(paired_ratio REPP99 gateway node "$scenario") |"
    done
    echo
    warn_disturbed OTHER
    for k in "${!GENCORE[@]}"; do
        g="$(median GENCORE "$k")"
        if [[ "$g" =~ ^[0-9.]+$ ]] && awk -v g="$g" -v m="$GEN_CORE_MAX" 'BEGIN{exit !(g > m)}'; then
            echo "WARNING: the generator's core was ${g}% busy during ${k//|/ \/ }: the figure may be routegen's and the sink's limit, not the server's."
        fi
    done
} | tee -a "$RESULTS"
log "raw results: $RESULTS"
exit "$FAILED"
