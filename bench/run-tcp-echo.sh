#!/usr/bin/env bash
# Framed-TCP echo benchmark: gateway vs Node.js vs a C epoll byte-echo ceiling.
#
# For every server and scenario: start the server pinned to SERVER_CPU, wait for
# its port, run bench/out/loadgen pinned to CLIENT_CPU, stop the server. Servers
# run strictly one after another. Prints a markdown table and saves the raw
# RESULT lines to bench/out/results-<timestamp>.txt.
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
#   GATEWAY_CMD               command line that starts the gateway (run from repo root);
#                             default: dotnet publish src/Gateway once, then
#                             "dotnet bench/out/gateway/Gateway.dll"
#   GATEWAY_PORT=9000 NODE_PORT=9100 CEPOLL_PORT=9200
#   REPEAT=1                  repetitions (interleaved across servers); the table shows medians
#   STARTUP_TIMEOUT=60        seconds to wait for a server's port to accept
#   QUIET_WAIT=120 QUIET_PCT=10   before each run, wait up to QUIET_WAIT s for the
#                             machine's CPU use to drop below QUIET_PCT % (100 = 1 core)
#   OTHER_MAX_PCT=10 RETRY_DISTURBED=2   repeat a run (up to RETRY_DISTURBED times)
#                             when other processes used more than OTHER_MAX_PCT % CPU
set -euo pipefail

BENCH_DIR="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(cd "$BENCH_DIR/.." && pwd)"
OUT="$BENCH_DIR/out"

DURATION="${DURATION:-10}"
WARMUP="${WARMUP:-2}"
SIZE="${SIZE:-64}"
CONNECTIONS="${CONNECTIONS:-50}"
PIPELINED_INFLIGHT="${PIPELINED_INFLIGHT:-16}"
SERVERS="${SERVERS:-gateway node c-epoll}"
SCENARIOS="${SCENARIOS:-pipelined ping-pong}"
SERVER_CPU="${SERVER_CPU:-0}"
CLIENT_CPU="${CLIENT_CPU:-1}"
GATEWAY_PORT="${GATEWAY_PORT:-9000}"
NODE_PORT="${NODE_PORT:-9100}"
CEPOLL_PORT="${CEPOLL_PORT:-9200}"
STARTUP_TIMEOUT="${STARTUP_TIMEOUT:-60}"
REPEAT="${REPEAT:-1}"
QUIET_WAIT="${QUIET_WAIT:-120}"
QUIET_PCT="${QUIET_PCT:-10}"
OTHER_MAX_PCT="${OTHER_MAX_PCT:-10}"
RETRY_DISTURBED="${RETRY_DISTURBED:-2}"

log() { printf '[bench] %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

SERVER_PID=""
LOADGEN_PID=""
cleanup() {
    if [[ -n "$LOADGEN_PID" ]]; then kill "$LOADGEN_PID" 2>/dev/null || true; fi
    stop_server
}
stop_server() {
    local pid="$SERVER_PID"
    [[ -n "$pid" ]] || return 0
    SERVER_PID=""
    if kill -0 "$pid" 2>/dev/null; then
        kill -TERM "$pid" 2>/dev/null || true
        # Bounded wait for a graceful exit, then force it.
        for _ in $(seq 50); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        kill -KILL "$pid" 2>/dev/null || true
    fi
    wait "$pid" 2>/dev/null || true
}
trap cleanup EXIT
trap 'exit 130' INT    # the EXIT trap still runs and stops the server
trap 'exit 143' TERM

for s in $SERVERS; do
    [[ "$s" =~ ^(gateway|node|c-epoll)$ ]] || die "unknown server '$s' in SERVERS (gateway, node, c-epoll)"
done
for s in $SCENARIOS; do
    [[ "$s" =~ ^(pipelined|ping-pong)$ ]] || die "unknown scenario '$s' in SCENARIOS (pipelined, ping-pong)"
done

cd "$ROOT"   # GATEWAY_CMD and its relative paths are relative to the repo root
mkdir -p "$OUT"

# ---------- build ----------
log "building C programs into $OUT"
make -s -C "$BENCH_DIR/loadgen" OUT="$OUT" >&2
LOADGEN="$OUT/loadgen"

command -v taskset >/dev/null || die "taskset not found (util-linux)"
if [[ " $SERVERS " == *" node "* ]]; then command -v node >/dev/null || die "node not found"; fi

if [[ " $SERVERS " == *" gateway "* && -z "${GATEWAY_CMD:-}" ]]; then
    command -v dotnet >/dev/null || die "dotnet not found; set GATEWAY_CMD or SERVERS=\"node c-epoll\""
    log "publishing the gateway (Release) into bench/out/gateway"
    dotnet publish src/Gateway -c Release -o "$OUT/gateway" >&2 ||
        die "gateway publish failed; fix the build, set GATEWAY_CMD, or run with SERVERS=\"node c-epoll\""
    GATEWAY_CMD="dotnet bench/out/gateway/Gateway.dll"
fi

server_cmd() {
    case "$1" in
        gateway) echo "$GATEWAY_CMD" ;;
        node)    echo "node $BENCH_DIR/peers/node-echo.js $NODE_PORT" ;;
        c-epoll) echo "$OUT/epoll-echo $CEPOLL_PORT" ;;
        *)       die "unknown server '$1'" ;;
    esac
}
server_port() {
    case "$1" in
        gateway) echo "$GATEWAY_PORT" ;;
        node)    echo "$NODE_PORT" ;;
        c-epoll) echo "$CEPOLL_PORT" ;;
    esac
}
scenario_inflight() {
    case "$1" in
        pipelined) echo "$PIPELINED_INFLIGHT" ;;
        ping-pong) echo 1 ;;
        *)         die "unknown scenario '$1'" ;;
    esac
}

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

start_server() {   # name port logfile
    local name="$1" port="$2" logf="$3" cmd
    cmd="$(server_cmd "$name")"
    # A leftover process on the port would silently be benchmarked instead.
    port_open "$port" && die "port $port already accepts connections before starting $name"
    log "starting $name on CPU $SERVER_CPU: $cmd"
    # Only the echo endpoint matters; keep logging quiet so it does not cost CPU.
    # (Harmless for non-gateway commands.) exec keeps $! == the server's pid.
    Gateway__Endpoints__echo__Port="$GATEWAY_PORT" \
    DOTNET_ENVIRONMENT=Production ASPNETCORE_ENVIRONMENT=Production \
    Logging__LogLevel__Default=Warning \
        taskset -c "$SERVER_CPU" bash -c "exec $cmd" >"$logf" 2>&1 &
    SERVER_PID=$!
    local deadline=$((SECONDS + STARTUP_TIMEOUT))
    until port_open "$port"; do
        if ! kill -0 "$SERVER_PID" 2>/dev/null; then
            log "$name exited during startup; its output:"; cat "$logf" >&2
            die "$name failed to start"
        fi
        ((SECONDS < deadline)) || { cat "$logf" >&2; die "$name did not accept on port $port within ${STARTUP_TIMEOUT}s"; }
        sleep 0.1
    done
}

# ---------- run ----------
STAMP="$(date +%Y%m%d-%H%M%S)"
RESULTS="$OUT/results-$STAMP.txt"
{
    echo "# tcp-echo bench $STAMP"
    echo "# host: $(uname -srm), cpus: $(nproc), commit: $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo none)"
    echo "# node: $(node --version 2>/dev/null || echo n/a), dotnet: $(dotnet --version 2>/dev/null || echo n/a)"
    echo "# duration=${DURATION}s warmup=${WARMUP}s size=$SIZE connections=$CONNECTIONS server_cpu=$SERVER_CPU client_cpu=$CLIENT_CPU"
    if [[ " $SERVERS " == *" gateway "* ]]; then echo "# gateway_cmd: $GATEWAY_CMD"; fi
} >"$RESULTS"

field() { printf '%s\n' "$line" | tr ' ' '\n' | awk -F= -v k="$1" '$1==k{print $2}'; }   # reads $line
declare -A FPS MBPS P50 P99 SRVCPU LGCPU OTHER
CLK_TCK="$(getconf CLK_TCK)"
# busy jiffies of the whole machine: user+nice+system+irq+softirq (no idle/iowait/steal)
machine_ticks() { awk '/^cpu /{print $2+$3+$4+$7+$8; exit}' /proc/stat; }
# jiffies stolen by the hypervisor (other VMs on the host): a disturbance we cannot wait out
steal_ticks() { awk '/^cpu /{print $9; exit}' /proc/stat; }
# utime+stime of a process (all threads); fields counted after the ") " that ends comm
proc_ticks() { sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | awk '{print $12+$13} END{if (NR == 0) print 0}'; }
# The machine may be shared (e.g. someone building): before each run wait up to
# QUIET_WAIT s until less than QUIET_PCT % CPU (100 = one core) is in use.
wait_quiet() {
    local deadline=$((SECONDS + QUIET_WAIT)) b0 b1 pct
    while :; do
        b0=$(machine_ticks); sleep 1; b1=$(machine_ticks)
        pct=$(( 100 * (b1 - b0) / CLK_TCK ))
        ((pct < QUIET_PCT)) && return 0
        if ((SECONDS >= deadline)); then
            log "machine still busy (${pct}% CPU) after ${QUIET_WAIT}s; measuring anyway"
            return 0
        fi
        log "machine busy (${pct}% CPU), waiting for it to calm down"
    done
}

# One measurement: start server, run loadgen, stop server. Appends the raw
# RESULT line to $RESULTS and leaves the figures in RUN (empty if the run
# failed) and RUN_OTHER (CPU % used by other processes meanwhile).
run_one() {   # server scenario
    local server="$1" scenario="$2" port inflight lg_out lg_rc t0 t1 busy0 busy1 srv0 srv1
    local steal0 steal1 srv_pct busy_pct steal_pct lg_pct out human
    port="$(server_port "$server")"
    inflight="$(scenario_inflight "$scenario")"
    RUN=(); RUN_OTHER=0
    wait_quiet
    start_server "$server" "$port" "$OUT/server-$server.log"
    log "$server / $scenario: $CONNECTIONS conns x $inflight in flight, ${SIZE}B, warmup ${WARMUP}s + ${DURATION}s"
    # loadgen runs in the background so the CPU use of the server and of
    # everything else on the machine can be sampled over the measured window.
    # timeout is a safety net only: loadgen stops itself after warmup+duration.
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
    stop_server
    ((lg_rc == 0)) || { log "loadgen failed for $server / $scenario (exit $lg_rc)"; FAILED=1; }
    out="$(cat "$lg_out")"
    # CPU % over the measured window (100 = one core); "other" is everything
    # that is neither this server nor the loadgen (e.g. a build running meanwhile).
    read -r srv_pct busy_pct steal_pct < <(awk -v a="$srv0" -v b="$srv1" -v c="$busy0" -v d="$busy1" \
        -v e="$steal0" -v f="$steal1" -v t="$(( (t1 - t0) / 1000 ))" -v hz="$CLK_TCK" \
        'BEGIN{ s=t/1e6; printf "%.0f %.0f %.0f\n", 100*(b-a)/hz/s, 100*(d-c)/hz/s, 100*(f-e)/hz/s }')
    human="$(printf '%s\n' "$out" | grep -v '^RESULT' || true)"
    if [[ -n "$human" ]]; then
        printf '%s\n' "$human" >&2
        printf '# %s %s: %s\n' "$server" "$scenario" "$human" >>"$RESULTS"
    fi
    line="$(printf '%s\n' "$out" | grep '^RESULT' || true)"
    if [[ -n "$line" ]]; then
        lg_pct="$(field loadgen_cpu_pct)"
        RUN_OTHER=$(( busy_pct - srv_pct - lg_pct ))
        ((RUN_OTHER > 0)) || RUN_OTHER=0
        echo "RESULT server=$server scenario=$scenario ${line#RESULT } server_cpu_pct=$srv_pct other_cpu_pct=$RUN_OTHER steal_pct=$steal_pct" >>"$RESULTS"
        RUN=("$(field frames_per_s)" "$(field mb_per_s)" "$(field p50_us)" "$(field p99_us)" \
             "$srv_pct" "$lg_pct" "$RUN_OTHER")
        log "server cpu ${srv_pct}%, loadgen cpu ${lg_pct}%, other processes ${RUN_OTHER}%, hypervisor steal ${steal_pct}%"
        [[ "$(field errors)" == "0" ]] || FAILED=1
    else
        FAILED=1
        echo "RESULT server=$server scenario=$scenario failed=1" >>"$RESULTS"
    fi
    sleep 1   # let sockets from the previous run settle
}

FAILED=0
# Repetitions are interleaved (all servers, then all again) so slow drifts of
# the machine hit every server alike; the table shows per-metric medians.
for ((rep = 1; rep <= REPEAT; rep++)); do
    ((REPEAT == 1)) || log "repetition $rep/$REPEAT"
    for server in $SERVERS; do
        for scenario in $SCENARIOS; do
            run_one "$server" "$scenario"
            # A run disturbed by other processes is repeated; only the last attempt
            # counts in the table (every attempt stays in the raw results file).
            for ((attempt = 1; attempt <= RETRY_DISTURBED && RUN_OTHER > OTHER_MAX_PCT; attempt++)); do
                log "other processes used ${RUN_OTHER}% CPU: repeating $server / $scenario (retry $attempt/$RETRY_DISTURBED)"
                echo "# discarded the run above: other processes used ${RUN_OTHER}% CPU" >>"$RESULTS"
                run_one "$server" "$scenario"
            done
            if ((${#RUN[@]})); then
                k="$server|$scenario"
                FPS[$k]+="${RUN[0]} "; MBPS[$k]+="${RUN[1]} "; P50[$k]+="${RUN[2]} "; P99[$k]+="${RUN[3]} "
                SRVCPU[$k]+="${RUN[4]} "; LGCPU[$k]+="${RUN[5]} "; OTHER[$k]+="${RUN[6]} "
            fi
        done
    done
done

# ---------- report ----------
# median of the samples stored for a key (n/a if none)
get() {
    local -n arr="$1"
    printf '%s\n' ${arr[$2]:-} | sort -g | awk 'NF{v[++n]=$1} END{
        if (n == 0) print "n/a"; else if (n % 2) print v[(n+1)/2]; else printf "%.10g\n", (v[n/2]+v[n/2+1])/2 }'
}
# frames/s cell: median, plus the min-max range when there are several samples
fps_cell() {
    local med; med="$(get FPS "$1")"
    printf '%s\n' ${FPS[$1]:-} | sort -g | awk -v m="$med" 'NF{v[++n]=$1} END{
        if (n > 1) printf "%.0f (%.0f-%.0f)\n", m, v[1], v[n]; else print m }'
}
ratio() {   # a b -> a/b with 2 decimals, or n/a
    awk -v a="$1" -v b="$2" 'BEGIN{ if (a ~ /^[0-9.]+$/ && b ~ /^[0-9.]+$/ && b > 0) printf "%.2f", a/b; else print "n/a" }'
}
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
            echo "| $server | $label | $(fps_cell "$k") | $(get MBPS "$k") | $(get P50 "$k") | $(get P99 "$k") | $(get SRVCPU "$k") | $(get LGCPU "$k") |"
        done
    done
    echo
    echo "Ratios: frames/s above 1 means the gateway is faster; p99 below 1 means the gateway's tail latency is lower."
    echo
    echo "| scenario | gateway/node frames/s | gateway/c-epoll frames/s | gateway/node p99 | gateway/c-epoll p99 |"
    echo "|---|---:|---:|---:|---:|"
    for scenario in $SCENARIOS; do
        g="gateway|$scenario"; n="node|$scenario"; c="c-epoll|$scenario"
        echo "| $scenario | $(ratio "$(get FPS "$g")" "$(get FPS "$n")") | $(ratio "$(get FPS "$g")" "$(get FPS "$c")") | $(ratio "$(get P99 "$g")" "$(get P99 "$n")") | $(ratio "$(get P99 "$g")" "$(get P99 "$c")") |"
    done
    echo
    for scenario in $SCENARIOS; do
        for server in $SERVERS; do
            o="$(get OTHER "$server|$scenario")"
            if [[ "$o" =~ ^[0-9]+$ ]] && ((o > OTHER_MAX_PCT)); then
                echo "WARNING: other processes used ${o}% CPU during $server / $scenario: figures are disturbed, rerun on a quiet machine."
            fi
        done
    done
} | tee -a "$RESULTS"
log "raw results: $RESULTS"
exit "$FAILED"
