#!/usr/bin/env bash
# Idle connections: what each costs a server in memory and in connect CPU, and whether all still answer.
#
# For every server (gateway, node) and kind (tcp, ws): start the server pinned to SERVER_CPU; warm it up (WARMUP_COUNT
# connections opened, each answering once, and closed); read its resident memory (VmRSS) and CPU time; open COUNT idle
# connections with bench/loadgen/connect-many.js pinned to CLIENT_CPU (from several loopback addresses of the run's
# own); wait until the server has accepted them all (its open sockets) and SETTLE seconds more; read memory and CPU
# again. Then every connection sends one message and must get it back ("check"), and the server is stopped.
#   tcp: the gateway's length-framed echo endpoint (each connection subscribed to its own topic) against
#        bench/peers/node-echo.js (Node's net);
#   ws:  the gateway's raw /ws endpoint, each socket subscribed to the topic it publishes to, against
#        bench/peers/node-ws-fanout.js (Node's ws package) with the same URL.
# Reported per server: KB of resident memory per connection ((after - before) / COUNT), milliseconds of server CPU
# per 1,000 connections while they connected, and answered/COUNT; and gateway/node ratios, paired per repetition.
#
# Usage: bash bench/run-idle.sh
# Env (defaults):
#   KINDS="tcp ws"  SERVERS="gateway node"
#   TCP_COUNT       idle TCP connections [the open-file limit less 1,000, at most 100,000]: each is a descriptor of the
#                   server and one of the client, and neither may open more than `ulimit -n` allows
#   WS_COUNT=10000  idle WebSockets
#   SETTLE=3        seconds between the last accept and the second reading
#   WARMUP_COUNT=2000  connections opened, checked and closed before the first reading (0: none)
#   GATEWAY_PORT=9000 HTTP_PORT=8080 NODE_PORT=9100 NODE_WS_PORT=8180 SERVER_CPU=0 CLIENT_CPU=1 REPEAT=1 (and lib.sh's)
set -euo pipefail

KINDS="${KINDS:-tcp ws}"
SERVERS="${SERVERS:-gateway node}"
SETTLE="${SETTLE:-3}"
WARMUP_COUNT="${WARMUP_COUNT:-2000}"
WS_COUNT="${WS_COUNT:-10000}"
GATEWAY_PORT="${GATEWAY_PORT:-9000}"
HTTP_PORT="${HTTP_PORT:-8080}"
NODE_PORT="${NODE_PORT:-9100}"
NODE_WS_PORT="${NODE_WS_PORT:-8180}"
source "$(dirname "$0")/lib.sh"

ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
FD_LIMIT="$(ulimit -n)"
DEFAULT_TCP_COUNT=$((FD_LIMIT - 1000)); ((DEFAULT_TCP_COUNT <= 100000)) || DEFAULT_TCP_COUNT=100000
TCP_COUNT="${TCP_COUNT:-$DEFAULT_TCP_COUNT}"
((TCP_COUNT + 200 <= FD_LIMIT)) || die "TCP_COUNT=$TCP_COUNT does not fit the open-file limit $FD_LIMIT"

check_servers gateway node
command -v node >/dev/null || die "node not found"
[[ -d "$BENCH_DIR/node_modules/ws" ]] || (cd "$BENCH_DIR" && npm ci --no-audit --no-fund --loglevel=error >&2)
mkdir -p "$OUT"
prepare_gateway

# The gateway's echo endpoint and /ws with room for every connection; idle timeouts longer than a run.
SERVER_ENV=("Gateway__Endpoints__echo__Port=$GATEWAY_PORT" "Gateway__Endpoints__echo__MaxConnections=$((TCP_COUNT + 100))"
            "Gateway__Endpoints__echo__IdleTimeout=01:00:00" "Gateway__Http__Port=$HTTP_PORT")
server_cmd() {   # name (the kind is in KIND)
    case "$1|$KIND" in
        gateway\|*) echo "$GATEWAY_CMD" ;;
        node\|tcp)  echo "node $BENCH_DIR/peers/node-echo.js $NODE_PORT" ;;
        node\|ws)   echo "node $BENCH_DIR/peers/node-ws-fanout.js $NODE_WS_PORT" ;;
    esac
}
port_of() {   # server kind
    case "$1|$2" in
        gateway\|tcp) echo "$GATEWAY_PORT" ;; gateway\|ws) echo "$HTTP_PORT" ;;
        node\|tcp) echo "$NODE_PORT" ;; node\|ws) echo "$NODE_WS_PORT" ;;
    esac
}
count_of() { if [[ "$1" == tcp ]]; then echo "$TCP_COUNT"; else echo "$WS_COUNT"; fi; }

open_results idle "kinds=\"$KINDS\" tcp_count=$TCP_COUNT ws_count=$WS_COUNT warmup_count=$WARMUP_COUNT settle=${SETTLE}s fd_limit=$FD_LIMIT"

rss_kb() { awk '/^VmRSS:/{print $2}' "/proc/$1/status"; }
open_sockets() { find "/proc/$1/fd" -mindepth 1 -maxdepth 1 -lname "socket:*" 2>/dev/null | wc -l; }   # its sockets

CLIENT_PID=""
stop_client() {
    { exec 4>&-; } 2>/dev/null || true
    [[ -n "$CLIENT_PID" ]] || return 0
    kill "$CLIENT_PID" 2>/dev/null || true
    wait "$CLIENT_PID" 2>/dev/null || true
    CLIENT_PID=""
}
trap 'stop_client; bench_cleanup' EXIT

ADDRESS_SET=0
# Starts COUNT idle clients of the current run's server and kind on PORT, from loopback addresses of their own (a run's
# closed connections hold their ports in TIME_WAIT), and waits until the server has accepted them all (FD_BASE more
# open sockets). The fifo CONTROL is the clients' stdin, open as descriptor 4.
open_clients() {   # count port
    local count="$1" port="$2" target addresses="" i deadline
    ADDRESS_SET=$((ADDRESS_SET + 1))
    for i in 2 3 4 5; do addresses+="127.$((ADDRESS_SET % 200 + 20)).$((ADDRESS_SET / 200)).$i,"; done
    if [[ "$KIND" == tcp ]]; then target="127.0.0.1:$port"; else target="ws://127.0.0.1:$port/ws?subscribe=idle/{i}&publish=idle/{i}"; fi
    rm -f "$CONTROL"; mkfifo "$CONTROL"
    taskset -c "$CLIENT_CPU" node "$BENCH_DIR/loadgen/connect-many.js" "$target" "$count" 200 "${addresses%,}" \
        <"$CONTROL" >"$CLIENT_OUT" 2>&1 &
    CLIENT_PID=$!
    exec 4>"$CONTROL"
    deadline=$((SECONDS + 300))
    until grep -q '^connected' "$CLIENT_OUT" && (($(open_sockets "$SERVER_PID") >= FD_BASE + count)); do
        kill -0 "$CLIENT_PID" 2>/dev/null || { cat "$CLIENT_OUT" >&2; die "the clients failed"; }
        kill -0 "$SERVER_PID" 2>/dev/null || die "the server exited; see its log in $OUT"
        ((SECONDS < deadline)) || die "$count connections were not all accepted after 300 s"
        sleep 0.2
    done
}

# Has every client answer once; leaves how many did in ANSWERED.
check_clients() {   # count
    echo check >&4
    wait_for_line "$CLIENT_OUT" answered "$CLIENT_PID" 90 "the check of $1 connections"
    ANSWERED="$(awk '/^answered/{print $2}' "$CLIENT_OUT")"
}

CONTROL="$OUT/idle-control"; CLIENT_OUT="$OUT/idle-client-last.txt"
# One measurement; leaves KB per connection, CPU ms per 1,000 connections and the answered count in RUN.
run_one() {   # server kind
    local server="$1" count port rss0 rss1 srv0 srv1 deadline
    KIND="$2"; count="$(count_of "$KIND")"; port="$(port_of "$server" "$KIND")"
    begin_run "$server" "$port" "$OUT/server-idle-$server.log" port_open
    sleep 2   # start-up work done before the first reading
    FD_BASE="$(open_sockets "$SERVER_PID")"

    # Warm-up: the code that connects is compiled and optimised (the JIT's and V8's tiers) before anything is measured.
    if ((WARMUP_COUNT > 0)); then
        log "$server / $KIND: warming up with $WARMUP_COUNT connections"
        open_clients "$WARMUP_COUNT" "$port"
        check_clients "$WARMUP_COUNT"
        ((ANSWERED == WARMUP_COUNT)) || die "$server answered $ANSWERED of $WARMUP_COUNT warm-up connections"
        stop_client
        deadline=$((SECONDS + 60))
        while (($(open_sockets "$SERVER_PID") > FD_BASE)); do
            ((SECONDS < deadline)) || die "$server still holds the warm-up connections after 60 s"
            sleep 0.2
        done
        sleep 2
    fi

    rss0="$(rss_kb "$SERVER_PID")"; srv0="$(proc_ticks "$SERVER_PID")"
    log "$server / $KIND: $count idle connections"
    open_clients "$count" "$port"
    sleep "$SETTLE"
    rss1="$(rss_kb "$SERVER_PID")"; srv1="$(proc_ticks "$SERVER_PID")"

    check_clients "$count"
    local answered="$ANSWERED"
    grep -h '^connected\|^answered' "$CLIENT_OUT" | sed "s/^/# $server $KIND: /" >>"$RESULTS"
    stop_client
    stop_server
    rm -f "$CONTROL"

    RUN=("$(awk -v a="$rss0" -v b="$rss1" -v n="$count" 'BEGIN{printf "%.2f", (b-a)/n}')"
         "$(awk -v a="$srv0" -v b="$srv1" -v n="$count" -v hz="$CLK_TCK" 'BEGIN{printf "%.1f", (b-a)/hz*1000*1000/n}')"
         "$answered")
    echo "RESULT server=$server kind=$KIND count=$count rss_before_kb=$rss0 rss_after_kb=$rss1 kb_per_conn=${RUN[0]} cpu_ms_per_1000=${RUN[1]} answered=$answered" >>"$RESULTS"
    log "$server / $KIND: ${RUN[0]} KB per connection, ${RUN[1]} ms CPU per 1,000 connects, $answered of $count answered"
    ((answered == count)) || FAILED=1
    sleep 2
}

FAILED=0
declare -A KB CPU ANSWERED REPKB REPCPU
for ((rep = 1; rep <= REPEAT; rep++)); do
    ((REPEAT == 1)) || log "repetition $rep/$REPEAT"
    for kind in $KINDS; do
        for server in $(servers_for_rep "$rep"); do
            run_one "$server" "$kind"
            k="$server|$kind"
            KB[$k]+="${RUN[0]} "; CPU[$k]+="${RUN[1]} "; ANSWERED[$k]="${RUN[2]}"
            REPKB[$k|$rep]="${RUN[0]}"; REPCPU[$k|$rep]="${RUN[1]}"
        done
    done
done

# ---------- report ----------
{
    echo
    echo "Idle connections (TCP: $TCP_COUNT, WebSocket: $WS_COUNT), server on CPU $SERVER_CPU, clients on CPU $CLIENT_CPU; median of $REPEAT run(s); open-file limit $FD_LIMIT"
    echo
    echo "| kind | server | KB per connection | CPU ms per 1,000 connects | answered at the end | KB vs node | CPU vs node |"
    echo "|---|---|---:|---:|---:|---:|---:|"
    for kind in $KINDS; do
        for server in $SERVERS; do
            ratios="| |"
            if [[ "$server" != node && " $SERVERS " == *" node "* ]]; then
                # paired_ratio keys: server|case|rep, with the kind as the case.
                declare -A PAIR_KB=() PAIR_CPU=()
                for ((rep = 1; rep <= REPEAT; rep++)); do
                    PAIR_KB[$server|$kind|$rep]="${REPKB[$server|$kind|$rep]:-}"; PAIR_KB[node|$kind|$rep]="${REPKB[node|$kind|$rep]:-}"
                    PAIR_CPU[$server|$kind|$rep]="${REPCPU[$server|$kind|$rep]:-}"; PAIR_CPU[node|$kind|$rep]="${REPCPU[node|$kind|$rep]:-}"
                done
                ratios="| $(paired_ratio PAIR_KB "$server" node "$kind") | $(paired_ratio PAIR_CPU "$server" node "$kind") |"
                unset PAIR_KB PAIR_CPU
            fi
            echo "| $kind | $server | $(median KB "$server|$kind") | $(median CPU "$server|$kind") | ${ANSWERED[$server|$kind]:-n/a}/$(count_of "$kind") $ratios"
        done
    done
    echo
    echo "KB per connection: growth of the server's resident memory (VmRSS) from before the first connect to ${SETTLE} s after"
    echo "the last accept, over the count. CPU: the server's user+system time over the same span. vs node: median of the"
    echo "per-repetition ratios gateway/node (lower is better; targets: tcp KB <= 1.0, ws KB <= 1.5, CPU <= 2)."
} | tee -a "$RESULTS"
log "raw results: $RESULTS"
exit "$FAILED"
