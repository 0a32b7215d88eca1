#!/usr/bin/env bash
# The import-at-scale step of `make bench` (issue 18), also runnable alone:
#
#   hack/bench-import.sh BIN N [N...]
#
# For each N: N new tags, one per stream, in 20 namespace files (ns00.yaml
# ... ns19.yaml, each with a header comment and a comment per stream), all
# following one image on Debian's docker-registry on 127.0.0.1. `serve`
# starts with the importer on, and three figures are taken:
#   import_s                 from serve's start until every tag has a status
#                            item in its file
#   import_requests_per_tag  manifest requests in the registry's log during
#                            the import, divided by N (its `GET /v2/` version
#                            checks are counted apart, as all_requests_per_tag)
#   import_rss_mib           serve's peak RSS (VmHWM) at the end
# With BENCH_IMPORT_ADMISSION_RATE=R (and oha), admission is measured too:
# 100 more streams and a 10-container review (examples/genstreams, next to
# BIN), POSTed to /mutate at R requests/s for BENCH_IMPORT_ADMISSION_SECONDS
# [10] from the moment serve is ready (while the import runs), then again
# once every tag is imported: admission_p99_us_import and _idle.
# Each run prints `bench: import n=N import_s=... import_requests_per_tag=...
# import_rss_mib=...`; the last lines of BENCH_IMPORT_OUT (if set) get the
# same fields with `_N` suffixes for bench.sh's summary line.
#
# Needs docker-registry, skopeo, python3, curl, timeout. Everything listens on
# 127.0.0.1, every wait is bounded, and the processes started are stopped on
# exit.
set -euo pipefail

BIN=${1:?usage: bench-import.sh BIN N [N...]}
shift
[[ $# -gt 0 ]] || set -- 2000
FILES=20
BOUND_S=${BENCH_IMPORT_BOUND_SECONDS:-300}

for tool in docker-registry skopeo python3 curl timeout; do
    command -v "$tool" >/dev/null || { echo "bench-import: $tool is needed" >&2; exit 1; }
done

WORK=$(mktemp -d "${TMPDIR:-/tmp}/imagestream-bench-import.XXXXXX")
PIDS=()
cleanup() {
    local pid
    for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
    for pid in "${PIDS[@]}"; do
        for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    [[ ${BENCH_KEEP:-0} == 1 ]] && echo "==> kept $WORK" >&2 || rm -rf "$WORK"
}
trap cleanup EXIT

free_ports() {
    python3 - "$1" <<'EOF'
import socket, sys
socks = [socket.socket() for _ in range(int(sys.argv[1]))]
for s in socks:
    s.bind(("127.0.0.1", 0))
print(*(s.getsockname()[1] for s in socks))
EOF
}

# Requests the registry answered so far: all of them, and manifest requests.
requests() { grep -c 'msg="response completed' "$WORK/registry.log" || true; }
manifests() { grep 'msg="response completed' "$WORK/registry.log" | grep -c '/v2/bench/app/manifests/' || true; }

# ------------------------------------------------------------ the registry
read -r REG_PORT < <(free_ports 1)
REG=127.0.0.1:$REG_PORT
mkdir -p "$WORK/storage"
cat >"$WORK/registry.yml" <<EOF
version: 0.1
log:
  level: info
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: $WORK/storage
http:
  addr: $REG
  secret: imagestream-webhook-bench
EOF
docker-registry serve "$WORK/registry.yml" >"$WORK/registry.log" 2>&1 &
PIDS+=("$!")
for _ in $(seq 100); do
    [[ $(curl -s -o /dev/null -w '%{http_code}' --max-time 1 "http://$REG/v2/" || true) == 200 ]] && break
    sleep 0.1
done

# One small image as an OCI layout, pushed with skopeo.
python3 - "$WORK/layout" <<'EOF'
import gzip, hashlib, io, json, os, sys, tarfile
root = sys.argv[1]
os.makedirs(f"{root}/blobs/sha256")
def blob(data):
    d = hashlib.sha256(data).hexdigest()
    open(f"{root}/blobs/sha256/{d}", "wb").write(data)
    return {"digest": f"sha256:{d}", "size": len(data)}
raw = io.BytesIO()
with tarfile.open(fileobj=raw, mode="w") as t:
    body = b"imagestream-webhook bench\n"
    info = tarfile.TarInfo("hello.txt"); info.size = len(body)
    t.addfile(info, io.BytesIO(body))
layer = blob(gzip.compress(raw.getvalue(), mtime=0))
config = blob(json.dumps({"architecture": "amd64", "os": "linux",
    "rootfs": {"type": "layers", "diff_ids": ["sha256:" + hashlib.sha256(raw.getvalue()).hexdigest()]}}).encode())
manifest = blob(json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
    "config": {"mediaType": "application/vnd.oci.image.config.v1+json", **config},
    "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", **layer}]}).encode())
json.dump({"schemaVersion": 2, "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json",
    **manifest, "annotations": {"org.opencontainers.image.ref.name": "1"}}]}, open(f"{root}/index.json", "w"))
open(f"{root}/oci-layout", "w").write('{"imageLayoutVersion": "1.0.0"}')
EOF
timeout 60 skopeo --insecure-policy copy --quiet --dest-tls-verify=false --dest-no-creds \
    "oci:$WORK/layout:1" "docker://$REG/bench/app:1"

timeout 60 "$BIN" certs --san 127.0.0.1 --out "$WORK/certs" >/dev/null

# ------------------------------------------------------------ each N
for N in "$@"; do
    rm -rf "$WORK/streams"
    mkdir -p "$WORK/streams"
    python3 - "$WORK/streams" "$N" "$FILES" "$REG" <<'EOF'
import sys
out, n, files, reg = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
for f in range(files):
    ns = f"ns{f:02d}"
    docs = [f"# Streams of namespace {ns}, as `oc get is -n {ns} -o yaml` would export them.\n"]
    for i in range(f, n, files):
        docs.append(
            f"---\n# stream {i}\napiVersion: image.openshift.io/v1\nkind: ImageStream\n"
            f"metadata:\n  name: s{i}\n  namespace: {ns}\nspec:\n  tags:\n"
            f"  - name: \"1\"\n    from:\n      kind: DockerImage\n      name: {reg}/bench/app:1\n"
            f"    importPolicy:\n      insecure: true\n")
    open(f"{out}/{ns}.yaml", "w").write("".join(docs))
EOF
    RATE=${BENCH_IMPORT_ADMISSION_RATE:-0}
    ADM_S=${BENCH_IMPORT_ADMISSION_SECONDS:-10}
    if [[ $RATE != 0 ]]; then
        timeout 120 "$(dirname "$BIN")/examples/genstreams" --out "$WORK/streams" --streams 100 \
            --namespaces 2 --review "$WORK/review.json" --expect "$WORK/expect.json" >/dev/null
        OHA=$(command -v oha || echo "${CARGO_HOME:-$HOME/.cargo}/bin/oha")
    fi
    # admission NAME: RATE reviews/s for ADM_S seconds; prints the p99 in us.
    admission() {
        timeout $((ADM_S + 60)) "$OHA" --no-tui --output-format json --insecure -m POST \
            -H 'Content-Type: application/json' -D "$WORK/review.json" -c 16 -q "$RATE" \
            -z "${ADM_S}s" "https://127.0.0.1:$WH_PORT/mutate" >"$WORK/$1.json"
        python3 -c "import json,sys; r=json.load(open(sys.argv[1])); print(f\"{r['latencyPercentiles']['p99'] * 1e6:.0f}\")" "$WORK/$1.json"
    }
    before=$(manifests)
    before_all=$(requests)
    read -r WH_PORT ADMIN_PORT < <(free_ports 2)
    start_ns=$(date +%s%N)
    "$BIN" serve --streams-dir "$WORK/streams" \
        --listen "127.0.0.1:$WH_PORT" --admin-listen "127.0.0.1:$ADMIN_PORT" \
        --tls-cert "$WORK/certs/tls.crt" --tls-key "$WORK/certs/tls.key" \
        --audit-log "$WORK/audit-$N.log" >"$WORK/serve-$N.log" 2>&1 &
    SERVE=$!
    PIDS+=("$SERVE")
    done_ns=
    hwm=0
    adm_import=
    if [[ $RATE != 0 ]]; then
        for _ in $(seq 600); do
            [[ $(curl -s -o /dev/null -w '%{http_code}' --max-time 1 "http://127.0.0.1:$ADMIN_PORT/readyz" || true) == 200 ]] && break
            sleep 0.05
        done
        admission "adm-import-$N" >"$WORK/adm-import-$N.txt" &
        ADM_PID=$!
    fi
    for _ in $(seq $((BOUND_S * 10))); do
        kill -0 "$SERVE" 2>/dev/null || { tail -n 20 "$WORK/serve-$N.log" >&2; echo "bench-import: serve exited" >&2; exit 1; }
        hwm=$(awk '/^VmHWM:/ {print $2}' "/proc/$SERVE/status" 2>/dev/null || echo "$hwm")
        imported=$(cat "$WORK"/streams/*.yaml | grep -c "dockerImageReference: $REG/bench/app@" || true)
        if [[ $imported -ge $N ]]; then
            done_ns=$(date +%s%N)
            break
        fi
        sleep 0.1
    done
    # Requests that arrive after the last status (a retry) still count.
    sleep 1
    adm_fields=
    if [[ $RATE != 0 ]]; then
        wait "$ADM_PID" || true
        adm_import=$(cat "$WORK/adm-import-$N.txt")
        adm_idle=$(admission "adm-idle-$N")
        adm_fields=" admission_p99_us_import_$N=$adm_import admission_p99_us_idle_$N=$adm_idle"
        echo "==> admission at $RATE/s: p99 ${adm_import} us while importing, ${adm_idle} us once imported"
    fi
    hwm=$(awk '/^VmHWM:/ {print $2}' "/proc/$SERVE/status" 2>/dev/null || echo "$hwm")
    after=$(manifests)
    after_all=$(requests)
    kill -TERM "$SERVE" 2>/dev/null || true
    wait "$SERVE" 2>/dev/null || true
    python3 - "$WORK/streams" "$N" <<'EOF'
import glob, sys
# Every file still parses as YAML with its comments (checked by line: the
# header and one comment per stream).
n = int(sys.argv[2])
comments = sum(open(p).read().count("\n# stream ") for p in glob.glob(f"{sys.argv[1]}/*.yaml"))
assert comments == n, f"{comments} of {n} stream comments left"
EOF
    if [[ -z $done_ns ]]; then
        echo "bench-import: n=$N: only $imported of $N tags imported within ${BOUND_S} s" >&2
        import_s=timeout
    else
        import_s=$(python3 -c "print(f'{($done_ns - $start_ns) / 1e9:.1f}')")
    fi
    per_tag=$(python3 -c "print(f'{($after - $before) / $N:.2f}')")
    all_per_tag=$(python3 -c "print(f'{($after_all - $before_all) / $N:.2f}')")
    rss=$((hwm / 1024))
    echo "==> import n=$N: $imported tags imported, $((after - before)) manifest requests" \
        "($((after_all - before_all)) requests in all: all_requests_per_tag=$all_per_tag)," \
        "$(grep -c 'changed while it was being updated' "$WORK/serve-$N.log" || true) file conflicts logged"
    echo "bench: import n=$N import_s=$import_s import_requests_per_tag=$per_tag import_rss_mib=$rss"
    if [[ -n ${BENCH_IMPORT_OUT:-} ]]; then
        echo "import_s_$N=$import_s import_requests_per_tag_$N=$per_tag import_rss_mib_$N=$rss$adm_fields" >>"$BENCH_IMPORT_OUT"
    fi
done
