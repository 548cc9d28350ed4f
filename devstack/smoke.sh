#!/usr/bin/env bash
# Smoke test of the local stack: start `python -m devstack.run`, wait for `ready`, check
# /v1/health, stop it with SIGTERM, and check that nothing listens on its ports any more.
# Uses whatever `python` is first on PATH (the Makefile puts the venv first). Exit 0 = pass.
set -u
cd "$(dirname "$0")/.."

PYTHON_BIN=${PYTHON:-python}
API_PORT=${API_PORT:-8000}
PORTS=("$API_PORT" "${DYNAMODB_PORT:-8001}" "${STRIPE_EMULATOR_PORT:-8420}" "${LOCALSTRIPE_PORT:-8421}" "${WEB_PORT:-8080}")
READY_TIMEOUT=${SMOKE_READY_TIMEOUT:-120}
mkdir -p .devstack
LOG=.devstack/smoke.log

listening() {  # true if something accepts connections on 127.0.0.1:$1
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

fail() {
    echo "smoke: FAIL: $*"
    echo "smoke: --- last lines of $LOG ---"
    tail -n 40 "$LOG"
    if [ -n "${PID:-}" ] && kill -0 "$PID" 2>/dev/null; then
        kill -TERM "$PID"
        wait "$PID" 2>/dev/null
    fi
    exit 1
}

for port in "${PORTS[@]}"; do
    listening "$port" && { echo "smoke: FAIL: port $port is already in use"; exit 1; }
done

"$PYTHON_BIN" -m devstack.run >"$LOG" 2>&1 &
PID=$!

deadline=$((SECONDS + READY_TIMEOUT))
until grep -qx "ready" "$LOG"; do
    kill -0 "$PID" 2>/dev/null || fail "devstack.run exited before printing ready"
    [ "$SECONDS" -lt "$deadline" ] || fail "no 'ready' line within ${READY_TIMEOUT}s"
    sleep 1
done
echo "smoke: stack is ready"

health_url="http://127.0.0.1:${API_PORT}/v1/health"
if command -v curl >/dev/null 2>&1; then
    body=$(curl -fsS --max-time 10 "$health_url") || fail "GET $health_url did not answer 200"
else
    body=$("$PYTHON_BIN" -c "import urllib.request as u; print(u.urlopen('$health_url', timeout=10).read().decode())") \
        || fail "GET $health_url did not answer 200"
fi
echo "smoke: GET /v1/health -> $body"

kill -TERM "$PID"
stopped=0
for _ in $(seq 1 60); do
    if ! kill -0 "$PID" 2>/dev/null; then stopped=1; break; fi
    sleep 0.5
done
[ "$stopped" -eq 1 ] || fail "devstack.run still running 30s after SIGTERM"
wait "$PID"
status=$?
PID=
[ "$status" -eq 0 ] || fail "devstack.run exited with status $status after SIGTERM"

for port in "${PORTS[@]}"; do
    listening "$port" && fail "port $port still has a listener after stop"
done
echo "smoke: stopped cleanly, ports ${PORTS[*]} are free"
echo "smoke: PASS"
