#!/usr/bin/env bash
# Speed kept? Two builds of the gateway side by side in one run: BASE (by default the commit before NEW)
# and NEW (by default HEAD), each published from its own copy of the sources, measured with the existing
# drivers through their second gateway server name, gateway-base (lib.sh):
#   TCP echo, pipelined and ping-pong               run-tcp-echo.sh
#   WebSocket fan-out at 25 and 1,000 msg/s         run-ws-fanout.sh
#   UDP echo at an unlimited send rate              run-udp.sh (MODES=max)
#
# Each repetition runs every benchmark once, with the two builds back to back within each case and base
# first on odd repetitions, new first on even ones (paired, alternating: a drift of the machine's speed
# cannot favour the build that always runs first). For every metric below, one ratio per repetition,
# oriented so that >= 1 means NEW is as good as BASE or better:
#   throughput (higher is better): new / base
#   p99 latency (lower is better):  base / new
# The report gives each metric's median ratio with its min-max over the repetitions and PASS when the
# median is at least MIN_RATIO. Only the gateway comes from the two revisions: the drivers, the load
# generators and this script are this checkout's, so both builds are measured by the same code.
#
# Usage: bash bench/run-compare.sh                        # HEAD~1 against HEAD, 5 repetitions
#        BASE=<rev> NEW=<rev> REPEAT=5 bash bench/run-compare.sh
#        NEW=worktree bash bench/run-compare.sh           # uncommitted changes against HEAD
# Env (defaults):
#   NEW=HEAD                  revision to measure, or "worktree": this checkout as it is on disk
#   BASE=<NEW>~1              revision to compare with (HEAD when NEW=worktree); for all the commits of a
#                             branch: BASE=$(git merge-base main HEAD)
#   REPEAT=5                  repetitions (pairs)
#   MIN_RATIO=0.95            a row passes when its median ratio is at least this
#   BENCHES="tcp ws udp"      subset of the benchmarks
#   DURATION WARMUP DRAIN SIZE CONNECTIONS PIPELINED_INFLIGHT SUBSCRIBERS SOCKETS GATEWAY_PORT
#   SERVER_CPU CLIENT_CPU STARTUP_TIMEOUT QUIET_WAIT QUIET_PCT OTHER_MAX_PCT RETRY_DISTURBED
#                             passed down to the drivers, with the drivers' defaults (run-tcp-echo.sh,
#                             run-ws-fanout.sh, run-udp.sh); WARMUP and DRAIN default differently there
# Output: the markdown report on stdout, headed by the command line to paste into bench/README.md; the
# drivers' progress and tables on stderr; every raw line in bench/out/compare-<timestamp>.txt.
# Exit status: 0 when every row passes and every run succeeded, 1 otherwise.
set -euo pipefail

# The settings given, read before anything sets a default, so the report shows the command as typed.
KNOBS=(BASE NEW REPEAT MIN_RATIO BENCHES DURATION WARMUP DRAIN SIZE CONNECTIONS PIPELINED_INFLIGHT
       SUBSCRIBERS SOCKETS GATEWAY_PORT SERVER_CPU CLIENT_CPU STARTUP_TIMEOUT QUIET_WAIT QUIET_PCT
       OTHER_MAX_PCT RETRY_DISTURBED)
shell_word() {   # value: as it would be typed
    if [[ "$1" =~ ^[A-Za-z0-9._~^/:@%+,=-]+$ ]]; then printf '%s' "$1"
    elif [[ "$1" != *[\"\$\`\\]* ]]; then printf '"%s"' "$1"
    else printf '%q' "$1"; fi
}
CMDLINE=""
for v in "${KNOBS[@]}"; do
    if [[ -v $v ]]; then CMDLINE+="$v=$(shell_word "${!v}") "; fi
done
CMDLINE+="bash bench/run-compare.sh"

NEW="${NEW:-HEAD}"
if [[ "$NEW" == worktree ]]; then BASE="${BASE:-HEAD}"; else BASE="${BASE:-$NEW~1}"; fi
REPEAT="${REPEAT:-5}"
MIN_RATIO="${MIN_RATIO:-0.95}"
BENCHES="${BENCHES:-tcp ws udp}"
source "$(dirname "$0")/lib.sh"

[[ "$REPEAT" =~ ^[1-9][0-9]*$ ]] || die "REPEAT must be a positive integer (got '$REPEAT')"
[[ "$MIN_RATIO" =~ ^[0-9]+(\.[0-9]+)?$ ]] || die "MIN_RATIO must be a number such as 0.95 (got '$MIN_RATIO')"
for b in $BENCHES; do
    [[ "$b" =~ ^(tcp|ws|udp)$ ]] || die "unknown benchmark '$b' in BENCHES (tcp, ws, udp)"
done
[[ -n "${BENCHES// /}" ]] || die "BENCHES is empty"

# One row per metric that decides: benchmark, case (the driver's scenario, rate or mode), field of the
# driver's RESULT line, which way is better, and the labels. The cases each driver runs come from here.
ROWS=(
    "tcp|pipelined|frames_per_s|higher|TCP echo, pipelined|frames/s"
    "tcp|ping-pong|frames_per_s|higher|TCP echo, ping-pong|frames/s"
    "tcp|ping-pong|p99_us|lower|TCP echo, ping-pong|p99 (us)"
    "ws|25|arrival_p99_us|lower|WebSocket fan-out, 25 msg/s|p99 at arrival (us)"
    "ws|1000|deliveries_per_s|higher|WebSocket fan-out, 1,000 msg/s|deliveries/s"
    "udp|max|recv_per_s|higher|UDP echo, unlimited send rate|echoed datagrams/s"
)
cases_of() {   # bench: its cases, in ROWS order, once each
    local r b c
    for r in "${ROWS[@]}"; do
        IFS='|' read -r b c _ <<<"$r"
        if [[ "$b" == "$1" ]]; then echo "$c"; fi
    done | awk '!seen[$0]++' | paste -sd' '
}

# ---------- revisions ----------
resolve() {   # rev: its commit id
    git -C "$ROOT" rev-parse --verify --quiet "$1^{commit}" ||
        die "'$1' is not a commit in this repository (BASE=$BASE NEW=$NEW)"
}
describe() { git -C "$ROOT" log -1 --format='%h %<(80,trunc)%s' "$1" | sed 's/ *$//'; }
BASE_SHA="$(resolve "$BASE")"
if [[ "$NEW" == worktree ]]; then
    NEW_SHA=worktree
    NEW_DESC="the working tree on $(describe HEAD)"
else
    NEW_SHA="$(resolve "$NEW")"
    NEW_DESC="$(describe "$NEW_SHA")"
    # Edits not yet committed are easy to believe measured: say they are not.
    if [[ -n "$(git -C "$ROOT" status --porcelain -- src appsettings.json Directory.Build.props)" ]]; then
        log "uncommitted changes under src/ are not measured (NEW=$NEW); NEW=worktree measures them"
    fi
fi
BASE_DESC="$(describe "$BASE_SHA")"
[[ "$BASE_SHA" != "$NEW_SHA" ]] || log "BASE and NEW are the same commit: the ratios will show noise only"

# ---------- builds ----------
mkdir -p "$OUT"
STAMP="$(date +%Y%m%d-%H%M%S)"
COMPARE="$OUT/compare-$STAMP.txt"
BUILD="$OUT/compare-$STAMP.build"
# The two builds go under bench/out: make sure git ignores it, so they can never be committed.
git -C "$ROOT" check-ignore -q "$BUILD/" || die "bench/out is not ignored by git (.gitignore): refusing to build into it"
compare_cleanup() {
    bench_cleanup
    rm -rf "$BUILD"
}
trap compare_cleanup EXIT

# Copies revision REV's tree with git archive rather than git worktree add: nothing is registered in the
# repository that the other checkouts share, so an interrupted run leaves nothing behind there.
build() {   # label rev|worktree: publishes into $BUILD/label
    local src="$BUILD/src-$1"
    if [[ "$2" == worktree ]]; then
        src="$ROOT"
    else
        mkdir -p "$src"
        git -C "$ROOT" archive --format=tar "$2" | tar -x -C "$src" || die "could not extract $2 into $src"
    fi
    publish_gateway "$src" "$BUILD/$1" || die "the $1 build ($2) failed to publish"
    # The driver runs this through bash from the repository root: quote the path for that shell.
    gateway_cmd_for "$(printf '%q' "$BUILD/$1/Gateway.dll")"
}
log "base: $BASE_DESC"
log "new:  $NEW_DESC"
BASE_CMD="$(build base "$BASE_SHA")"
NEW_CMD="$(build new "$NEW_SHA")"

{
    echo "# compare bench $STAMP"
    echo "# command: $CMDLINE"
    echo "# base: $BASE_SHA $BASE_DESC"
    echo "# new: $NEW_SHA $NEW_DESC"
    echo "# server names in the drivers' lines and tables: gateway = new, gateway-base = base"
} >"$COMPARE"

# ---------- runs ----------
# FIG[server|row|rep]: the row's figure in that repetition; OTH[server|row|rep]: other processes' CPU %.
# A run the driver repeated because it was disturbed appears twice: the later line wins, as in the drivers.
declare -A FIG OTH
FAILED=0
take_results() {   # part-file bench rep
    local line server case_ i b c f
    while IFS= read -r line; do
        server="$(field server)"
        case "$2" in
            tcp) case_="$(field scenario)" ;;
            ws)  case_="$(field rate)" ;;
            udp) case_="$(field mode)" ;;
        esac
        for i in "${!ROWS[@]}"; do
            IFS='|' read -r b c f _ <<<"${ROWS[$i]}"
            [[ "$b" == "$2" && "$c" == "$case_" ]] || continue
            FIG[$server|$i|$3]="$(field "$f")"   # empty for a failed run: no ratio in this repetition
            OTH[$server|$i|$3]="$(field other_cpu_pct)"
        done
    done < <(grep '^RESULT ' "$1" || true)
}
run_bench() {   # bench rep servers-in-order
    local part="$BUILD/$1-$2.txt" rc=0 driver
    local -a cases
    case "$1" in
        tcp) driver=run-tcp-echo.sh;  cases=(SCENARIOS="$(cases_of tcp)") ;;
        ws)  driver=run-ws-fanout.sh; cases=(RATES="$(cases_of ws)") ;;
        udp) driver=run-udp.sh;       cases=(MODES="$(cases_of udp)") ;;
    esac
    log "repetition $2/$REPEAT: $driver, $3"
    # REPEAT=1: this script makes the repetitions, so it knows which lines belong to which one.
    env "${cases[@]}" REPEAT=1 SERVERS="$3" GATEWAY_CMD="$NEW_CMD" GATEWAY_BASE_CMD="$BASE_CMD" \
        RESULTS_FILE="$part" bash "$BENCH_DIR/$driver" >&2 || rc=$?
    echo "# ---------- repetition $2: $driver, in this order: $3" >>"$COMPARE"
    if [[ -f "$part" ]]; then cat "$part" >>"$COMPARE"; take_results "$part" "$1" "$2"; fi
    if ((rc != 0)); then log "$driver failed (exit $rc) in repetition $2"; FAILED=1; fi
}
for ((rep = 1; rep <= REPEAT; rep++)); do
    if ((rep % 2)); then order="gateway-base gateway"; else order="gateway gateway-base"; fi
    for b in $BENCHES; do run_bench "$b" "$rep" "$order"; done
done

# ---------- report ----------
figure() { awk -v v="$1" 'BEGIN{ if (v !~ /^[0-9.]+$/) print "n/a"; else if (v >= 1000) printf "%.0f\n", v; else printf "%.1f\n", v }'; }
per_rep() {   # array server row: the figures of every repetition, one a line
    local -n a="$1"
    local r
    for ((r = 1; r <= REPEAT; r++)); do
        if [[ -n "${a[$2|$3|$r]:-}" ]]; then echo "${a[$2|$3|$r]}"; fi
    done
}
declare -A OTHER   # "bench case" -> other processes' CPU % of every counted run, for warn_disturbed
VERDICT=PASS
REPORT="$BUILD/report.md"
{
    echo
    echo "Gateway speed, new against base: median of $REPEAT paired repetition(s), base first on odd ones"
    echo
    echo '```bash'
    echo "$CMDLINE"
    echo '```'
    echo
    echo "- base: $BASE_DESC"
    echo "- new: $NEW_DESC"
    for b in $BENCHES; do
        settings="$(grep -m1 '^# duration=' "$BUILD/$b-1.txt" 2>/dev/null | sed 's/^# //; s/ repeat=1$//' || true)"
        echo "- $b: ${settings:-n/a}"
    done
    echo
    echo "| benchmark | metric | better | base | new | new vs base | pairs | >= $MIN_RATIO |"
    echo "|---|---|---|---:|---:|---:|---:|---|"
    for i in "${!ROWS[@]}"; do
        IFS='|' read -r b c f better label metric <<<"${ROWS[$i]}"
        [[ " $BENCHES " == *" $b "* ]] || continue
        # Oriented so that >= 1 means new is as good or better.
        if [[ "$better" == higher ]]; then ratios="$(paired_ratios FIG gateway gateway-base "$i")"
        else ratios="$(paired_ratios FIG gateway-base gateway "$i")"; fi
        med="$(median_of <<<"$ratios")"
        if [[ "$med" != n/a ]] && awk -v m="$med" -v t="$MIN_RATIO" 'BEGIN{exit !(m >= t)}'; then ok=PASS
        else ok=FAIL; VERDICT=FAIL; fi
        echo "| $label | $metric | $better | $(figure "$(per_rep FIG gateway-base "$i" | median_of)") | $(figure "$(per_rep FIG gateway "$i" | median_of)") | $(ratio_cell <<<"$ratios") | $(grep -c . <<<"$ratios" || true)/$REPEAT | $ok |"
        OTHER["$b $c"]="$(per_rep OTH gateway "$i") $(per_rep OTH gateway-base "$i")"
    done
    echo
    echo "base, new: the median figure of each build. new vs base: per repetition, new/base where higher is better"
    echo "(throughput) and base/new where lower is better (p99 latency), so >= 1 means new is as good or better;"
    echo "the median over the repetitions, min-max in brackets. pairs: repetitions that measured both builds."
    ((FAILED == 0)) || { echo "Some runs failed: see the drivers' lines in the raw file."; VERDICT=FAIL; }
    echo
    echo "Verdict: $VERDICT (PASS needs every median ratio >= $MIN_RATIO and every run to succeed). Raw lines: bench/out/$(basename "$COMPARE")"
    warn_disturbed OTHER
} >"$REPORT"   # a file, not a pipe: VERDICT is set in this shell
tee -a "$COMPARE" <"$REPORT"
log "raw results: $COMPARE"
[[ "$VERDICT" == PASS ]]
