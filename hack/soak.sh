#!/usr/bin/env bash
# Soak test (not run in CI): the release server in directory mode on the
# example streams, under a fixed request rate for a long time.
#
#   make soak                      # 10 minutes at 500 requests/s
#   SOAK_SECONDS=60 make soak      # shorter
#
# What it does:
#   1. Builds the release binary (unless SOAK_BIN is given), makes throw-away
#      certificates, copies manifests/examples to a temporary folder and
#      serves it with --no-import on 127.0.0.1 (ports picked by the kernel).
#   2. Warms up for SOAK_WARMUP seconds at the same rate, then records the
#      server's resident memory (VmRSS).
#   3. Sends SOAK_RATE requests per second for SOAK_SECONDS over
#      SOAK_CONNECTIONS keep-alive TLS connections, a fixed schedule (not
#      "as fast as it goes"): a mix of /mutate that pins an image, /validate
#      of the pinned pod, and /mutate of a pod whose service account may not
#      use the stream (an allowed: false answer is a correct answer).
#   4. Prints the error count (non-2xx answers and transport errors), wrong
#      answers (a 200 whose review is not the expected one), latency
#      percentiles, the audit records written and dropped, and the resident
#      memory at start and end.
#
# Exits non-zero when there was any error or wrong answer, when the server
# died, or when resident memory grew by 10% or more.
#
# The load generator is a small Python program (python3 and its standard
# library only): one thread per connection, each request sent at its slot
# of the fixed schedule; a request that cannot keep its slot is sent late and
# counted as late, never skipped.
#
# Environment:
#   SOAK_SECONDS      measured duration (default 600)
#   SOAK_WARMUP       warm-up before the first memory reading (default 10)
#   SOAK_RATE         requests per second (default 500)
#   SOAK_CONNECTIONS  keep-alive connections (default 16)
#   SOAK_BIN          the binary to run (default: a fresh release build)
#   CARGO             the cargo command for that build (default: cargo)
#   KEEP              1 keeps the temporary folder (logs, audit log)
set -euo pipefail

cd "$(dirname "$0")/.."

SOAK_SECONDS=${SOAK_SECONDS:-600}
SOAK_WARMUP=${SOAK_WARMUP:-10}
SOAK_RATE=${SOAK_RATE:-500}
SOAK_CONNECTIONS=${SOAK_CONNECTIONS:-16}

command -v python3 >/dev/null || { echo "soak: python3 is needed for the load generator" >&2; exit 2; }

if [[ -z "${SOAK_BIN:-}" ]]; then
  ${CARGO:-cargo} build --release --bin imagestream-webhook
  SOAK_BIN="${CARGO_TARGET_DIR:-target}/release/imagestream-webhook"
fi
[[ -x "$SOAK_BIN" ]] || { echo "soak: $SOAK_BIN is not an executable" >&2; exit 2; }

WORK=$(mktemp -d "${TMPDIR:-/tmp}/imagestream-soak.XXXXXX")
SERVER_PID=""
cleanup() {
  if [[ -n "$SERVER_PID" ]] && kill -0 "$SERVER_PID" 2>/dev/null; then
    kill -TERM "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
  fi
  if [[ "${KEEP:-0}" == 1 ]]; then
    echo "soak: kept $WORK"
  else
    rm -rf "$WORK"
  fi
}
trap cleanup EXIT

mkdir -p "$WORK/streams" "$WORK/certs"
cp manifests/examples/*.yaml "$WORK/streams/"
"$SOAK_BIN" certs --service imagestream-webhook --namespace imagestream-system \
  --san localhost --san 127.0.0.1 --out "$WORK/certs" >/dev/null

RUST_LOG=${RUST_LOG:-info} "$SOAK_BIN" serve --streams-dir "$WORK/streams" --no-import \
  --listen 127.0.0.1:0 --admin-listen 127.0.0.1:0 \
  --tls-cert "$WORK/certs/tls.crt" --tls-key "$WORK/certs/tls.key" \
  --audit-log "$WORK/audit.log" 2>"$WORK/server.log" &
SERVER_PID=$!

# The ports the kernel picked, from the start-up log.
addr_of() { sed -n "s/.*$1.*addr=\([0-9.:]*\).*/\1/p" "$WORK/server.log" | head -n1; }
HTTPS="" ADMIN=""
for _ in $(seq 100); do
  HTTPS=$(addr_of "serving https") ADMIN=$(addr_of "serving http ")
  [[ -n "$HTTPS" && -n "$ADMIN" ]] && break
  kill -0 "$SERVER_PID" 2>/dev/null || { cat "$WORK/server.log" >&2; echo "soak: the server did not start" >&2; exit 1; }
  sleep 0.1
done
[[ -n "$HTTPS" && -n "$ADMIN" ]] || { cat "$WORK/server.log" >&2; echo "soak: no listen addresses in the log" >&2; exit 1; }
for _ in $(seq 100); do
  [[ "$(curl -s -o /dev/null -w '%{http_code}' "http://$ADMIN/readyz")" == 200 ]] && break
  sleep 0.1
done

rss_kib() { awk '/^VmRSS:/ {print $2}' "/proc/$SERVER_PID/status"; }

cat >"$WORK/load.py" <<'PY'
"""Fixed-rate AdmissionReview load over keep-alive TLS connections."""
import http.client, itertools, json, os, ssl, sys, threading, time

host, port = sys.argv[1].rsplit(":", 1)
ca, rate, seconds, conns = sys.argv[2], float(sys.argv[3]), float(sys.argv[4]), int(sys.argv[5])
HOST = "image-registry.openshift-image-registry.svc:5000"
MARSVIEW = "registry.marsrover.space/engine/marsview@sha256:96eb1912832ca200ad10328de66a50ffff61d79b9baa9b07f102133ddcb5c7af"

def review(uid, ns, image):
    return {"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": {
        "uid": uid, "kind": {"group": "", "version": "v1", "kind": "Pod"},
        "resource": {"group": "", "version": "v1", "resource": "pods"},
        "name": "p", "namespace": ns, "operation": "CREATE",
        "userInfo": {"username": "soak", "groups": ["system:authenticated"]},
        "object": {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "namespace": ns},
                   "spec": {"containers": [{"name": "main", "image": image}]}},
        "oldObject": None, "dryRun": False}}

# (path, body, check of the decoded response)
CASES = [
    ("/mutate", review("soak-mutate", "toms-project", "marsview:latest"),
     lambda r: r["allowed"] is True and "patch" in r),
    ("/validate", review("soak-validate", "toms-project", MARSVIEW),
     lambda r: r["allowed"] is True and "patch" not in r),
    ("/mutate", review("soak-deny", "other", HOST + "/shared-images/base:9.4"),
     lambda r: r["allowed"] is False and r["status"]["code"] == 403),
]
CASES = [(p, json.dumps(b).encode(), b["request"]["uid"], c) for p, b, c in CASES]

ctx = ssl.create_default_context(cafile=ca)
total = int(rate * seconds)
slots = itertools.count()
start = time.monotonic() + 0.2
lock = threading.Lock()
stats = {"ok": 0, "errors": 0, "wrong": 0, "late": 0}
latencies = []
samples = []

def connect():
    return http.client.HTTPSConnection(host, int(port), context=ctx, timeout=10)

def worker():
    conn = connect()
    ok = errors = wrong = late = 0
    lat = []
    while True:
        i = next(slots)
        if i >= total:
            break
        due = start + i / rate
        now = time.monotonic()
        if now < due:
            time.sleep(due - now)
        elif now - due > 0.1:
            late += 1
        path, body, uid, check = CASES[i % len(CASES)]
        t = time.monotonic()
        try:
            conn.request("POST", path, body, {"Content-Type": "application/json"})
            rsp = conn.getresponse()
            data = rsp.read()
            lat.append(time.monotonic() - t)
            if not 200 <= rsp.status < 300:
                errors += 1
                if len(samples) < 5:
                    samples.append(f"HTTP {rsp.status}: {data[:200]!r}")
                continue
            r = json.loads(data)["response"]
            if r.get("uid") == uid and check(r):
                ok += 1
            else:
                wrong += 1
                if len(samples) < 5:
                    samples.append(f"wrong answer to {path} {uid}: {data[:300]!r}")
        except Exception as e:  # transport error: count it, reconnect
            errors += 1
            if len(samples) < 5:
                samples.append(f"{type(e).__name__}: {e}")
            conn.close()
            conn = connect()
    conn.close()
    with lock:
        stats["ok"] += ok; stats["errors"] += errors; stats["wrong"] += wrong; stats["late"] += late
        latencies.extend(lat)

threads = [threading.Thread(target=worker) for _ in range(conns)]
for t in threads: t.start()
for t in threads: t.join()
elapsed = time.monotonic() - start
latencies.sort()
pct = lambda p: latencies[min(len(latencies) - 1, int(p * len(latencies)))] * 1000 if latencies else 0
print(json.dumps({**stats, "requests": total, "seconds": round(elapsed, 1),
                  "rate": round(total / elapsed, 1) if elapsed > 0 else 0,
                  "p50_ms": round(pct(0.50), 2), "p99_ms": round(pct(0.99), 2),
                  "max_ms": round(latencies[-1] * 1000, 2) if latencies else 0,
                  "samples": samples}))
PY

load() { python3 "$WORK/load.py" "$HTTPS" "$WORK/certs/ca.crt" "$SOAK_RATE" "$1" "$SOAK_CONNECTIONS"; }
field() { python3 -c 'import json,sys; print(json.loads(sys.argv[1])[sys.argv[2]])' "$1" "$2"; }

echo "soak: server pid $SERVER_PID on https://$HTTPS (admin http://$ADMIN); $SOAK_RATE requests/s over $SOAK_CONNECTIONS connections"
echo "soak: warm-up ${SOAK_WARMUP}s"
WARM=$(load "$SOAK_WARMUP")
echo "soak: warm-up result $WARM"
RSS_START=$(rss_kib)
echo "soak: resident memory after warm-up: ${RSS_START} KiB"

# Memory every 10 s while the load runs, for the record.
( while kill -0 "$SERVER_PID" 2>/dev/null; do
    sleep 10
    echo "$(date +%s) $(awk '/^VmRSS:/ {print $2}' "/proc/$SERVER_PID/status" 2>/dev/null)" >>"$WORK/rss.log"
  done ) &
SAMPLER=$!

echo "soak: ${SOAK_SECONDS}s at ${SOAK_RATE}/s"
RESULT=$(load "$SOAK_SECONDS")
kill "$SAMPLER" 2>/dev/null || true
wait "$SAMPLER" 2>/dev/null || true

ALIVE=1
kill -0 "$SERVER_PID" 2>/dev/null || ALIVE=0
RSS_END=$([[ $ALIVE == 1 ]] && rss_kib || echo 0)
RSS_MAX=$(awk -v m="$RSS_END" '$2 > m {m = $2} END {print m}' "$WORK/rss.log" 2>/dev/null || echo "$RSS_END")
METRICS=$(curl -s "http://$ADMIN/metrics" || true)
DROPPED=$(awk '/^imagestream_webhook_audit_records_dropped_total/ {print $2}' <<<"$METRICS")
sleep 1 # the audit writer drains its queue
AUDITED=$(wc -l <"$WORK/audit.log")

ERRORS=$(field "$RESULT" errors)
WRONG=$(field "$RESULT" wrong)
echo "soak: result $RESULT"
echo "soak: errors (non-2xx or transport): $ERRORS"
echo "soak: wrong answers: $WRONG"
echo "soak: audit records written: $AUDITED, dropped: ${DROPPED:-?}"
echo "soak: resident memory: start ${RSS_START} KiB, end ${RSS_END} KiB, max seen ${RSS_MAX} KiB"

STATUS=0
if [[ $ALIVE != 1 ]]; then
  echo "soak: FAIL: the server died" >&2
  tail -n 20 "$WORK/server.log" >&2
  STATUS=1
fi
if [[ "$ERRORS" != 0 || "$WRONG" != 0 ]]; then
  echo "soak: FAIL: $ERRORS errors, $WRONG wrong answers" >&2
  STATUS=1
fi
if [[ $ALIVE == 1 ]] && (( RSS_END * 10 >= RSS_START * 11 )); then
  echo "soak: FAIL: resident memory grew by 10% or more (${RSS_START} -> ${RSS_END} KiB)" >&2
  STATUS=1
fi
if [[ $STATUS == 0 ]]; then
  GROWTH=$(awk -v a="$RSS_START" -v b="$RSS_END" 'BEGIN {printf "%+.1f", (b - a) * 100 / a}')
  echo "soak: PASS (memory ${GROWTH}%)"
fi
exit $STATUS
