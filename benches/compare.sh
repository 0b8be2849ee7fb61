#!/usr/bin/env bash
# Compares harbor-server with CNCF distribution (Debian's docker-registry) on
# loopback: every scenario of `oci-bench` against both, alternately, for
# ROUNDS rounds, then a table of medians (min–max), ours/theirs ratios and
# the project's targets. See BENCHMARKS.md.
#
#   bash benches/compare.sh                 # defaults: 5 rounds, < 10 minutes on 2 cores
#   ROUNDS=1 SCENARIOS="push-mono pull" bash benches/compare.sh
#   HEAVY=1 bash benches/compare.sh         # also the peak-RSS runs (8 x 1 GiB pushes, 32 x 1 GiB pulls)
#   BACKEND=s3 bash benches/compare.sh      # ours on PostgreSQL + S3 (moto), distribution on
#                                           # its s3 driver against the same moto server
#
# harbor-server runs as deployed (auth mode `token`: every request carries a
# token from /service/token); distribution runs without auth, as it ships.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/harbor-rs/target}
ROUNDS=${ROUNDS:-5}
SCENARIOS=${SCENARIOS:-"push-mono push-chunked pull manifest token spread tags"}
PUSH_COUNT=${PUSH_COUNT:-16}      # blobs per push round
PUSH_SIZE=${PUSH_SIZE:-32MiB}     # bytes per blob
PUSH_C=${PUSH_C:-4}               # concurrent uploads
CHUNK=${CHUNK:-8MiB}              # bytes per PATCH (push-chunked)
PULL_C=${PULL_C:-4}               # concurrent downloads
MANIFEST_C=${MANIFEST_C:-32}      # manifest HEAD/GET clients
TOKEN_C=${TOKEN_C:-8}             # token service clients
SPREAD_C=${SPREAD_C:-8}           # clients (and projects) of the concentrated/spread pulls
TAGS=${TAGS:-10000}               # tags of the listing scenario
TAGS_C=${TAGS_C:-8}               # concurrent tag PUTs while setting it up
PAGE=${PAGE:-1000}                # n= of tag listings
TAGS_ROUNDS=${TAGS_ROUNDS:-1}     # rounds that run `tags` (its set-up is slow on distribution)
DURATION=${DURATION:-4}           # seconds per storm
TCP_SIZE=${TCP_SIZE:-2GiB}        # bytes through loopback TCP (PULL_C connections) per round
STARTUP_RUNS=${STARTUP_RUNS:-3}   # starts per server per round
HEAVY=${HEAVY:-0}                 # 1: the peak-RSS runs, once, after the rounds
HEAVY_RUNS=${HEAVY_RUNS:-"push pull"} # which of them
HEAVY_SIZE=${HEAVY_SIZE:-1GiB}    # bytes per upload of the heavy push
HEAVY_SERVERS=${HEAVY_SERVERS:-"ours theirs"} # which servers the heavy runs measure
GC_BESIDE=${GC_BESIDE:-0}         # N > 0: ours pushes alone, then beside a collection of N unreferenced blobs
GC_WORKERS=${GC_WORKERS:-1}       # that collection's workers (Harbor's default: 1)
DISTRIBUTION=${DISTRIBUTION:-/usr/bin/docker-registry}
BACKEND=${BACKEND:-fs}            # fs: data directories; s3: PostgreSQL + moto S3
MOTO=${HARBOR_MOTO_SERVER:-$HOME/.cache/harbor-rs/venv/bin/moto_server}
PASSWORD=${HARBOR_BENCH_PASSWORD:-Bench-Passw0rd-1}

WORK=$(mktemp -d /tmp/harbor-compare.XXXXXX)
RESULTS=${RESULTS:-$WORK/results.txt}
LOGS=$WORK/logs
mkdir -p "$LOGS"
: >"$RESULTS"

PIDS=()
cleanup() {
    local pid
    for pid in "${PIDS[@]}"; do
        kill -TERM "$pid" 2>/dev/null || true
    done
    for pid in "${PIDS[@]}"; do
        wait "$pid" 2>/dev/null || true
    done
    rm -rf "$WORK/data" "$WORK/pg"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

log() { printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

COMMIT=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)
git -C "$ROOT" diff --quiet HEAD -- harbor-core harbor-storage harbor-auth harbor-replicate harbor-server 2>/dev/null || COMMIT="$COMMIT + uncommitted changes in the crates"
echo "== building (release)" >&2
(cd "$ROOT" && cargo build --release -p harbor-server -p harbor-benches)
BIN=$CARGO_TARGET_DIR/release
[ -x "$DISTRIBUTION" ] || { echo "no $DISTRIBUTION (apt-get install docker-registry)" >&2; exit 1; }

OURS_PORT=$(free_port)
THEIRS_PORT=$(free_port)
OURS_URL=http://127.0.0.1:$OURS_PORT
THEIRS_URL=http://127.0.0.1:$THEIRS_PORT

ours_cmd() { # data dir
    echo "$BIN/harbor-server" serve --listen "127.0.0.1:$OURS_PORT" --data-dir "$1"
}
theirs_storage() { # data dir -> the storage driver's lines
    if [ "$BACKEND" = s3 ]; then
        # Redirects off: both servers relay blob bytes (ours does by default).
        cat <<YAML
  s3:
    region: us-east-1
    regionendpoint: $MOTO_URL
    bucket: $(bucket theirs)
    accesskey: testing
    secretkey: testing
    secure: false
    v4auth: true
    chunksize: 5242880
  redirect:
    disable: true
YAML
    else
        cat <<YAML
  filesystem:
    rootdirectory: $1/storage
YAML
    fi
}
theirs_config() { # data dir -> config path
    cat >"$1/config.yml" <<YAML
version: 0.1
log:
  level: info
storage:
$(theirs_storage "$1")
  cache:
    blobdescriptor: inmemory
  delete:
    enabled: true
http:
  addr: 127.0.0.1:$THEIRS_PORT
YAML
    echo "$1/config.yml"
}

wait_ready() { # url pid
    local i
    for i in $(seq 1 1000); do
        if curl -s -o /dev/null "$1/v2/"; then return 0; fi
        kill -0 "$2" 2>/dev/null || { echo "server $2 exited; see $LOGS" >&2; exit 1; }
        sleep 0.01
    done
    echo "$1 never answered" >&2
    exit 1
}

# The S3 mode's servers: one throwaway PostgreSQL cluster (as Debian's
# postgres user when run as root) and one moto, for the whole run; each round
# gets a fresh database and fresh buckets.
OURS_ENV=()
GENERATION=0
bucket() { echo "bench-$1-$GENERATION"; }
fresh_backend() { # a new database and buckets for the next servers
    [ "$BACKEND" = s3 ] || return 0
    GENERATION=$((GENERATION + 1))
    "$PGBIN/psql" -q -h 127.0.0.1 -p "$PG_PORT" -U harbor -d postgres -c "CREATE DATABASE bench_$GENERATION" >/dev/null
    curl -sf -X PUT "$MOTO_URL/$(bucket ours)" >/dev/null
    curl -sf -X PUT "$MOTO_URL/$(bucket theirs)" >/dev/null
    OURS_ENV=(
        "HARBOR_DATABASE_URL=postgres://harbor@127.0.0.1:$PG_PORT/bench_$GENERATION"
        "HARBOR_STORAGE_S3_BUCKET=$(bucket ours)"
        "HARBOR_STORAGE_S3_ENDPOINT=$MOTO_URL"
        "HARBOR_STORAGE_S3_ALLOW_HTTP=true"
        AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing
    )
}
MOTO_PID=""
start_moto() {
    "$MOTO" -H 127.0.0.1 -p "$MOTO_PORT" >>"$LOGS/moto.log" 2>&1 &
    MOTO_PID=$!
    PIDS+=("$MOTO_PID")
    for i in $(seq 1 300); do
        curl -s -o /dev/null "$MOTO_URL" && return 0
        sleep 0.1
    done
    echo "moto never answered" >&2
    exit 1
}
# A fresh moto (its objects, spooled to disk, go with the process).
restart_moto() {
    [ "$BACKEND" = s3 ] || return 0
    stop "$MOTO_PID"
    start_moto
}
if [ "$BACKEND" = s3 ]; then
    [ -x "$MOTO" ] || { echo "no $MOTO: bash scripts/test installs moto[server]" >&2; exit 1; }
    PGBIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
    [ -n "$PGBIN" ] || { echo "no PostgreSQL: bash scripts/test installs it" >&2; exit 1; }
    chmod 755 "$WORK"
    mkdir -p "$WORK/pg"
    as_pg=()
    if [ "$(id -u)" = 0 ]; then
        chown postgres: "$WORK/pg"
        as_pg=(setpriv --reuid=postgres --regid=postgres --init-groups)
    fi
    "${as_pg[@]}" "$PGBIN/initdb" -D "$WORK/pg/data" -U harbor -A trust >/dev/null
    PG_PORT=$(free_port)
    "${as_pg[@]}" "$PGBIN/postgres" -D "$WORK/pg/data" -h 127.0.0.1 -p "$PG_PORT" -k "$WORK/pg" \
        -c max_connections=200 >>"$LOGS/postgres.log" 2>&1 &
    PIDS+=("$!")
    MOTO_PORT=$(free_port)
    MOTO_URL=http://127.0.0.1:$MOTO_PORT
    for i in $(seq 1 300); do
        "$PGBIN/pg_isready" -q -h 127.0.0.1 -p "$PG_PORT" && break
        sleep 0.1
    done
    start_moto
fi

OURS_PID=""
THEIRS_PID=""
start_ours() { # data dir
    env HARBOR_ADMIN_PASSWORD=$PASSWORD "${OURS_ENV[@]}" $(ours_cmd "$1") >>"$LOGS/ours.log" 2>&1 &
    OURS_PID=$!
    PIDS+=("$OURS_PID")
    wait_ready "$OURS_URL" "$OURS_PID"
}
start_theirs() { # data dir
    # Its AWS SDK cannot take a custom CA bundle with its own transport
    # (a panic at start); the bucket is plain HTTP anyway.
    env -u AWS_CA_BUNDLE "$DISTRIBUTION" serve "$(theirs_config "$1")" >>"$LOGS/theirs.log" 2>&1 &
    THEIRS_PID=$!
    PIDS+=("$THEIRS_PID")
    wait_ready "$THEIRS_URL" "$THEIRS_PID"
}
stop() { # pid
    kill -TERM "$1" 2>/dev/null || true
    wait "$1" 2>/dev/null || true
}

record() { # server round-label; RESULT/NOTE lines on stdin
    grep -E '^(RESULT|NOTE) ' | sed "s/^/$1 $2 /" >>"$RESULTS" || true
}

bench() { # server round scenario args...
    local server=$1 round=$2 scenario=$3
    shift 3
    local url pid
    if [ "$server" = ours ]; then url=$OURS_URL pid=$OURS_PID; else url=$THEIRS_URL pid=$THEIRS_PID; fi
    local seed=$round
    [[ $round =~ ^[0-9]+$ ]] || seed=1000
    local args=(--url "$url" --server-pid "$pid" --seed "$seed")
    # Extra arguments replace the scenario's defaults.
    [ $# -gt 0 ] || case $scenario in
        push-mono)
            args+=(--count "$PUSH_COUNT" --size "$PUSH_SIZE" -c "$PUSH_C" --state "$WORK/data/state-$server.json") ;;
        push-chunked)
            args+=(--count "$PUSH_COUNT" --size "$PUSH_SIZE" -c "$PUSH_C" --chunk "$CHUNK") ;;
        pull) args+=(--count "$PUSH_COUNT" --size "$PUSH_SIZE" -c "$PULL_C" --state "$WORK/data/state-$server.json") ;;
        manifest) args+=(-c "$MANIFEST_C" --duration "$DURATION") ;;
        token) args+=(-c "$TOKEN_C" --duration "$DURATION") ;;
        spread) args+=(-c "$SPREAD_C" --duration "$DURATION") ;;
        tags) args+=(--tags "$TAGS" -c "$TAGS_C" --page "$PAGE" --runs 5) ;;
    esac
    log "round $round: $scenario against $server"
    local user=() ok=1
    [ "$server" = ours ] && user=(env OCI_BENCH_USER=admin "OCI_BENCH_PASSWORD=$PASSWORD")
    "${user[@]}" "$BIN/oci-bench" "$scenario" "${args[@]}" "$@" 2>>"$LOGS/oci-bench.err" |
        tee -a "$LOGS/oci-bench.log" | record "$server" "$round" || ok=0
    if [ "$ok" = 0 ]; then
        log "FAILED: $scenario against $server (see $LOGS/oci-bench.err)"
        echo "$server $round NOTE scenario=$scenario FAILED: see oci-bench.err" >>"$RESULTS"
    fi
}

startup() { # server round data-dir
    local url cmd
    if [ "$1" = ours ]; then
        url=$OURS_URL
        log "round $2: startup of ours on an existing data dir"
        HARBOR_ADMIN_PASSWORD=$PASSWORD "$BIN/oci-bench" startup --url "$url" --runs "$STARTUP_RUNS" -- $(ours_cmd "$3") | record ours "$2"
    else
        url=$THEIRS_URL
        log "round $2: startup of theirs on an existing data dir"
        "$BIN/oci-bench" startup --url "$url" --runs "$STARTUP_RUNS" -- "$DISTRIBUTION" serve "$3/config.yml" | record theirs "$2"
    fi
}

SECONDS=0
LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
for round in $(seq 1 "$ROUNDS"); do
    if [ $((round % 2)) = 1 ]; then ORDER="ours theirs"; else ORDER="theirs ours"; fi
    rm -rf "$WORK/data"
    mkdir -p "$WORK/data/ours" "$WORK/data/theirs"
    fresh_backend
    log "round $round of $ROUNDS (order: $ORDER)"
    "$BIN/oci-bench" tcp -c "$PULL_C" --size "$TCP_SIZE" | record local "$round"
    "$BIN/oci-bench" sign -c "$(nproc)" --duration 1 | record local "$round"
    start_ours "$WORK/data/ours"
    start_theirs "$WORK/data/theirs"
    for scenario in $SCENARIOS; do
        if [ "$scenario" = tags ] && [ "$round" -gt "$TAGS_ROUNDS" ]; then continue; fi
        for server in $ORDER; do
            bench "$server" "$round" "$scenario"
        done
    done
    stop "$OURS_PID"
    stop "$THEIRS_PID"
    # Start-up times are the file system's story (SQLite and a directory).
    [ "$BACKEND" = s3 ] && continue
    for server in $ORDER; do
        startup "$server" "$round" "$WORK/data/$server"
    done
done

if [ "$HEAVY" = 1 ]; then
    for server in $HEAVY_SERVERS; do
        rm -rf "$WORK/data"
        mkdir -p "$WORK/data/$server"
        restart_moto
        fresh_backend
        if [ "$server" = ours ]; then start_ours "$WORK/data/ours"; else start_theirs "$WORK/data/theirs"; fi
        if [[ " $HEAVY_RUNS " == *" push "* ]]; then
            log "heavy: 8 concurrent $HEAVY_SIZE uploads to $server"
            bench "$server" heavy push-mono --count 8 --size "$HEAVY_SIZE" -c 8
        fi
        if [[ " $HEAVY_RUNS " == *" pull "* ]]; then
            log "heavy: 32 clients pulling a 1 GiB blob from $server"
            bench "$server" heavy pull --count 1 --size 1GiB --passes 32 -c 32 --no-verify
        fi
        if [ "$server" = ours ]; then stop "$OURS_PID"; else stop "$THEIRS_PID"; fi
    done
fi

if [ "$GC_BESIDE" -gt 0 ]; then
    # The same push alone and while a garbage collection of GC_BESIDE
    # unreferenced blobs (written straight into the store, linked nowhere)
    # runs on the same server.
    rm -rf "$WORK/data"
    mkdir -p "$WORK/data/ours"
    fresh_backend
    [ "$BACKEND" = fs ] || { echo "GC_BESIDE needs BACKEND=fs" >&2; exit 1; }
    log "gc beside push: writing $GC_BESIDE unreferenced blobs"
    python3 - "$WORK/data/ours" "$GC_BESIDE" <<'PY'
import hashlib, os, sys
root, n = sys.argv[1], int(sys.argv[2])
for p in range(256):
    os.makedirs(os.path.join(root, "blobs", "sha256", f"{p:02x}"), exist_ok=True)
for i in range(n):
    data = f"garbage {i}".encode()
    h = hashlib.sha256(data).hexdigest()
    with open(os.path.join(root, "blobs", "sha256", h[:2], h), "wb") as f:
        f.write(data)
PY
    sync # the writes' dirty pages must not slow the first push
    start_ours "$WORK/data/ours"
    gc_run() { # path [json body]: an API call as admin
        curl -sf -u "admin:$PASSWORD" -H 'content-type: application/json' "${@:2}" "$OURS_URL/api/v2.0$1"
    }
    gc_status() { gc_run /system/gc/1 | python3 -c 'import json,sys; print(json.load(sys.stdin)["job_status"])'; }
    push() { bench ours "$1" push-mono --count $((PUSH_COUNT * 3)) --size "$PUSH_SIZE" -c "$PUSH_C"; }
    push gc-alone-1
    gc_run /system/gc/schedule -d "{\"schedule\":{\"type\":\"Manual\"},\"parameters\":{\"workers\":$GC_WORKERS}}" -o /dev/null
    for i in $(seq 1 100); do
        [ "$(gc_status)" = Running ] && break
        sleep 0.1
    done
    push gc-beside-1
    push gc-beside-2
    status=$(gc_status)
    log "gc status when the pushes beside it ended: $status (Running: it covered them)"
    echo "ours gc-beside-2 NOTE gc_status_after_push=$status" >>"$RESULTS"
    while [ "$(gc_status)" = Running ]; do sleep 1; done
    push gc-alone-2
    grep -E ' gc-(alone|beside)-[0-9] RESULT scenario=push-mono metric=mbps ' "$RESULTS" |
        awk '{ split($6, v, "="); print "[gc beside push] " $2 ": " v[2] " MB/s" }' >&2
    stop "$OURS_PID"
fi

LOAD_AFTER=$(cut -d' ' -f1-3 /proc/loadavg)
log "done in ${SECONDS}s; raw figures in $RESULTS, logs in $LOGS"
python3 "$ROOT/benches/compare_table.py" "$RESULTS" \
    --note "harbor-rs $COMMIT; harbor-server: auth mode token (admin, Bearer tokens); distribution $("$DISTRIBUTION" --version 2>/dev/null | awk '{print $3}'): no auth" \
    --note "backend: $BACKEND$([ "$BACKEND" = s3 ] && echo ": ours on PostgreSQL $("$PGBIN/postgres" --version | awk '{print $3}') + moto $("$(dirname "$MOTO")/python" -c 'import moto; print(moto.__version__)') S3, distribution on its s3 driver (redirects off) against the same moto")" \
    --note "rounds: $ROUNDS; push $PUSH_COUNT x $PUSH_SIZE, $PUSH_C at a time (chunks $CHUNK); pull $PULL_C at a time; manifest $MANIFEST_C clients; token $TOKEN_C; spread $SPREAD_C; tags $TAGS (n=$PAGE); storms ${DURATION}s; tcp $TCP_SIZE; tags in $TAGS_ROUNDS round(s)" \
    --note "machine: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//'); load average before ${LOAD_BEFORE}, after ${LOAD_AFTER}; ${SECONDS}s"
