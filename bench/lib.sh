# Shared by the bench/run-*.sh drivers; sourced after a driver has set its settings.
#
# The driver defines:
#   server_cmd NAME      prints the command line that starts server NAME (run from the repo root)
#   SERVER_ENV           array of VAR=value given to every server (the gateway's port settings)
# and uses from here: logging, the gateway publish, starting and stopping a pinned server, the
# quiet-machine wait, CPU accounting, reading RESULT lines, retrying disturbed runs, and the
# median / range / ratio cells of the report.
#
# Settings read here (defaults in brackets): SERVER_CPU [0], STARTUP_TIMEOUT [60], QUIET_WAIT [120],
# QUIET_PCT [10], OTHER_MAX_PCT [10], RETRY_DISTURBED [2], REPEAT [1], SERVERS, GATEWAY_CMD,
# GATEWAY_BASE_CMD, RESULTS_FILE.
#
# Every driver also accepts the server name gateway-base in SERVERS: a second gateway build, started with
# GATEWAY_BASE_CMD on the gateway's own port and settings, so that two builds of the gateway can be
# measured side by side (bench/run-compare.sh). RESULTS_FILE, when set, is where the raw results go
# (appended) instead of a new bench/out/<kind>-<timestamp>.txt.

BENCH_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$BENCH_DIR/.." && pwd)"
OUT="$BENCH_DIR/out"

SERVER_CPU="${SERVER_CPU:-0}"
CLIENT_CPU="${CLIENT_CPU:-1}"
STARTUP_TIMEOUT="${STARTUP_TIMEOUT:-60}"
REPEAT="${REPEAT:-1}"
QUIET_WAIT="${QUIET_WAIT:-120}"
QUIET_PCT="${QUIET_PCT:-10}"
OTHER_MAX_PCT="${OTHER_MAX_PCT:-10}"
RETRY_DISTURBED="${RETRY_DISTURBED:-2}"

log() { printf '[bench] %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

# ---------- servers ----------
SERVER_PID=""
LOADGEN_PID=""
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
bench_cleanup() {
    if [[ -n "$LOADGEN_PID" ]]; then kill "$LOADGEN_PID" 2>/dev/null || true; fi
    stop_server
}
trap bench_cleanup EXIT
trap 'exit 130' INT    # the EXIT trap still runs and stops the server
trap 'exit 143' TERM

check_servers() {   # allowed names...: every name in SERVERS must be one of them (or gateway-base)
    local s
    for s in $SERVERS; do
        [[ " $* gateway-base " == *" $s "* ]] || die "unknown server '$s' in SERVERS ($* gateway-base)"
    done
}

# The port of server NAME: the driver's GATEWAY_PORT, NODE_PORT or CEPOLL_PORT (c-epoll). gateway-base
# takes GATEWAY_PORT: SERVER_ENV sets the gateway's port for every server, and servers never run at once.
server_port() {   # name
    [[ "$1" == gateway-base ]] && set -- gateway
    local var="${1^^}_PORT"
    var="${var//-/}"
    echo "${!var}"
}

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
udp_bound() { [[ -n "$(ss -Hnlu "sport = :$1" 2>/dev/null)" ]]; }

# Publishes the gateway (Release) from the source tree SRC (a checkout's root) into OUTDIR.
publish_gateway() {   # src outdir
    command -v dotnet >/dev/null || { log "dotnet not found"; return 1; }   # the caller says what to do instead
    log "publishing the gateway (Release) from $1 into $2"
    (cd "$1" && dotnet publish src/Gateway -c Release -o "$2" >&2)
}
# The command line that runs a published Gateway.dll (path as the shell should read it, from the repo root).
gateway_cmd_for() {   # dll
    # With the container's runtime setting (Dockerfile): optimise hot code without waiting for a pause in JIT work.
    echo "env DOTNET_TC_CallCountingDelayMs=0 dotnet $1"
}

# Publishes the gateway once (Release) unless GATEWAY_CMD is set or SERVERS leaves it out. gateway-base has
# no default build (which revision would it be?): it needs GATEWAY_BASE_CMD.
prepare_gateway() {
    if [[ " $SERVERS " == *" gateway-base "* && -z "${GATEWAY_BASE_CMD:-}" ]]; then
        die "SERVERS has gateway-base but GATEWAY_BASE_CMD is empty (bench/run-compare.sh sets both)"
    fi
    [[ " $SERVERS " == *" gateway "* && -z "${GATEWAY_CMD:-}" ]] || return 0
    publish_gateway "$ROOT" "$OUT/gateway" ||
        die "gateway publish failed; fix the build, set GATEWAY_CMD, or leave gateway out of SERVERS"
    GATEWAY_CMD="$(gateway_cmd_for bench/out/gateway/Gateway.dll)"
}
# The command line of server NAME: the driver's server_cmd, except for gateway-base.
server_cmd_of() {   # name
    if [[ "$1" == gateway-base ]]; then echo "$GATEWAY_BASE_CMD"; else server_cmd "$1"; fi
}

# Starts server NAME pinned to SERVER_CPU, output to LOGFILE, and waits until READY PORT succeeds
# (port_open for TCP, udp_bound for UDP). Sets SERVER_PID.
start_server() {   # name port logfile ready
    local name="$1" port="$2" logf="$3" ready="$4" cmd
    cmd="$(server_cmd_of "$name")"
    # A leftover process on the port would silently be benchmarked instead.
    "$ready" "$port" && die "port $port is already in use before starting $name"
    log "starting $name on CPU $SERVER_CPU: $cmd"
    # Only the measured endpoint matters: logging stays quiet so it does not cost CPU. The variables are
    # harmless for the Node and C servers. exec keeps $! == the server's pid.
    (cd "$ROOT" && exec env "${SERVER_ENV[@]}" \
        DOTNET_ENVIRONMENT=Production ASPNETCORE_ENVIRONMENT=Production Logging__LogLevel__Default=Warning \
        taskset -c "$SERVER_CPU" bash -c "exec $cmd") >"$logf" 2>&1 &
    SERVER_PID=$!
    local deadline=$((SECONDS + STARTUP_TIMEOUT))
    until "$ready" "$port"; do
        if ! kill -0 "$SERVER_PID" 2>/dev/null; then
            log "$name exited during startup; its output:"; cat "$logf" >&2
            die "$name failed to start"
        fi
        ((SECONDS < deadline)) || { cat "$logf" >&2; die "$name did not listen on port $port within ${STARTUP_TIMEOUT}s"; }
        sleep 0.1
    done
}

# Waits until FILE has a line starting with PREFIX, while process PID lives, for at most SECONDS; dies naming WHAT
# (with FILE's content when the process ended) otherwise.
wait_for_line() {   # file prefix pid seconds what
    local deadline=$((SECONDS + $4))
    until grep -q "^$2" "$1"; do
        kill -0 "$3" 2>/dev/null || { cat "$1" >&2; die "$5 failed"; }
        ((SECONDS < deadline)) || die "$5: no '$2' line after $4 s"
        sleep 0.2
    done
}

# The start of one measurement: clears RUN and RUN_OTHER, waits for a quiet machine, starts the server.
begin_run() {   # server port logfile ready (as start_server)
    RUN=(); RUN_OTHER=0
    wait_quiet
    start_server "$@"
}

# The end of one measurement, once the load generator has exited with RC: stops the server and takes the
# generator's output (take_output, labelled KEYS). Without a RESULT line the run counts as failed, and
# "RESULT KEYS failed=1" goes to the results file. The caller records $line when there is one.
end_run() {   # rc output-file keys (e.g. "server=node mode=max")
    stop_server
    (($1 == 0)) || { log "load generator failed for $3 (exit $1)"; FAILED=1; }
    take_output "$2" "$3"
    if [[ -z "$line" ]]; then
        FAILED=1
        echo "RESULT $3 failed=1" >>"$RESULTS"
    fi
}

# ---------- results file ----------
# Creates RESULTS=bench/out/<kind>-<timestamp>.txt (or appends to RESULTS_FILE) with the machine, versions
# and settings.
open_results() {   # kind settings-line
    local stamp; stamp="$(date +%Y%m%d-%H%M%S)"
    RESULTS="${RESULTS_FILE:-$OUT/$1-$stamp.txt}"
    [[ -n "${RESULTS_FILE:-}" ]] || : >"$RESULTS"
    {
        echo "# $1 bench $stamp"
        echo "# host: $(uname -srm), cpus: $(nproc), commit: $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo none)"
        echo "# node: $(node --version 2>/dev/null || echo n/a), dotnet: $(dotnet --version 2>/dev/null || echo n/a)"
        echo "# $2 server_cpu=$SERVER_CPU client_cpu=$CLIENT_CPU repeat=$REPEAT"
        if [[ " $SERVERS " == *" gateway "* ]]; then echo "# gateway_cmd: $GATEWAY_CMD"; fi
        if [[ " $SERVERS " == *" gateway-base "* ]]; then echo "# gateway_base_cmd: $GATEWAY_BASE_CMD"; fi
    } >>"$RESULTS"
}

# Splits a load generator's output: human lines go to stderr and, prefixed with "# LABEL: ", to the results
# file; the RESULT line is left in $line (empty when there is none).
take_output() {   # file label
    local out human
    out="$(cat "$1")"
    human="$(printf '%s\n' "$out" | grep -v '^RESULT' || true)"
    if [[ -n "$human" ]]; then
        printf '%s\n' "$human" >&2
        printf '# %s: %s\n' "$2" "$human" >>"$RESULTS"
    fi
    line="$(printf '%s\n' "$out" | grep '^RESULT' || true)"
}
field() { printf '%s\n' "$line" | tr ' ' '\n' | awk -F= -v k="$1" '$1==k{print $2}'; }   # reads $line

# ---------- CPU accounting ----------
CLK_TCK="$(getconf CLK_TCK)"
# busy jiffies of the whole machine: user+nice+system+irq+softirq (no idle/iowait/steal)
machine_ticks() { awk '/^cpu /{print $2+$3+$4+$7+$8; exit}' /proc/stat; }
# jiffies stolen by the hypervisor (other VMs on the host): a disturbance we cannot wait out
steal_ticks() { awk '/^cpu /{print $9; exit}' /proc/stat; }
# utime+stime of a process (all threads); fields counted after the ") " that ends comm
proc_ticks() { sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | awk '{print $12+$13} END{if (NR == 0) print 0}'; }

# The machine may be shared (e.g. someone building): before each run wait up to QUIET_WAIT s until less
# than QUIET_PCT % CPU (100 = one core) is in use.
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

# Runs RUN_FN ARGS... and repeats it (up to RETRY_DISTURBED times) while other processes used more than
# OTHER_MAX_PCT % CPU in the measured window. RUN_FN sets RUN (figures, empty if failed) and RUN_OTHER.
# Only the last attempt counts; every attempt stays in the raw results file.
measure_retrying() {   # run_fn args...
    local attempt
    "$@"
    for ((attempt = 1; attempt <= RETRY_DISTURBED && RUN_OTHER > OTHER_MAX_PCT; attempt++)); do
        log "other processes used ${RUN_OTHER}% CPU: repeating ${*:2} (retry $attempt/$RETRY_DISTURBED)"
        echo "# discarded the run above: other processes used ${RUN_OTHER}% CPU" >>"$RESULTS"
        "$@"
    done
}

# SERVERS in repetition REP's order: reversed on even repetitions, so a drift of the machine's speed
# during a repetition cannot favour the server that always runs first.
servers_for_rep() { if (($1 % 2)); then echo "$SERVERS"; else printf '%s\n' $SERVERS | tac | tr '\n' ' '; fi; }

# ---------- report cells ----------
# median of the numbers on stdin, one a line (n/a if none)
median_of() {
    sort -g | awk 'NF{v[++n]=$1} END{
        if (n == 0) print "n/a"; else if (n % 2) print v[(n+1)/2]; else printf "%.10g\n", (v[n/2]+v[n/2+1])/2 }'
}
# median of the samples stored in associative array $1 under key $2 (n/a if none)
median() {
    local -n samples="$1"
    printf '%s\n' ${samples[$2]:-} | median_of
}
# "median (min-max)" of those samples, rounded; just the median when there is one sample
range_cell() {
    local med; med="$(median "$1" "$2")"
    local -n samples2="$1"
    printf '%s\n' ${samples2[$2]:-} | sort -g | awk -v m="$med" 'NF{v[++n]=$1} END{
        if (n > 1) printf "%.0f (%.0f-%.0f)\n", m, v[1], v[n]; else print m }'
}
ratio() {
    awk -v a="$1" -v b="$2" 'BEGIN{ if (a ~ /^[0-9.]+$/ && b ~ /^[0-9.]+$/ && b > 0) printf "%.2f", a/b; else print "n/a" }'
}
# The per-repetition ratios a/b, one a line: array $1 holds one figure per "server|case|rep" key; $2 and
# $3 are the servers, $4 the case. Only repetitions that measured both give a ratio.
# Pairing within a repetition cancels the machine's slow drift, which medians taken apart do not.
paired_ratios() {
    local -n per_rep="$1"
    local rep a b
    for ((rep = 1; rep <= REPEAT; rep++)); do
        a="${per_rep[$2|$4|$rep]:-}"; b="${per_rep[$3|$4|$rep]:-}"
        if [[ -n "$a" && -n "$b" ]]; then awk -v a="$a" -v b="$b" 'BEGIN{ if (b > 0) printf "%.4f\n", a/b }'; fi
    done
}
# "median (min-max)" of the ratios on stdin, one a line; just the median when there is one, n/a when none.
ratio_cell() {
    sort -g | awk 'NF{v[++n]=$1} END{
        if (n == 0) { print "n/a"; exit }
        m = (n % 2) ? v[(n+1)/2] : (v[n/2]+v[n/2+1])/2
        if (n > 1) printf "%.2f (%.2f-%.2f)\n", m, v[1], v[n]; else printf "%.2f\n", m }'
}
# Median of the per-repetition ratios a/b (arguments as paired_ratios), "median (min-max)".
paired_ratio() { paired_ratios "$@" | ratio_cell; }
# Warns about every key of array $1 (CPU % of other processes) whose median is above OTHER_MAX_PCT.
warn_disturbed() {
    local -n other="$1"
    local k o
    for k in "${!other[@]}"; do
        o="$(median "$1" "$k")"
        if [[ "$o" =~ ^[0-9]+$ ]] && ((o > OTHER_MAX_PCT)); then
            echo "WARNING: other processes used ${o}% CPU during ${k//|/ \/ }: figures are disturbed, rerun on a quiet machine."
        fi
    done
}
