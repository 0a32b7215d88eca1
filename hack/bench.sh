#!/usr/bin/env bash
# The benchmark suite (`make bench`; not part of `make test`). Minutes long.
#
#   1. Builds the release server and the two bench-only examples (`floor`,
#      `genstreams`).
#   2. Micro-benchmarks (criterion, `cargo bench --bench admission`):
#      resolving a 10-container Deployment against 10, 1,000 and 100,000
#      streams, and the whole in-process review (bytes in, bytes out).
#      Prints `bench: resolve_ratio_100k_over_10=N.NN`.
#   3. A load test over loopback: `serve` in directory mode on 10,000
#      generated streams (5 tags x 3 history items each), and the floor
#      server (the same TLS/HTTP stack answering the webhook's captured
#      answer), both driven by `oha` with the same 10-container Deployment
#      AdmissionReview on 16 keep-alive connections: saturated for 20 s after
#      a 5 s warm-up, then at a fixed 2,000 requests/s for 20 s. Then, for
#      information, the same fixed rate against a second `serve` with the
#      importer on (its registries do not exist, so it keeps writing failed
#      statuses into the files): admission beside a busy importer.
#   4. Push-event freshness (issue 19): the ignored integration test
#      events::bench_push_to_status_latency pushes 20 times with skopeo to a
#      docker-registry that notifies `serve --events-listen`, timing each from
#      the end of `skopeo copy` to the new digest in the stream's status, in
#      cluster mode (fake API server) and directory mode.
#   5. The import at scale (hack/bench-import.sh): 2,000 and 10,000 new tags in
#      20 namespace files following one image on docker-registry; the time
#      until every status is written, manifest requests per tag, peak RSS.
#   6. Ends with one line:
#      bench: mutate rps=N p50_us=N p99_us=N floor_rps=N floor_p99_us=N ratio=0.NN fixed_rps=2000 fixed_p99_us=N floor_fixed_p99_us=N rss_mib=N load_ms=N streams=10000 event_p50_ms=N event_p99_ms=N scheduled_interval_s=N import_s_2000=N import_requests_per_tag_2000=N import_rss_mib_2000=N (and _10000)
#      (the event figures are cluster mode's)
#
# Everything runs on 127.0.0.1, every step is bounded by `timeout`, and the
# servers it starts are stopped on exit.
#
# Environment (defaults in brackets):
#   CARGO                  cargo command [cargo]
#   BENCH_STREAMS          streams in the load test [10000]
#   BENCH_CONNECTIONS      oha connections [16]
#   BENCH_WARMUP_SECONDS   warm-up before each saturation run [5]
#   BENCH_SECONDS          length of each measured run [20]
#   BENCH_RATE             requests/s of the fixed-rate runs [2000]
#   BENCH_SKIP_MICRO=1     skip the criterion micro-benchmarks
#   BENCH_SKIP_EVENTS=1    skip the push-event freshness step
#   BENCH_SKIP_IMPORTER=1  skip the informational fixed-rate run against a
#                          second server with the importer on
#   BENCH_SKIP_IMPORT=1    skip the import-at-scale step (hack/bench-import.sh)
#   BENCH_IMPORT_TAGS      its tag counts ["2000 10000"]
#   BENCH_PERF=1           also profile the webhook with `perf record` during an
#                          extra saturation run and print the top of the report
#                          (perf.data is kept in target/bench/)
#   BENCH_KEEP=1           keep the work folder (streams, logs, oha JSON)
#
# oha (the load generator) is installed with `cargo install --locked oha`
# when it is not on PATH; that compiles for several minutes, once.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

CARGO=${CARGO:-cargo}
TARGET_DIR=${CARGO_TARGET_DIR:-target}
STREAMS=${BENCH_STREAMS:-10000}
TAGS=5
HISTORY=3
NAMESPACES=20
CONNECTIONS=${BENCH_CONNECTIONS:-16}
WARMUP_S=${BENCH_WARMUP_SECONDS:-5}
DURATION_S=${BENCH_SECONDS:-20}
RATE=${BENCH_RATE:-2000}

BIN=$TARGET_DIR/release/imagestream-webhook
FLOOR=$TARGET_DIR/release/examples/floor
GENSTREAMS=$TARGET_DIR/release/examples/genstreams

say() { echo "==> $*"; }
die() {
    echo "bench: error: $*" >&2
    exit 1
}

for tool in python3 curl timeout; do
    command -v "$tool" >/dev/null || die "$tool is needed"
done

say "load average at start: $(cut -d' ' -f1-3 /proc/loadavg) (2 cores are shared: run this on a quiet machine)"

# ---------------------------------------------------------------- oha
OHA=$(command -v oha || true)
if [[ -z $OHA && -x ${CARGO_HOME:-$HOME/.cargo}/bin/oha ]]; then
    OHA=${CARGO_HOME:-$HOME/.cargo}/bin/oha
fi
if [[ -z $OHA ]]; then
    say "oha is not on PATH: installing it with 'cargo install --locked oha' (this compiles for several minutes, once)"
    timeout 1800 $CARGO install --locked oha
    OHA=${CARGO_HOME:-$HOME/.cargo}/bin/oha
    [[ -x $OHA ]] || die "cargo install oha did not leave $OHA"
fi
say "load generator: $("$OHA" --version 2>/dev/null | head -n1)"
if "$OHA" --help 2>/dev/null | grep -q -- '--output-format'; then
    OHA_JSON=(--output-format json)
else
    OHA_JSON=(--json)
fi

# ---------------------------------------------------------------- 1. build
say "building release: imagestream-webhook, examples floor and genstreams"
timeout 1800 $CARGO build --release --bin imagestream-webhook --example floor --example genstreams

# ---------------------------------------------------------------- 2. micro-benchmarks
if [[ ${BENCH_SKIP_MICRO:-0} != 1 ]]; then
    say "micro-benchmarks (criterion): cargo bench --bench admission"
    stamp=$(mktemp)
    timeout 1800 $CARGO bench --bench admission
    python3 - "$TARGET_DIR/criterion" "$stamp" <<'EOF'
import json, os, sys
root, stamp = sys.argv[1], os.path.getmtime(sys.argv[2])
means = {}
for dirpath, _, files in os.walk(root):
    if os.path.basename(dirpath) != "new" or "benchmark.json" not in files:
        continue
    if os.path.getmtime(os.path.join(dirpath, "estimates.json")) < stamp:
        continue  # an earlier run's result
    bench = json.load(open(os.path.join(dirpath, "benchmark.json")))
    est = json.load(open(os.path.join(dirpath, "estimates.json")))
    means[bench["full_id"]] = est["mean"]["point_estimate"]
for full_id in sorted(means):
    ns = means[full_id]
    print(f"bench: {full_id} mean={ns / 1000:.3f}us ({ns:.0f} ns/op)")
need = ["resolve/10", "resolve/100000"]
missing = [n for n in need if n not in means]
if missing:
    sys.exit(f"bench: error: no fresh criterion estimates for {', '.join(missing)} under {root}")
print(f"bench: resolve_ratio_100k_over_10={means['resolve/100000'] / means['resolve/10']:.2f}")
EOF
    rm -f "$stamp"
fi

# ---------------------------------------------------------------- 3. load test
WORK=$(mktemp -d "${TMPDIR:-/tmp}/imagestream-bench.XXXXXX")
PIDS=()
cleanup() {
    local pid
    for pid in "${PIDS[@]}"; do
        kill -TERM "$pid" 2>/dev/null || true
    done
    for pid in "${PIDS[@]}"; do
        for _ in $(seq 50); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        kill -KILL "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    if [[ ${BENCH_KEEP:-0} == 1 ]]; then
        echo "==> kept $WORK" >&2
    else
        rm -rf "$WORK"
    fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

say "load average before the load test: $(cut -d' ' -f1-3 /proc/loadavg)"
say "generating $STREAMS streams ($TAGS tags x $HISTORY history items) in $NAMESPACES namespaces"
timeout 300 "$GENSTREAMS" --out "$WORK/streams" --streams "$STREAMS" --tags "$TAGS" --history "$HISTORY" \
    --namespaces "$NAMESPACES" --review "$WORK/review.json" --expect "$WORK/expect.json"
timeout 60 "$BIN" certs --san 127.0.0.1 --out "$WORK/certs" >/dev/null

read -r WH_PORT ADMIN_PORT FLOOR_PORT < <(python3 - <<'EOF'
import socket
socks = [socket.socket() for _ in range(3)]
for s in socks:
    s.bind(("127.0.0.1", 0))
print(*(s.getsockname()[1] for s in socks))
EOF
)

# Starts the webhook; load_ms is from the exec to the first /readyz 200.
start_ns=$(date +%s%N)
"$BIN" serve --streams-dir "$WORK/streams" --no-import \
    --listen "127.0.0.1:$WH_PORT" --admin-listen "127.0.0.1:$ADMIN_PORT" \
    --tls-cert "$WORK/certs/tls.crt" --tls-key "$WORK/certs/tls.key" \
    --audit-log "$WORK/audit.log" >"$WORK/webhook.log" 2>&1 &
WH_PID=$!
PIDS+=("$WH_PID")
ready_ns=
for _ in $(seq 6000); do
    kill -0 "$WH_PID" 2>/dev/null || { cat "$WORK/webhook.log" >&2; die "the webhook exited during start-up"; }
    if [[ $(curl -s -o /dev/null -w '%{http_code}' --max-time 1 "http://127.0.0.1:$ADMIN_PORT/readyz" || true) == 200 ]]; then
        ready_ns=$(date +%s%N)
        break
    fi
    sleep 0.01
done
[[ -n $ready_ns ]] || { tail -n 20 "$WORK/webhook.log" >&2; die "the webhook was not ready within 60 s"; }
LOAD_MS=$(((ready_ns - start_ns) / 1000000))
say "webhook (pid $WH_PID) ready on https://127.0.0.1:$WH_PORT after $LOAD_MS ms"

# The webhook's real answer to the review: checked, then served by the floor.
timeout 10 curl -sS --fail --cacert "$WORK/certs/ca.crt" -H 'Content-Type: application/json' \
    --data-binary "@$WORK/review.json" "https://127.0.0.1:$WH_PORT/mutate" -o "$WORK/answer.json"
python3 - "$WORK/review.json" "$WORK/answer.json" "$WORK/expect.json" <<'EOF'
import base64, json, sys
review, answer, expect = (open(p, "rb").read() for p in sys.argv[1:])
rsp = json.loads(answer)["response"]
assert rsp["allowed"] is True, f"the review was not allowed: {rsp}"
patch = json.loads(base64.b64decode(rsp["patch"]))
assert patch == json.loads(expect), f"unexpected patch: {patch}"
print(f"==> review: {len(review)} bytes, 10 containers; answer: {len(answer)} bytes, "
      f"a JSONPatch pinning all {len(patch)} images")
EOF

"$FLOOR" --listen "127.0.0.1:$FLOOR_PORT" --tls-cert "$WORK/certs/tls.crt" --tls-key "$WORK/certs/tls.key" \
    --response "$WORK/answer.json" >"$WORK/floor.log" 2>&1 &
FLOOR_PID=$!
PIDS+=("$FLOOR_PID")
floor_up=
for _ in $(seq 1000); do
    kill -0 "$FLOOR_PID" 2>/dev/null || { cat "$WORK/floor.log" >&2; die "the floor exited during start-up"; }
    if curl -s --max-time 1 --cacert "$WORK/certs/ca.crt" -H 'Content-Type: application/json' \
        --data-binary "@$WORK/review.json" "https://127.0.0.1:$FLOOR_PORT/mutate" -o "$WORK/floor-answer.json"; then
        floor_up=1
        break
    fi
    sleep 0.01
done
[[ -n $floor_up ]] || die "the floor did not answer within 10 s"
cmp -s "$WORK/answer.json" "$WORK/floor-answer.json" || die "the floor's answer differs from the webhook's"
say "floor (pid $FLOOR_PID) on https://127.0.0.1:$FLOOR_PORT answers the same $(wc -c <"$WORK/answer.json") bytes"

# run_oha NAME PORT SECONDS [oha args...]: POSTs the review to /mutate.
run_oha() {
    local name=$1 port=$2 seconds=$3
    shift 3
    timeout $((seconds + 60)) "$OHA" --no-tui "${OHA_JSON[@]}" --insecure \
        -m POST -H 'Content-Type: application/json' -D "$WORK/review.json" \
        -c "$CONNECTIONS" -z "${seconds}s" "$@" \
        "https://127.0.0.1:$port/mutate" >"$WORK/$name.json"
}

# CPU time (user + system, clock ticks) a process has used so far.
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
CLK_TCK=$(getconf CLK_TCK)
# Busy (user, nice, system; interrupts left out, as loopback traffic is
# processed there) and total clock ticks of the whole machine so far.
machine_ticks() { awk '/^cpu / {print $2 + $3 + $4, $2 + $3 + $4 + $5 + $6 + $7 + $8 + $9}' /proc/stat; }
# CPU time (clock ticks) of this shell's finished children, oha among them.
# `times` must run in this shell, not in a $(...) subshell.
children_ticks() {
    times >"$WORK/times"
    awk -v hz="$CLK_TCK" 'NR == 2 {
        t = 0
        for (i = 1; i <= 2; i++) { split($i, a, /[ms]/); t += a[1] * 60 + a[2] }
        printf "%d\n", t * hz
    }' "$WORK/times"
}

# measure NAME PID PORT SECONDS [oha args...]: run_oha, then its summary with
# the server's CPU time per answered request, oha's CPU use, and what the rest
# of the machine (other users of the shared cores) used meanwhile.
measure() {
    local name=$1 pid=$2 busy0 total0 busy1 total1 kids0 kids1 server0 server1
    shift 2
    children_ticks >"$WORK/kids"
    read -r kids0 <"$WORK/kids"
    read -r busy0 total0 < <(machine_ticks)
    server0=$(cpu_ticks "$pid")
    run_oha "$name" "$@"
    server1=$(cpu_ticks "$pid")
    read -r busy1 total1 < <(machine_ticks)
    children_ticks >"$WORK/kids"
    read -r kids1 <"$WORK/kids"
    summary "$name" $((server1 - server0)) $((kids1 - kids0)) $((busy1 - busy0)) $((total1 - total0))
}

# summary NAME [SERVER_TICKS CLIENT_TICKS MACHINE_BUSY_TICKS MACHINE_TOTAL_TICKS]
summary() {
    python3 - "$WORK/$1.json" "$1" "$CLK_TCK" "${@:2}" <<'EOF'
import json, sys
r = json.load(open(sys.argv[1]))
name, hz, ticks = sys.argv[2], int(sys.argv[3]), [int(t) for t in sys.argv[4:]]
s, p = r["summary"], r["latencyPercentiles"]
codes = r.get("statusCodeDistribution", {})
errors = {k: v for k, v in r.get("errorDistribution", {}).items() if "deadline" not in k}
line = (f"==> {name}: rps={s['requestsPerSec']:.0f} p50_us={p['p50'] * 1e6:.0f} "
        f"p99_us={p['p99'] * 1e6:.0f} statuses={codes}")
answered = sum(codes.values())
if ticks and answered:
    server, client, busy, total = ticks
    other = max(busy - server - client, 0)
    line += (f" server_cpu_us_per_request={server * 1e6 / hz / answered:.1f}"
             f" cpu_share: server={100 * server / total:.0f}% oha={100 * client / total:.0f}%"
             f" others={100 * other / total:.0f}%")
if errors:
    line += f" errors={errors}"
print(line)
EOF
}

say "load average before the runs: $(cut -d' ' -f1-3 /proc/loadavg)"
say "webhook, saturated: ${WARMUP_S} s warm-up, then ${DURATION_S} s on $CONNECTIONS connections"
run_oha webhook-warmup "$WH_PORT" "$WARMUP_S"
measure webhook-sat "$WH_PID" "$WH_PORT" "$DURATION_S"
say "floor, saturated: ${WARMUP_S} s warm-up, then ${DURATION_S} s on $CONNECTIONS connections"
run_oha floor-warmup "$FLOOR_PORT" "$WARMUP_S"
measure floor-sat "$FLOOR_PID" "$FLOOR_PORT" "$DURATION_S"
say "webhook at $RATE requests/s for ${DURATION_S} s"
measure webhook-fixed "$WH_PID" "$WH_PORT" "$DURATION_S" -q "$RATE" --latency-correction
say "floor at $RATE requests/s for ${DURATION_S} s"
measure floor-fixed "$FLOOR_PID" "$FLOOR_PORT" "$DURATION_S" -q "$RATE" --latency-correction
say "load average after the runs: $(cut -d' ' -f1-3 /proc/loadavg)"

RSS_KB=$(awk '/^VmRSS:/ {print $2}' "/proc/$WH_PID/status")
HWM_KB=$(awk '/^VmHWM:/ {print $2}' "/proc/$WH_PID/status")
FLOOR_RSS_KB=$(awk '/^VmRSS:/ {print $2}' "/proc/$FLOOR_PID/status")
DROPPED=$(curl -s --max-time 5 "http://127.0.0.1:$ADMIN_PORT/metrics" |
    awk '/^imagestream_webhook_audit_records_dropped_total/ {print $2}')
say "webhook RSS $((RSS_KB / 1024)) MiB (peak $((HWM_KB / 1024)) MiB), floor RSS $((FLOOR_RSS_KB / 1024)) MiB;" \
    "audit log $(wc -l <"$WORK/audit.log") lines, ${DROPPED:-?} records dropped"

# Admission beside a busy importer (informational; not in the summary line):
# a second server on the same streams with the importer on. Every tag is
# scheduled and its registry does not exist, so the importer keeps writing
# failures into the files, the worst case of status writes and reloads.
if [[ ${BENCH_SKIP_IMPORTER:-0} != 1 ]]; then
    read -r IMP_PORT IMP_ADMIN_PORT < <(python3 - <<'PORTS'
import socket
socks = [socket.socket() for _ in range(2)]
for s in socks:
    s.bind(("127.0.0.1", 0))
print(*(s.getsockname()[1] for s in socks))
PORTS
)
    "$BIN" serve --streams-dir "$WORK/streams" \
        --listen "127.0.0.1:$IMP_PORT" --admin-listen "127.0.0.1:$IMP_ADMIN_PORT" \
        --tls-cert "$WORK/certs/tls.crt" --tls-key "$WORK/certs/tls.key" \
        --audit-log "$WORK/audit-importer.log" >"$WORK/webhook-importer.log" 2>&1 &
    IMP_PID=$!
    PIDS+=("$IMP_PID")
    for _ in $(seq 6000); do
        kill -0 "$IMP_PID" 2>/dev/null || { tail -n 20 "$WORK/webhook-importer.log" >&2; die "the importing webhook exited"; }
        [[ $(curl -s -o /dev/null -w '%{http_code}' --max-time 1 "http://127.0.0.1:$IMP_ADMIN_PORT/readyz" || true) == 200 ]] && break
        sleep 0.01
    done
    say "webhook with the importer on: 10 s of importing, then $RATE requests/s for ${DURATION_S} s"
    sleep 10
    measure webhook-importing "$IMP_PID" "$IMP_PORT" "$DURATION_S" -q "$RATE" --latency-correction
    IMPORTS=$(curl -s --max-time 5 "http://127.0.0.1:$IMP_ADMIN_PORT/metrics" |
        awk '/^imagestream_webhook_imports_total/ {n += $2} END {print n + 0}')
    say "importing webhook: $IMPORTS imports, $(grep -c 'streams reloaded' "$WORK/webhook-importer.log") reloads," \
        "RSS $(($(awk '/^VmRSS:/ {print $2}' "/proc/$IMP_PID/status") / 1024)) MiB"
    kill -TERM "$IMP_PID" 2>/dev/null || true
fi

if [[ ${BENCH_PERF:-0} == 1 ]]; then
    command -v perf >/dev/null || die "perf is needed for BENCH_PERF=1 (apt-get install linux-perf)"
    mkdir -p "$TARGET_DIR/bench"
    say "profiling the webhook (perf record, 10 s) during a saturation run"
    run_oha webhook-perf "$WH_PORT" 14 &
    oha_pid=$!
    PIDS+=("$oha_pid")
    sleep 2
    timeout 60 perf record -F 999 --call-graph dwarf,32768 -p "$WH_PID" -o "$TARGET_DIR/bench/perf.data" -- sleep 10 \
        2>"$WORK/perf.log" || { cat "$WORK/perf.log" >&2; die "perf record failed"; }
    wait "$oha_pid"
    PIDS=("$WH_PID" "$FLOOR_PID")
    summary webhook-perf
    # Filtered through files, not pipes into head: a closed pipe would stop
    # this script (pipefail) before its final line.
    timeout 300 perf report -i "$TARGET_DIR/bench/perf.data" --no-children --sort symbol \
        --percent-limit 0.7 --stdio -g none >"$WORK/perf-self.txt" 2>/dev/null || true
    timeout 300 perf report -i "$TARGET_DIR/bench/perf.data" --children --sort symbol \
        --percent-limit 2 --stdio -g none >"$WORK/perf-children.txt" 2>/dev/null || true
    say "top of the profile (self time, $TARGET_DIR/bench/perf.data):"
    awk '!/^#/ && NF && n < 40 {print; n++}' "$WORK/perf-self.txt" | cut -c1-160
    say "the webhook's own functions, with what they call (children):"
    awk '!/^#/ && /imagestream_(webhook|core)(::[A-Za-z_]+)+( |$)/ && n < 30 {print; n++}' \
        "$WORK/perf-children.txt" | cut -c1-160
fi

if [[ ${BENCH_SKIP_EVENTS:-0} != 1 ]]; then
    say "push-event freshness: 20 skopeo pushes to a notifying docker-registry (cluster and directory mode)"
    timeout 900 "$CARGO" test --test integration events::bench_push_to_status_latency \
        -- --ignored --nocapture --test-threads 1 >"$WORK/events.txt" 2>&1 ||
        { tail -n 30 "$WORK/events.txt" >&2; die "the push-event freshness run failed"; }
    grep '^bench-events:' "$WORK/events.txt"
fi

IMPORT_FIELDS=
if [[ ${BENCH_SKIP_IMPORT:-0} != 1 ]]; then
    say "import at scale: ${BENCH_IMPORT_TAGS:-2000 10000} new tags in 20 namespace files"
    : >"$WORK/import.txt"
    # shellcheck disable=SC2086
    BENCH_IMPORT_ADMISSION_RATE=${BENCH_IMPORT_ADMISSION_RATE:-$RATE} \
        BENCH_IMPORT_OUT="$WORK/import.txt" timeout 1800 bash hack/bench-import.sh "$BIN" ${BENCH_IMPORT_TAGS:-2000 10000}
    IMPORT_FIELDS=$(tr '\n' ' ' <"$WORK/import.txt")
fi

python3 - "$WORK" "$RSS_KB" "$LOAD_MS" "$STREAMS" "$RATE" "$IMPORT_FIELDS" <<'EOF'
import json, sys
work, rss_kb, load_ms, streams, rate, import_fields = sys.argv[1:]
def run(name):
    r = json.load(open(f"{work}/{name}.json"))
    return r["summary"]["requestsPerSec"], r["latencyPercentiles"]["p50"] * 1e6, r["latencyPercentiles"]["p99"] * 1e6
rps, p50, p99 = run("webhook-sat")
floor_rps, _, floor_p99 = run("floor-sat")
fixed_rps, _, fixed_p99 = run("webhook-fixed")
floor_fixed_rps, _, floor_fixed_p99 = run("floor-fixed")
ratio = rps / floor_rps
rss_mib = int(rss_kb) / 1024
# Push-event freshness, cluster mode (absent with BENCH_SKIP_EVENTS=1).
events = ""
event_p99 = None
try:
    for line in open(f"{work}/events.txt"):
        if line.startswith("bench-events: mode=cluster "):
            fields = dict(f.split("=", 1) for f in line.split()[2:])
            event_p99 = float(fields["event_p99_ms"])
            events = (f" event_p50_ms={fields['event_p50_ms']} event_p99_ms={fields['event_p99_ms']}"
                      f" scheduled_interval_s={fields['scheduled_interval_s']}")
except FileNotFoundError:
    pass
checks = [
    ("ratio >= 0.80", ratio >= 0.80),
    ("fixed_p99_us <= 1.5 x floor_fixed_p99_us", fixed_p99 <= 1.5 * floor_fixed_p99),
    ("fixed_p99_us <= 1000", fixed_p99 <= 1000),
    ("rss_mib <= 100", rss_mib <= 100),
    ("load_ms <= 2000", int(load_ms) <= 2000),
]
if event_p99 is not None:
    checks.append(("event_p99_ms <= 2000", event_p99 <= 2000))
imp = dict(f.split("=", 1) for f in import_fields.split())
def num(key):
    try:
        return float(imp[key])
    except (KeyError, ValueError):
        return float("inf")
for n, bound in (("2000", 10), ("10000", 60)):
    if f"import_s_{n}" in imp:
        checks.append((f"import_s_{n} <= {bound}", num(f"import_s_{n}") <= bound))
        checks.append((f"import_requests_per_tag_{n} <= 1.05", num(f"import_requests_per_tag_{n}") <= 1.05))
        checks.append((f"import_rss_mib_{n} <= 150", num(f"import_rss_mib_{n}") <= 150))
print(f"==> fixed-rate runs achieved {fixed_rps:.0f} (webhook) and {floor_fixed_rps:.0f} (floor) requests/s")
for what, ok in checks:
    print(f"==> target {what}: {'met' if ok else 'MISSED'}")
print(f"bench: mutate rps={rps:.0f} p50_us={p50:.0f} p99_us={p99:.0f} floor_rps={floor_rps:.0f} "
      f"floor_p99_us={floor_p99:.0f} ratio={ratio:.2f} fixed_rps={rate} fixed_p99_us={fixed_p99:.0f} "
      f"floor_fixed_p99_us={floor_fixed_p99:.0f} rss_mib={rss_mib:.0f} load_ms={load_ms} streams={streams}{events}"
      + (f" {import_fields.strip()}" if import_fields.strip() else ""))
EOF
