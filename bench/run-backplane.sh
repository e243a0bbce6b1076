#!/usr/bin/env bash
# WebSocket fan-out across instances: 1 publisher on instance A, SUBSCRIBERS WebSocket subscribers on instance B, A and
# B joined by one nats-server. Servers (SERVERS):
#   gateway         two gateways with Gateway:Backplane:Kind=Nats (raw-mode /ws on their HTTP ports)
#   node            two bench/peers/node-ws-fanout.js processes given the NATS URL (the `ws` and `nats` packages: local
#                   delivery first, one NATS publish, one NATS subscription per locally subscribed topic, no echo)
#   gateway-single  one gateway without a backplane, publisher and subscribers on it: what crossing the broker costs
# All server processes (nats-server included) run pinned to SERVER_CPU, bench/out/wsfanout (--publish-port: the
# publisher on A, the subscribers on B) to CLIENT_CPU. Reported per rate: deliveries/s (at a rate above a server's
# capacity, its maximum), latency to the subscriber's socket (arrival) and to the generator's read, loss; ratios
# gateway/node and gateway/gateway-single within each repetition (median, min-max).
#
# Usage: bash bench/run-backplane.sh
# Env (defaults):
#   DURATION=10 WARMUP=5 DRAIN=3 RATES="25 2000" SUBSCRIBERS=1000 SIZE=64 SERVERS="gateway node gateway-single"
#   NATS_PORT=4622 GATEWAY_PORT=8680 (A; B is +1) NODE_PORT=8780 (A; B is +1)
#   GATEWAY_CMD, SERVER_CPU=0 CLIENT_CPU=1 REPEAT=1 and lib.sh's quiet-machine settings
set -euo pipefail

DURATION="${DURATION:-10}"
WARMUP="${WARMUP:-5}"
DRAIN="${DRAIN:-3}"
RATES="${RATES:-25 2000}"
SUBSCRIBERS="${SUBSCRIBERS:-1000}"
SIZE="${SIZE:-64}"
SERVERS="${SERVERS:-gateway node gateway-single}"
NATS_PORT="${NATS_PORT:-4622}"
GATEWAY_PORT="${GATEWAY_PORT:-8680}"
NODE_PORT="${NODE_PORT:-8780}"
TOPIC="bench/fanout"
source "$(dirname "$0")/lib.sh"

check_servers gateway node gateway-single
command -v nats-server >/dev/null || die "nats-server not found (apt-get install nats-server)"
command -v taskset >/dev/null || die "taskset not found (util-linux)"
mkdir -p "$OUT"
log "building the load generator into $OUT"
make -s -C "$BENCH_DIR/loadgen" OUT="$OUT" "$OUT/wsfanout" >&2
LOADGEN="$OUT/wsfanout"
if [[ " $SERVERS " == *" node "* ]]; then
    command -v node >/dev/null || die "node not found"
    [[ -d "$BENCH_DIR/node_modules/nats" ]] || (cd "$BENCH_DIR" && npm ci --no-audit --no-fund --loglevel=error >&2)
fi
# gateway-single runs the same published gateway.
if [[ " $SERVERS " == *" gateway-single "* ]]; then SERVERS="gateway $SERVERS" prepare_gateway; else prepare_gateway; fi
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

# server_cmd NAME for lib.sh's start_server: nats, or SERVER@INSTANCE (gateway@a, node@b, gateway-single@a).
server_cmd() {
    local server="${1%@*}" i="${1#*@}"
    case "$server" in
        nats) echo "nats-server -a 127.0.0.1 -p $NATS_PORT" ;;
        gateway|gateway-single) echo "$GATEWAY_CMD" ;;
        node) echo "node $BENCH_DIR/peers/node-ws-fanout.js $(instance_port node "$i") nats://127.0.0.1:$NATS_PORT" ;;
    esac
}
instance_port() {   # server instance
    local p; if [[ "$1" == node ]]; then p="$NODE_PORT"; else p="$GATEWAY_PORT"; fi
    [[ "$2" == a ]] && echo "$p" || echo $((p + 1))
}
# The gateway's settings: its HTTP port (the /ws endpoint), the default endpoints off (two instances share the machine),
# and the backplane unless single.
gateway_env() {   # server instance
    local e
    SERVER_ENV=("Gateway__Http__Port=$(instance_port "$1" "$2")")
    for e in echo stick chat console udp chat_unix; do SERVER_ENV+=("Gateway__Endpoints__${e}__Enabled=false"); done
    [[ "$1" == gateway-single ]] || SERVER_ENV+=("Gateway__Backplane__Kind=Nats" "Gateway__Backplane__Urls__0=nats://127.0.0.1:$NATS_PORT")
}

SESSION_PIDS=()
stop_session() {   # the instances, then nats-server
    local i
    for ((i = ${#SESSION_PIDS[@]} - 1; i >= 0; i--)); do SERVER_PID="${SESSION_PIDS[i]}"; stop_server; done
    SESSION_PIDS=()
}
trap '[[ $BASHPID == "$$" ]] && { stop_session; bench_cleanup; }' EXIT

start_session() {   # server
    local server="$1" i instances="a b"
    wait_quiet
    if [[ "$server" == gateway-single ]]; then
        instances="a"
    else
        SERVER_ENV=()
        start_server nats "$NATS_PORT" "$OUT/backplane-fanout-nats.log" port_open
        SESSION_PIDS+=("$SERVER_PID"); SERVER_PID=""
    fi
    for i in $instances; do
        if [[ "$server" == node ]]; then SERVER_ENV=(); else gateway_env "$server" "$i"; fi
        start_server "$server@$i" "$(instance_port "$server" "$i")" "$OUT/backplane-fanout-$server-$i.log" port_open
        SESSION_PIDS+=("$SERVER_PID"); SERVER_PID=""
    done
}
session_ticks() { local t=0 pid; for pid in "${SESSION_PIDS[@]}"; do t=$((t + $(proc_ticks "$pid"))); done; echo "$t"; }

open_results backplane-fanout "duration=${DURATION}s warmup=${WARMUP}s drain=${DRAIN}s subscribers=$SUBSCRIBERS size=$SIZE rates=\"$RATES\" nats: $(nats-server --version 2>&1)"

# One measurement: RUN = deliveries/s, ideal, read p50, read p99, lost %, servers' CPU %, arrival p50, arrival p99.
run_one() {   # server rate
    local server="$1" rate="$2" sub_port pub_port lg_out="$OUT/wsfanout-last.txt" lg_rc=0 t0 t1 s0 s1 b0 b1 srv
    RUN=(); RUN_OTHER=0
    start_session "$server"
    sub_port="$(instance_port "$server" b)"; pub_port="$(instance_port "$server" a)"
    [[ "$server" == gateway-single ]] && sub_port="$pub_port"
    log "$server / $rate msg/s: 1 publisher on :$pub_port -> $SUBSCRIBERS subscribers on :$sub_port, ${SIZE}B"
    t0=$(date +%s%N); s0=$(session_ticks); b0=$(machine_ticks)
    timeout --kill-after=5 "$(awk -v w="$WARMUP" -v d="$DURATION" -v r="$DRAIN" 'BEGIN{print int(w+d+r+60)}')" \
        taskset -c "$CLIENT_CPU" "$LOADGEN" --host 127.0.0.1 --port "$sub_port" --publish-port "$pub_port" --path /ws \
        --topic "$TOPIC" --subscribers "$SUBSCRIBERS" --rate "$rate" --size "$SIZE" \
        --duration "$DURATION" --warmup "$WARMUP" --drain "$DRAIN" --server-pid "${SESSION_PIDS[-1]}" --server-cpu "$SERVER_CPU" \
        >"$lg_out" || lg_rc=$?
    t1=$(date +%s%N); s1=$(session_ticks); b1=$(machine_ticks)
    stop_session
    ((lg_rc == 0)) || { log "load generator failed for $server / $rate (exit $lg_rc)"; FAILED=1; }
    take_output "$lg_out" "server=$server rate=$rate"
    [[ -n "$line" ]] || { FAILED=1; echo "RESULT server=$server rate=$rate failed=1" >>"$RESULTS"; return 0; }
    # Every process of the session, over the whole run (setup and drain included): nats-server, A and B together.
    srv="$(awk -v s="$((s1 - s0))" -v t="$(( (t1 - t0) / 1000 ))" -v hz="$CLK_TCK" 'BEGIN{printf "%.0f", 100 * s / hz / (t / 1e6)}')"
    echo "RESULT server=$server ${line#RESULT } session_cpu_pct=$srv" >>"$RESULTS"
    # The generator counts A and nats-server as other processes: the disturbance is what neither the session, the
    # generator nor the kernel's softirq took, over the whole run.
    RUN_OTHER="$(awk -v b="$((b1 - b0))" -v s="$((s1 - s0))" -v t="$(( (t1 - t0) / 1000 ))" -v hz="$CLK_TCK" \
        -v g="$(field loadgen_cpu_pct)" -v q="$(field softirq_pct)" 'BEGIN{ sec = t / 1e6; o = 100 * (b - s) / hz / sec - g - q;
        printf "%.0f", (o < 0) ? 0 : o }')"
    RUN=("$(field deliveries_per_s)" "$(field ideal_deliveries_per_s)" "$(field p50_us)" "$(field p99_us)" \
         "$(field lost_pct)" "$srv" "$(field arrival_p50_us)" "$(field arrival_p99_us)")
    [[ "$(field errors)" == "0" ]] || FAILED=1
    sleep 1
}

FAILED=0
declare -A DPS IDEAL P50 P99 AP50 AP99 LOST SRV REPDPS REPAP99 REPP99
for ((rep = 1; rep <= REPEAT; rep++)); do
    ((REPEAT == 1)) || log "repetition $rep/$REPEAT"
    for rate in $RATES; do
        for server in $(servers_for_rep "$rep"); do
            measure_retrying run_one "$server" "$rate"
            ((${#RUN[@]})) || continue
            k="$server|$rate"
            DPS[$k]+="${RUN[0]} "; IDEAL[$k]+="${RUN[1]} "; P50[$k]+="${RUN[2]} "; P99[$k]+="${RUN[3]} "
            LOST[$k]+="${RUN[4]} "; SRV[$k]+="${RUN[5]} "; AP50[$k]+="${RUN[6]} "; AP99[$k]+="${RUN[7]} "
            REPDPS[$k|$rep]="${RUN[0]}"; REPAP99[$k|$rep]="${RUN[7]}"; REPP99[$k|$rep]="${RUN[3]}"
        done
    done
done

# ---------- report ----------
ms() { awk -v v="$1" 'BEGIN{ if (v ~ /^[0-9.]+$/) printf "%.1f", v/1000; else print "n/a" }'; }
{
    echo
    echo "WebSocket fan-out across instances: 1 publisher on A -> ${SUBSCRIBERS} subscribers on B through one nats-server ($(nats-server --version 2>&1)); gateway-single: one gateway, no backplane. ${SIZE} B text messages, ${DURATION} s measured after ${WARMUP} s warmup (+ ${DRAIN} s drain); servers on CPU ${SERVER_CPU}, loadgen on CPU ${CLIENT_CPU}; median of ${REPEAT} run(s)"
    echo
    echo "| server | publish rate (msg/s) | offered deliveries/s | deliveries/s | p50 / p99 at arrival (ms) | p50 / p99 at read (ms) | lost % | servers' CPU % |"
    echo "|---|---:|---:|---:|---:|---:|---:|---:|"
    for rate in $RATES; do
        for server in $SERVERS; do
            k="$server|$rate"
            [[ -n "${DPS[$k]:-}" ]] || continue
            echo "| $server | $rate | $(median IDEAL "$k") | $(range_cell DPS "$k") | $(ms "$(median AP50 "$k")") / $(ms "$(median AP99 "$k")") | $(ms "$(median P50 "$k")") / $(ms "$(median P99 "$k")") | $(median LOST "$k") | $(median SRV "$k") |"
        done
    done
    echo
    echo "| rate | gateway/node deliveries/s | gateway/node p99 at arrival | gateway/gateway-single deliveries/s | gateway/gateway-single p99 at arrival |"
    echo "|---:|---:|---:|---:|---:|"
    for rate in $RATES; do
        echo "| $rate | $(paired_ratio REPDPS gateway node "$rate") | $(paired_ratio REPAP99 gateway node "$rate") | $(paired_ratio REPDPS gateway gateway-single "$rate") | $(paired_ratio REPAP99 gateway gateway-single "$rate") |"
    done
    echo
    echo "Ratios: median over repetitions of the ratio within each repetition (min-max). Deliveries/s above 1 favours"
    echo "the gateway; latency above 1 means the gateway is slower. At a rate above a server's capacity its deliveries/s"
    echo "is its maximum and its latency grows with the backlog (lost counts what was still missing after the drain)."
} | tee -a "$RESULTS"
log "raw results: $RESULTS"
exit "$FAILED"
