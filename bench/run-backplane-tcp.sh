#!/usr/bin/env bash
# Backplane benchmark: two instances of a server share one topic space through one nats-server; the gateway
# (Gateway:Backplane:Kind=Nats) against a Node.js peer doing the same job (bench/peers/node-nats-bridge.js: net and the
# nats package, local delivery first, one NATS publish, one counted NATS subscription per distinct filter, no echo).
#
# For every server (gateway, node) and repetition, one session: nats-server, instance A and instance B are started,
# all pinned to SERVER_CPU (nats-server to NATS_CPU, by default the same), and the load generator
# (bench/loadgen/backplanegen.c, built into bench/out/) runs pinned to CLIENT_CPU. Each instance has three endpoints:
#   xpub   4-byte big-endian length framing; every frame is published to the topic xfer/data (subject gw.xfer.data)
#   xsub   the same framing; every connection subscribes to xfer/data
#   storm  line framing; every connection subscribes to STORM_FILTER (storm/{connectionId}: one NATS subscription each)
# Cases (SCENARIOS):
#   pipelined   cross-instance delivery: PUBLISHERS connections to A's xpub, each with INFLIGHT frames on their way,
#               one connection to B's xsub receiving them all; a frame that arrives lets its publisher send one more.
#               Messages/s delivered on B and latency (A's socket to B's) over DURATION s after WARMUP s.
#   ping-pong   the same with one frame in flight per publisher.
#   storm       a steady publisher (STORM_PUBLISHERS connections x 1 frame in flight, A to B as above) measured for
#               STORM_SECONDS + STORM_TAIL s without a storm ("calm"), then again while STORM_RATE new connections per
#               second are opened to A's storm endpoint for STORM_SECONDS (each closed STORM_HOLD s after it was opened,
#               so the open connections stay within the open-file limit), from the moment the measured window starts.
#               Reported: the publisher's msgs/s, p50, p99, worst 250 ms interval and longest gap between arrivals,
#               storm/calm; the connects per second reached within the storm and their p99; the connections lost in a
#               full accept queue; and, from A's open descriptors and the nats-server's /subsz polled every 20 ms, the
#               seconds after the last connect until A had accepted every connection still open and NATS held one
#               subscription for each. The kernel's listen-queue counters over the storm go to the results file. Before
#               the calm run, STORM_WARMUP connections are opened and closed (the connect path compiled and optimised).
# Servers run one session at a time; within a repetition the order alternates between repetitions, and the ratios
# gateway/node and storm/calm are taken within each repetition and reported as their median (min-max).
#
# Usage: bash bench/run-backplane-tcp.sh
# Env (defaults):
#   DURATION=5 WARMUP=2 SIZE=64      measured / warm-up seconds of pipelined and ping-pong; frame body bytes (>= 16)
#   PUBLISHERS=50 INFLIGHT=16        pipelined (ping-pong: PUBLISHERS x 1)
#   SCENARIOS="pipelined ping-pong storm"   SERVERS="gateway node"
#   STORM_RATE=10000 STORM_SECONDS=5 STORM_HOLD=1 STORM_TAIL=2 STORM_PUBLISHERS=10 STORM_WARMUP=2000 STORM_SETTLE=60
#   NATS_PORT=4322 NATS_MONITOR_PORT=8322 NATS_CPU=$SERVER_CPU B_CPU=$SERVER_CPU (NATS_CPU=1 B_CPU=1: instance A alone on
#                                    SERVER_CPU, nats-server and B sharing CLIENT_CPU with the load generator)
#   GATEWAY_PORT=9400 (A: xpub 9400, xsub 9401, storm 9402; B: 9410-9412)  GATEWAY_HTTP_PORT=8480 (B: 8481)
#   NODE_PORT=9500 (A: 9500-9502; B: 9510-9512)
#   STORM_FILTER=storm/{connectionId}   the storm endpoint's subscription (storm/shared: one filter for every storm
#                                    connection, so no NATS subscription churn)
#   STORM_METRICS=0                  1: during the gateway's storm run, read A's and B's /metrics every 250 ms (outbox to
#                                    NATS, subscriptions, thread pool, GC) into the results file; a diagnosis, not a
#                                    measurement (the readings cost the instances CPU the Node peer does not pay)
#   GATEWAY_CMD, SERVER_CPU=0 CLIENT_CPU=1 REPEAT=1 and lib.sh's quiet-machine settings
set -euo pipefail

DURATION="${DURATION:-5}"
WARMUP="${WARMUP:-2}"
SIZE="${SIZE:-64}"
PUBLISHERS="${PUBLISHERS:-50}"
INFLIGHT="${INFLIGHT:-16}"
SCENARIOS="${SCENARIOS:-pipelined ping-pong storm}"
SERVERS="${SERVERS:-gateway node}"
STORM_RATE="${STORM_RATE:-10000}"
STORM_SECONDS="${STORM_SECONDS:-5}"
STORM_HOLD="${STORM_HOLD:-1}"
STORM_TAIL="${STORM_TAIL:-2}"
STORM_PUBLISHERS="${STORM_PUBLISHERS:-10}"
STORM_WARMUP="${STORM_WARMUP:-2000}"
STORM_SETTLE="${STORM_SETTLE:-60}"
STORM_METRICS="${STORM_METRICS:-0}"
NATS_PORT="${NATS_PORT:-4322}"
NATS_MONITOR_PORT="${NATS_MONITOR_PORT:-8322}"
GATEWAY_PORT="${GATEWAY_PORT:-9400}"
GATEWAY_HTTP_PORT="${GATEWAY_HTTP_PORT:-8480}"
NODE_PORT="${NODE_PORT:-9500}"
source "$(dirname "$0")/lib.sh"
NATS_CPU="${NATS_CPU:-$SERVER_CPU}"
B_CPU="${B_CPU:-$SERVER_CPU}"
STORM_FILTER="${STORM_FILTER:-storm/{connectionId\}}"
STORM_WINDOW="$(awk -v s="$STORM_SECONDS" -v t="$STORM_TAIL" 'BEGIN{print s + t}')"   # the publisher's measured seconds

check_servers gateway node
for s in $SCENARIOS; do
    [[ "$s" =~ ^(pipelined|ping-pong|storm)$ ]] || die "unknown scenario '$s' in SCENARIOS (pipelined, ping-pong, storm)"
done
((SIZE >= 16)) || die "SIZE must be at least 16 (the publisher's number and the send time travel in the body)"
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
FD_LIMIT="$(ulimit -n)"
storm_open="$(awk -v r="$STORM_RATE" -v s="$STORM_SECONDS" -v h="$STORM_HOLD" 'BEGIN{ t = (h > 0 && h < s) ? h : s; printf "%d", r * t }')"
((storm_open + 1000 <= FD_LIMIT)) ||
    die "STORM_RATE x STORM_HOLD (or x STORM_SECONDS when holding all) = $storm_open connections held does not fit the open-file limit $FD_LIMIT"
command -v nats-server >/dev/null || die "nats-server not found (apt-get install nats-server)"
command -v taskset >/dev/null || die "taskset not found (util-linux)"
command -v curl >/dev/null || die "curl not found"
mkdir -p "$OUT"

log "building the load generator into $OUT"
cc -O2 -g -Wall -Wextra -std=gnu11 -pthread -o "$OUT/backplanegen" "$BENCH_DIR/loadgen/backplanegen.c"
GEN="$OUT/backplanegen"
if [[ " $SERVERS " == *" node "* ]]; then
    command -v node >/dev/null || die "node not found"
    [[ -d "$BENCH_DIR/node_modules/nats" ]] || (cd "$BENCH_DIR" && npm ci --no-audit --no-fund --loglevel=error >&2)
fi
prepare_gateway

# ---------- the three processes of a session ----------
# Ports of instance I (a or b) of SERVER: xpub, xsub, storm.
base_port() { local p; if [[ "$1" == node ]]; then p="$NODE_PORT"; else p="$GATEWAY_PORT"; fi; [[ "$2" == a ]] && echo "$p" || echo $((p + 10)); }
xpub_port() { base_port "$@"; }
xsub_port() { echo $(($(base_port "$@") + 1)); }
storm_port() { echo $(($(base_port "$@") + 2)); }
http_port() { [[ "$1" == a ]] && echo "$GATEWAY_HTTP_PORT" || echo $((GATEWAY_HTTP_PORT + 1)); }

# The gateway's settings for instance I: the backplane, its own HTTP port, the default endpoints off (both instances
# run on one machine), and the three endpoints of the benchmark.
gateway_env() {   # instance
    local i="$1" e
    SERVER_ENV=("Gateway__Backplane__Kind=Nats" "Gateway__Backplane__Urls__0=nats://127.0.0.1:$NATS_PORT"
                "Gateway__Http__Port=$(http_port "$i")")
    for e in echo stick chat console udp chat_unix; do SERVER_ENV+=("Gateway__Endpoints__${e}__Enabled=false"); done
    for e in xpub xsub; do
        SERVER_ENV+=("Gateway__Endpoints__${e}__Framing__Kind=LengthField" "Gateway__Endpoints__${e}__Framing__LengthFieldSize=4"
                     "Gateway__Endpoints__${e}__Framing__ByteOrder=BigEndian")
    done
    SERVER_ENV+=("Gateway__Endpoints__xpub__Port=$(xpub_port gateway "$i")" "Gateway__Endpoints__xpub__Publish=xfer/data"
                 "Gateway__Endpoints__xsub__Port=$(xsub_port gateway "$i")" "Gateway__Endpoints__xsub__Subscribe__0=xfer/data"
                 "Gateway__Endpoints__storm__Port=$(storm_port gateway "$i")" "Gateway__Endpoints__storm__Framing__Kind=Line"
                 "Gateway__Endpoints__storm__Subscribe__0=$STORM_FILTER"
                 "Gateway__Endpoints__storm__MaxConnections=$((FD_LIMIT + 1000))")
}

# server_cmd NAME for lib.sh's start_server: nats, or SERVER@INSTANCE (gateway@a, node@b, ...).
server_cmd() {
    local server="${1%@*}" i="${1#*@}"
    case "$server" in
        nats) echo "nats-server -a 127.0.0.1 -p $NATS_PORT -m $NATS_MONITOR_PORT" ;;
        gateway) echo "$GATEWAY_CMD" ;;
        gateway-base) echo "$GATEWAY_BASE_CMD" ;;
        node) echo "node $BENCH_DIR/peers/node-nats-bridge.js nats://127.0.0.1:$NATS_PORT" \
                   "xpub:$(xpub_port node "$i"):length:xfer/data: xsub:$(xsub_port node "$i"):length::xfer/data" \
                   "storm:$(storm_port node "$i"):line::storm/{connectionId}" ;;
    esac
}
server_cmd_of() { server_cmd "$1"; }   # gateway-base is handled above, with its instance

SESSION_PIDS=()
STORM_PID=""
XFER_PID=""   # a publisher that lingers (its subscriber's subscription stays) until the storm is done
SAMPLER_PID=""
stop_storm() {
    local pid
    for pid in "$STORM_PID" "$XFER_PID" "$SAMPLER_PID"; do
        [[ -n "$pid" ]] || continue
        kill "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    STORM_PID=""; XFER_PID=""; SAMPLER_PID=""
}
stop_session() {   # B, A, then nats-server: the instances stop while NATS is still there
    local i
    stop_storm
    for ((i = ${#SESSION_PIDS[@]} - 1; i >= 0; i--)); do SERVER_PID="${SESSION_PIDS[i]}"; stop_server; done
    SESSION_PIDS=()
}
# Only the script itself cleans up: a background job killed before it has exec'd its program would otherwise run the
# inherited TERM trap, and through it this EXIT trap, and stop the session under the script's feet.
trap '[[ $BASHPID == "$$" ]] && { stop_session; bench_cleanup; }' EXIT

# Starts nats-server, then instances A and B of SERVER; their output goes to bench/out/backplane-<name>.log.
start_session() {   # server
    local server="$1" i cpu="$SERVER_CPU"
    wait_quiet
    SERVER_ENV=()
    SERVER_CPU="$NATS_CPU"
    start_server nats "$NATS_PORT" "$OUT/backplane-nats.log" port_open
    SERVER_CPU="$cpu"
    SESSION_PIDS+=("$SERVER_PID"); SERVER_PID=""
    for i in a b; do
        if [[ "$server" == node ]]; then SERVER_ENV=(); else gateway_env "$i"; fi
        if [[ "$i" == b ]]; then SERVER_CPU="$B_CPU"; fi
        start_server "$server@$i" "$(storm_port "$server" "$i")" "$OUT/backplane-$server-$i.log" port_open
        SESSION_PIDS+=("$SERVER_PID"); SERVER_PID=""
    done
    SERVER_CPU="$cpu"
}
# Dies when a process of the session has exited.
check_session() {
    local pid names=(nats-server A B) i=0
    for pid in "${SESSION_PIDS[@]}"; do
        kill -0 "$pid" 2>/dev/null || die "${names[i]} (pid $pid) of the session has exited; see $OUT/backplane-*.log"
        i=$((i + 1))
    done
}
session_ticks() { local t=0 pid; for pid in "${SESSION_PIDS[@]}"; do t=$((t + $(proc_ticks "$pid"))); done; echo "$t"; }
each_ticks() { local pid; for pid in "${SESSION_PIDS[@]}"; do printf '%s ' "$(proc_ticks "$pid")"; done; }
user_sys_ticks() { awk '/^cpu /{print $2+$3+$4; exit}' /proc/stat; }   # without (soft)irq: loopback TCP is no one's

subs_now() { curl -s "http://127.0.0.1:$NATS_MONITOR_PORT/subsz" | awk -F'[:,]' '/"num_subscriptions"/{gsub(/ /, "", $2); print $2}'; }
# The subscriptions on NATS once two readings 0.5 s apart agree (at most 10 s).
subs_stable() {
    local a b deadline=$((SECONDS + 10))
    a="$(subs_now)"
    while sleep 0.5; b="$(subs_now)"; [[ "$a" != "$b" ]] && ((SECONDS < deadline)); do a="$b"; done
    echo "$b"
}
# Waits (at most 60 s) until the NATS server holds SUBS subscriptions.
wait_subs() {   # subs what
    local deadline=$((SECONDS + 60)) n
    while n="$(subs_now)"; [[ "$n" != "$1" ]]; do
        ((SECONDS < deadline)) || { log "WARNING: NATS holds $n subscriptions, not $1, 60 s after $2"; return 0; }
        sleep 0.2
    done
}

# The kernel's counters of connections a full listen queue refused or turned to SYN cookies, "name=value ...".
LISTEN_COUNTERS="ListenOverflows ListenDrops SyncookiesSent SyncookiesRecv TCPReqQFullDoCookies TCPReqQFullDrop"
listen_counters() {
    awk -v want=" $LISTEN_COUNTERS " '$1 == "TcpExt:" { if (!h) { for (i = 2; i <= NF; i++) name[i] = $i; h = 1 }
        else for (i = 2; i <= NF; i++) if (index(want, " " name[i] " ")) printf "%s=%s ", name[i], $i }' /proc/net/netstat
}
listen_counters_delta() {   # before after
    awk -v a="$1" -v b="$2" 'BEGIN{ n = split(a, x, " "); split(b, y, " ");
        for (i = 1; i <= n; i++) { split(x[i], p, "="); split(y[i], q, "="); printf "%s=%d ", p[1], q[2] - p[2] } }'
}

# STORM_METRICS=1: reads the gateway's A and B /metrics every 250 ms into $OUT/backplane-metrics.txt (SAMPLER_PID).
METRICS_A="gateway_backplane_queued gateway_backplane_subscriptions gateway_backplane_messages_sent_total gateway_connections dotnet_thread_pool_queue_length dotnet_thread_pool_thread_count dotnet_gc_pause_time_seconds_total dotnet_gc_collections_total dotnet_gc_last_collection_heap_size_bytes dotnet_monitor_lock_contentions_total"
METRICS_B="gateway_backplane_messages_received_total dotnet_thread_pool_queue_length"
start_sampler() {
    : >"$OUT/backplane-metrics.txt"
    (
        set +e +o pipefail
        read_metrics() {   # port names: "name=value ..." of those names (summed over labels), and how long the read took
            local t0 t1 m
            t0=$(date +%s%N)
            m="$(curl -s -m 5 "http://127.0.0.1:$1/metrics")"
            t1=$(date +%s%N)
            # Summed over the labels, except the GC generation, which stays in the name.
            printf '%s' "$m" | awk -v want=" $2 " '!/^#/ { n = $1; sub(/\{.*/, "", n); if (!index(want, " " n " ")) next
                if (match($1, /gc_heap_generation="[^"]*"/)) n = n "_" substr($1, RSTART + 20, RLENGTH - 21); s[n] += $NF }
                END{ for (k in s) printf "%s=%s ", k, s[k] }'
            echo "read_ms=$(( (t1 - t0) / 1000000 ))"
        }
        while :; do
            a="$(read_metrics "$(http_port a)" "$METRICS_A")"
            b="$(read_metrics "$(http_port b)" "$METRICS_B")"
            echo "metrics unix_ms=$(( $(date +%s%N) / 1000000 )) A: $a B: $b"
            sleep 0.25
        done
    ) >"$OUT/backplane-metrics.txt" 2>/dev/null &
    SAMPLER_PID=$!
    taskset -pc "$CLIENT_CPU" "$SAMPLER_PID" >/dev/null
}

STORM_RUN=0
# Starts a storm against instance A of SERVER (STORM_PID, output in $OUT/storm-last.txt), from loopback addresses of its
# own (the connections it closes hold their ports in TIME_WAIT).
start_storm() {   # server rate seconds hold extra-args...
    local server="$1" rate="$2" seconds="$3" hold="$4" addresses="" k
    shift 4
    STORM_RUN=$((STORM_RUN + 1))
    for k in 2 3 4 5 6 7 8 9; do addresses+="127.$((60 + STORM_RUN / 250)).$((STORM_RUN % 250)).$k,"; done
    : >"$OUT/storm-last.txt"   # emptied first: the waits below read it, and must not find the last run's lines
    taskset -c "$CLIENT_CPU" "$GEN" storm --port "$(storm_port "$server" a)" --rate "$rate" --seconds "$seconds" \
        --hold "$hold" --addresses "${addresses%,}" --subsz "$NATS_MONITOR_PORT" --server-pid "${SESSION_PIDS[1]}" \
        --settle "$STORM_SETTLE" "$@" \
        >"$OUT/storm-last.txt" 2>&1 &
    STORM_PID=$!
}

# One xfer run from A's xpub to B's xsub; leaves the RESULT line in $line and the window's CPU in RUN_SRV, RUN_OTHER.
# Extra arguments go to the generator (--signal-pid, --linger: then it is left running as XFER_PID).
xfer_run() {   # server label publishers inflight warmup duration extra...
    local server="$1" label="$2" pubs="$3" inflight="$4" warmup="$5" duration="$6" out="$OUT/xfer-last.txt" rc pid
    local t0 t1 b0 b1 s0 s1 e0 e1 each st0 st1 worst mindip
    shift 6
    check_session
    log "$server / $label: $pubs publishers x $inflight in flight, ${SIZE}B, A -> NATS -> B, warmup ${warmup}s + ${duration}s"
    : >"$out"   # emptied first: the waits below read it, and must not find the last run's lines
    timeout --kill-after=5 "$(awk -v w="$warmup" -v d="$duration" 'BEGIN{print int(w + d + 60)}')" \
        taskset -c "$CLIENT_CPU" "$GEN" xfer --pub "$(xpub_port "$server" a)" --sub "$(xsub_port "$server" b)" \
        --publishers "$pubs" --inflight "$inflight" --size "$SIZE" --warmup "$warmup" --duration "$duration" \
        --interval-ms 250 "$@" >"$out" &
    pid=$!
    LOADGEN_PID=$pid
    # The window starts after the generator is ready (its first marker through B), so wait for that line first.
    until grep -q '^ready' "$out" 2>/dev/null; do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
    sleep "$warmup"
    t0=$(date +%s%N); b0=$(user_sys_ticks); s0=$(session_ticks); e0="$(each_ticks)"
    st0=0; [[ -z "$STORM_PID" ]] || st0=$(proc_ticks "$STORM_PID")
    rc=0
    if [[ " $* " == *" --linger "* ]]; then
        wait_for_line "$out" RESULT "$pid" $((${warmup%.*} + ${duration%.*} + 60)) "the publisher"
        XFER_PID="$pid"
    else
        wait "$pid" || rc=$?
    fi
    LOADGEN_PID=""
    t1=$(date +%s%N); b1=$(user_sys_ticks); s1=$(session_ticks); e1="$(each_ticks)"
    st1=0; [[ -z "$STORM_PID" ]] || st1=$(proc_ticks "$STORM_PID")
    # The generator's own CPU over the window is in its RESULT line.
    take_output "$out" "server=$server case=$label"
    ((rc == 0)) || { log "load generator failed for $server / $label (exit $rc)"; FAILED=1; }
    [[ -n "$line" ]] || { FAILED=1; echo "RESULT server=$server case=$label failed=1" >>"$RESULTS"; return 0; }
    worst="$(awk '/^interval/{for (i = 1; i <= NF; i++) if ($i ~ /^p99_us=/) { v = substr($i, 8) + 0; if (v > m) m = v }} END{printf "%.1f", m}' "$out")"
    mindip="$(awk '/^interval/{for (i = 1; i <= NF; i++) if ($i ~ /^msgs=/) { v = substr($i, 6) + 0; if (n++ == 0 || v < m) m = v }} END{printf "%d", m * 4}' "$out")"
    read -r RUN_SRV RUN_OTHER < <(awk -v t="$(( (t1 - t0) / 1000 ))" -v hz="$CLK_TCK" -v b="$((b1 - b0))" -v s="$((s1 - s0))" \
        -v st="$((st1 - st0))" -v g="$(field loadgen_cpu_pct)" 'BEGIN{ sec = t / 1e6; srv = 100 * s / hz / sec;
        o = 100 * (b - s - st) / hz / sec - g; if (o < 0) o = 0; printf "%.0f %.0f\n", srv, o }')
    # nats, A and B apart, % of one core each.
    each="$(awk -v a="$e0" -v b="$e1" -v t="$(( (t1 - t0) / 1000 ))" -v hz="$CLK_TCK" 'BEGIN{ n = split(a, x, " "); split(b, y, " ");
        split("cpu_pct_nats cpu_pct_a cpu_pct_b", name, " "); for (i = 1; i <= n; i++) printf "%s%s=%.0f", (i > 1 ? " " : ""), name[i], 100 * (y[i] - x[i]) / hz / (t / 1e6) }')"
    line="RESULT server=$server case=$label ${line#RESULT } worst_interval_p99_us=$worst lowest_interval_msgs_per_s=$mindip server_cpu_pct=$RUN_SRV other_cpu_pct=$RUN_OTHER $each storm_cpu_pct=$(awk -v s="$((st1 - st0))" -v t="$(( (t1 - t0) / 1000 ))" -v hz="$CLK_TCK" 'BEGIN{printf "%.0f", 100 * s / hz / (t / 1e6)}')"
    echo "$line" >>"$RESULTS"
    log "servers cpu ${RUN_SRV}% ($each), loadgen cpu $(field loadgen_cpu_pct)%, other processes ${RUN_OTHER}%"
    [[ "$(field errors)" == "0" ]] || FAILED=1
}

# pipelined / ping-pong: one xfer run; RUN = msgs/s p50 p99 p99.9 gap server-cpu.
run_delivery() {   # server scenario
    local server="$1" scenario="$2" inflight="$INFLIGHT"
    [[ "$scenario" == pipelined ]] || inflight=1
    RUN=()
    xfer_run "$server" "$scenario" "$PUBLISHERS" "$inflight" "$WARMUP" "$DURATION"
    [[ "$line" == *failed=1* || -z "$line" ]] && return 0
    RUN=("$(field msgs_per_s)" "$(field p50_us)" "$(field p99_us)" "$(field p999_us)" "$(field max_gap_ms)" "$RUN_SRV")
    sleep 1
}

# storm: the calm run, then the storm run; RUN = calm (msgs/s p50 p99 worst-interval-p99 gap lowest-interval-msgs/s max)
# then storm (the same), then the storm's connects/s within it, connect p99 ms, seconds after the last connect until A
# had accepted them all and until NATS had them all, and the connections lost in a full accept queue.
run_storm() {   # server
    local server="$1" base other_calm storm_line subs_a
    RUN=()
    base="$(subs_stable)"
    if ((STORM_WARMUP > 0)); then
        log "$server / storm warm-up: $STORM_WARMUP connections to A at $STORM_RATE/s, then closed"
        start_storm "$server" "$STORM_RATE" "$(awk -v n="$STORM_WARMUP" -v r="$STORM_RATE" 'BEGIN{print n / r}')" 0
        wait_for_line "$OUT/storm-last.txt" RESULT "$STORM_PID" $((STORM_SETTLE + 30)) "the warm-up storm"
        stop_storm
        wait_subs "$base" "the warm-up storm closed"
        sleep 2
    fi
    xfer_run "$server" calm "$STORM_PUBLISHERS" 1 "$WARMUP" "$STORM_WINDOW"
    [[ "$line" == *failed=1* || -z "$line" ]] && return 0
    local calm=("$(field msgs_per_s)" "$(field p50_us)" "$(field p99_us)" "$(field worst_interval_p99_us)" "$(field max_gap_ms)"
                "$(field lowest_interval_msgs_per_s)" "$(field max_us)")
    other_calm="$RUN_OTHER"
    sleep 1
    log "$server / storm: $STORM_RATE connections/s to A for ${STORM_SECONDS}s (each held ${STORM_HOLD}s, 0: all), while the publisher runs"
    start_storm "$server" "$STORM_RATE" "$STORM_SECONDS" "$STORM_HOLD" --wait-signal
    wait_for_line "$OUT/storm-last.txt" waiting "$STORM_PID" 30 "the storm generator"
    local kernel0; kernel0="$(listen_counters)"
    if ((STORM_METRICS)) && [[ "$server" != node ]]; then start_sampler; fi
    xfer_run "$server" storm "$STORM_PUBLISHERS" 1 "$WARMUP" "$STORM_WINDOW" --signal-pid "$STORM_PID" --linger
    [[ "$line" == *failed=1* || -z "$line" ]] && { stop_storm; return 0; }
    local during=("$(field msgs_per_s)" "$(field p50_us)" "$(field p99_us)" "$(field worst_interval_p99_us)" "$(field max_gap_ms)"
                  "$(field lowest_interval_msgs_per_s)" "$(field max_us)")
    ((RUN_OTHER >= other_calm)) || RUN_OTHER="$other_calm"
    wait_for_line "$OUT/storm-last.txt" RESULT "$STORM_PID" $((STORM_SETTLE * 2 + 30)) "the storm"
    echo "# $server storm: the kernel's listen counters (TcpExt) over the storm run: $(listen_counters_delta "$kernel0" "$(listen_counters)")" >>"$RESULTS"
    if [[ "$server" != node ]]; then
        subs_a="$(curl -s -m 5 "http://127.0.0.1:$(http_port a)/metrics" | awk '/^gateway_backplane_(subscriptions|queued|messages_dropped_total)/ {
            n = $1; sub(/\{otel_scope_name="Gateway",?/, "{", n); sub(/\{\}/, "", n); printf "%s=%s ", n, $NF }' || true)"
        echo "# $server A after the storm (before its connections close): $subs_a" >>"$RESULTS"
    fi
    take_output "$OUT/storm-last.txt" "server=$server case=storm-connects"
    storm_line="$line"
    stop_storm
    if [[ -s "$OUT/backplane-metrics.txt" ]]; then sed "s/^/# $server storm: /" "$OUT/backplane-metrics.txt" >>"$RESULTS"; rm -f "$OUT/backplane-metrics.txt"; fi
    echo "RESULT server=$server case=storm-connects ${storm_line#RESULT }" >>"$RESULTS"
    [[ -n "$storm_line" ]] || { FAILED=1; return 0; }
    line="$storm_line"
    (($(field failed) == 0 && $(field server_closed) == 0)) || { log "storm connections failed or were closed by $server"; FAILED=1; }
    RUN=("${calm[@]}" "${during[@]}" "$(field connect_rate)" "$(field connect_p99_ms)" "$(field accepted_after_last_s)"
         "$(field subs_after_last_s)" "$(( $(field open_at_end) - $(field server_open_at_end) ))")
    wait_subs "$base" "the storm closed"
    sleep 1
}

# ---------- run ----------
open_results backplane "duration=${DURATION}s warmup=${WARMUP}s size=$SIZE publishers=$PUBLISHERS inflight=$INFLIGHT scenarios=\"$SCENARIOS\" storm_rate=$STORM_RATE storm_seconds=$STORM_SECONDS storm_hold=$STORM_HOLD storm_tail=$STORM_TAIL storm_publishers=$STORM_PUBLISHERS storm_warmup=$STORM_WARMUP nats_cpu=$NATS_CPU b_cpu=$B_CPU fd_limit=$FD_LIMIT nats: $(nats-server --version 2>&1)"

FAILED=0
declare -A MPS P50 P99 P999 GAP SRV OTHER REP LOW MAX
for ((rep = 1; rep <= REPEAT; rep++)); do
    ((REPEAT == 1)) || log "repetition $rep/$REPEAT"
    for server in $(servers_for_rep "$rep"); do
        start_session "$server"
        for scenario in $SCENARIOS; do
            if [[ "$scenario" == storm ]]; then
                measure_retrying run_storm "$server"
                if ((${#RUN[@]})); then
                    i=0
                    for c in calm storm; do
                        k="$server|$c"
                        MPS[$k]+="${RUN[i]} "; P50[$k]+="${RUN[i+1]} "; P99[$k]+="${RUN[i+2]} "; P999[$k]+="${RUN[i+3]} "; GAP[$k]+="${RUN[i+4]} "
                        REP[mps|$k|$rep]="${RUN[i]}"; REP[p50|$k|$rep]="${RUN[i+1]}"; REP[p99|$k|$rep]="${RUN[i+2]}"
                        REP[worst|$k|$rep]="${RUN[i+3]}"; LOW[$k]+="${RUN[i+5]} "; MAX[$k]+="${RUN[i+6]} "
                        i=$((i + 7))
                    done
                    k="$server|connects"
                    MPS[$k]+="${RUN[14]} "; P99[$k]+="${RUN[15]} "; P999[$k]+="${RUN[16]} "; GAP[$k]+="${RUN[17]} "; SRV[$k]+="${RUN[18]} "
                    OTHER[$server|storm]+="$RUN_OTHER "
                fi
            else
                measure_retrying run_delivery "$server" "$scenario"
                if ((${#RUN[@]})); then
                    k="$server|$scenario"
                    MPS[$k]+="${RUN[0]} "; P50[$k]+="${RUN[1]} "; P99[$k]+="${RUN[2]} "; P999[$k]+="${RUN[3]} "; GAP[$k]+="${RUN[4]} "
                    SRV[$k]+="${RUN[5]} "; OTHER[$k]+="$RUN_OTHER "
                    REP[mps|$k|$rep]="${RUN[0]}"; REP[p50|$k|$rep]="${RUN[1]}"; REP[p99|$k|$rep]="${RUN[2]}"
                fi
            fi
        done
        stop_session
        sleep 1
    done
done

# ---------- report ----------
# Median (min-max) over the repetitions of REP[metric|a|rep] / REP[metric|b|rep].
rep_ratio() {   # metric a b
    local r a b
    for ((r = 1; r <= REPEAT; r++)); do
        a="${REP[$1|$2|$r]:-}"; b="${REP[$1|$3|$r]:-}"
        if [[ -n "$a" && -n "$b" ]]; then awk -v a="$a" -v b="$b" 'BEGIN{ if (b > 0) printf "%.4f\n", a / b }'; fi
    done | ratio_cell
}
cell() { local m; m="$(median "$1" "$2")"; [[ "$m" == n/a ]] && echo n/a || awk -v m="$m" 'BEGIN{printf (m >= 100 ? "%.0f" : "%.2f"), m}'; }
{
    echo
    echo "Backplane: instances A and B of each server on one nats-server ($(nats-server --version 2>&1)), A on CPU ${SERVER_CPU}, B on CPU ${B_CPU}, nats-server on CPU ${NATS_CPU}, load generator on CPU ${CLIENT_CPU}; ${SIZE} B bodies; median of ${REPEAT} run(s)"
    if [[ " $SCENARIOS " == *" pipelined "* || " $SCENARIOS " == *" ping-pong "* ]]; then
        echo
        echo "Cross-instance delivery: frames sent to A, published on xfer/data, delivered by B to its subscriber; ${DURATION} s after ${WARMUP} s warmup; latency is A's socket to B's"
        echo
        echo "| server | case | msgs/s | p50 (us) | p99 (us) | p99.9 (us) | longest gap (ms) | nats+A+B CPU % |"
        echo "|---|---|---:|---:|---:|---:|---:|---:|"
        for scenario in pipelined ping-pong; do
            [[ " $SCENARIOS " == *" $scenario "* ]] || continue
            for server in $SERVERS; do
                k="$server|$scenario"
                label="$scenario ($PUBLISHERS x $([[ $scenario == pipelined ]] && echo "$INFLIGHT" || echo 1))"
                echo "| $server | $label | $(range_cell MPS "$k") | $(cell P50 "$k") | $(cell P99 "$k") | $(cell P999 "$k") | $(cell GAP "$k") | $(median SRV "$k") |"
            done
        done
        if [[ " $SERVERS " == *" gateway "* && " $SERVERS " == *" node "* ]]; then
            echo
            echo "| case | gateway/node msgs/s | gateway/node p50 | gateway/node p99 |"
            echo "|---|---:|---:|---:|"
            for scenario in pipelined ping-pong; do
                [[ " $SCENARIOS " == *" $scenario "* ]] || continue
                echo "| $scenario | $(rep_ratio mps "gateway|$scenario" "node|$scenario") | $(rep_ratio p50 "gateway|$scenario" "node|$scenario") | $(rep_ratio p99 "gateway|$scenario" "node|$scenario") |"
            done
        fi
    fi
    if [[ " $SCENARIOS " == *" storm "* ]]; then
        echo
        echo "Connect storm: a steady publisher ($STORM_PUBLISHERS x 1 in flight, A to B) for $STORM_WINDOW s after ${WARMUP} s warmup, calm and while $STORM_RATE connections/s open to A for ${STORM_SECONDS} s ($(awk -v h="$STORM_HOLD" 'BEGIN{ if (h > 0) printf "each held %s s", h; else printf "all held" }'); one NATS subscription each)"
        echo
        echo "| server | run | msgs/s | lowest 250 ms (msgs/s) | p50 (us) | p99 (us) | worst 250 ms p99 (us) | max (us) | longest gap (ms) |"
        echo "|---|---|---:|---:|---:|---:|---:|---:|---:|"
        for server in $SERVERS; do
            for c in calm storm; do
                k="$server|$c"
                echo "| $server | $c | $(range_cell MPS "$k") | $(range_cell LOW "$k") | $(cell P50 "$k") | $(cell P99 "$k") | $(cell P999 "$k") | $(cell MAX "$k") | $(cell GAP "$k") |"
            done
        done
        echo
        echo "| server | storm/calm msgs/s | storm/calm p50 | storm/calm p99 | storm/calm worst 250 ms p99 | connects/s within the storm | connect p99 (ms) | lost in a full accept queue | s after the last connect until all accepted | until NATS has them all |"
        echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
        for server in $SERVERS; do
            k="$server|connects"
            echo "| $server | $(rep_ratio mps "$server|storm" "$server|calm") | $(rep_ratio p50 "$server|storm" "$server|calm") | $(rep_ratio p99 "$server|storm" "$server|calm") | $(rep_ratio worst "$server|storm" "$server|calm") | $(cell MPS "$k") | $(cell P99 "$k") | $(median SRV "$k") | $(cell P999 "$k") | $(cell GAP "$k") |"
        done
        if [[ " $SERVERS " == *" gateway "* && " $SERVERS " == *" node "* ]]; then
            echo
            echo "| run | gateway/node msgs/s | gateway/node p50 | gateway/node p99 |"
            echo "|---|---:|---:|---:|"
            for c in calm storm; do
                echo "| $c | $(rep_ratio mps "gateway|$c" "node|$c") | $(rep_ratio p50 "gateway|$c" "node|$c") | $(rep_ratio p99 "gateway|$c" "node|$c") |"
            done
        fi
    fi
    echo
    echo "Ratios: median over repetitions of the ratio within each repetition (min-max). msgs/s above 1 favours the first"
    echo "named; latency above 1 means it is slower. The storm client and the publisher share CPU ${CLIENT_CPU}: storm/calm"
    echo "includes what the storm's own connects cost the load generator's core. Lost in a full accept queue: connections the"
    echo "client holds open at the end that the server's kernel does not know (completed with a SYN cookie, then dropped on a"
    echo "full accept queue). All accepted: the server's open descriptors over the count when the storm started reach the"
    echo "open connections its kernel knows. NATS has them all: then the nats-server's subscriptions over the count when"
    echo "the storm started equal the server's connections (-1: not within STORM_SETTLE s)."
    echo
    warn_disturbed OTHER
} | tee -a "$RESULTS"
log "raw results: $RESULTS"
exit "$FAILED"
