#!/usr/bin/env bash
# End-to-end: the operator log of the real trainyard-server binary. Bad
# --log-format / --log-level exit 2 naming the flag; then a server with
# --log-format json trains a tiny job and a diverging one through the real
# CLI, refuses a call, and stops on SIGTERM; python3 checks that every line
# on its stderr is one JSON object with ts (RFC 3339 UTC, ms), level and
# event, and that the expected events are there with their fields.
#
#   tests/e2e/logs_e2e.sh path/to/trainyard-server path/to/trainyard
set -euo pipefail

SERVER_BIN=${1:?usage: $0 SERVER_BIN CLI_BIN}
CLI_BIN=${2:?usage: $0 SERVER_BIN CLI_BIN}
PYTHON=/usr/bin/python3
WORK=$(mktemp -d "${TMPDIR:-/tmp}/trainyard-e2e-logs.XXXXXX")
SERVER_PID=""
cleanup() {
  [ -n "$SERVER_PID" ] && kill -KILL "$SERVER_PID" 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

fail() {
  echo "FAIL: $*" >&2
  for f in server.log cli.err; do
    [ -f "$WORK/$f" ] && { echo "--- $f (tail) ---" >&2; tail -n 30 "$WORK/$f" >&2; }
  done
  exit 1
}
pass() { echo "ok: $*"; }

free_port() {
  "$PYTHON" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# --- bad flag values: exit 2 naming the flag --------------------------------
for bad in "--log-format=xml" "--log-level=loud" "--slow-call-ms=-5"; do
  flag=${bad%%=*}
  rc=0
  # shellcheck disable=SC2086
  "$SERVER_BIN" --listen "127.0.0.1:$(free_port)" --data-dir "$WORK/bad" $bad \
      >"$WORK/bad.out" 2>"$WORK/bad.err" || rc=$?
  [ "$rc" = 2 ] || fail "$bad: exit $rc, expected 2"
  grep -q -- "$flag" "$WORK/bad.err" || fail "$bad: stderr does not name $flag: $(cat "$WORK/bad.err")"
  pass "$bad exits 2 naming $flag"
done

# --- a json-logging server ---------------------------------------------------
ADDR="127.0.0.1:$(free_port)"
"$SERVER_BIN" --listen "$ADDR" --data-dir "$WORK/data" --workers 1 --log-format json \
    --shutdown-grace-seconds 10 >"$WORK/server.out" 2>"$WORK/server.log" &
SERVER_PID=$!
for _ in $(seq 1 300); do
  grep -q '"server_listening"' "$WORK/server.log" && break
  kill -0 "$SERVER_PID" 2>/dev/null || fail "server exited at start-up"
  sleep 0.1
done
grep -q '"server_listening"' "$WORK/server.log" || fail "server did not start"
export TRAINYARD_ADDR="$ADDR"
ty() { "$CLI_BIN" "$@"; }

"$PYTHON" - "$WORK/points.csv" <<'PY'
import random, sys
rng = random.Random(3)
with open(sys.argv[1], "w") as f:
    f.write("x,y,label\n")
    for i in range(80):
        c = i % 2
        f.write(f"{rng.gauss(2*c-1, 0.5):.4f},{rng.gauss(2*c-1, 0.5):.4f},{c}\n")
PY
cat >"$WORK/model.json" <<'JSON'
{"input_dim": 2, "layers": [{"dense": {"units": 8}}, {"activation": {"kind": "TANH"}},
                            {"dense": {"units": 2}}]}
JSON
cat >"$WORK/training.json" <<'JSON'
{"loss": {"kind": "SOFTMAX_CROSS_ENTROPY"}, "optimizer": {"adam": {}, "learning_rate": 0.05},
 "batch_size": 16, "epochs": 3, "seed": 1, "checkpoint_every_epochs": 1}
JSON
cat >"$WORK/relu.json" <<'JSON'
{"input_dim": 2, "layers": [{"dense": {"units": 32}}, {"activation": {"kind": "RELU"}},
                            {"dense": {"units": 2}}]}
JSON
# Unbounded ReLU activations and a huge SGD step: the loss overflows.
cat >"$WORK/diverge.json" <<'JSON'
{"loss": {"kind": "SOFTMAX_CROSS_ENTROPY"}, "optimizer": {"sgd": {}, "learning_rate": 1e30},
 "batch_size": 16, "epochs": 50, "seed": 1}
JSON

DS=$(ty datasets upload "$WORK/points.csv" --name points --header --label-column label 2>"$WORK/cli.err") \
  || fail "upload failed"
pass "upload -> $DS"
ty jobs submit --model "$WORK/model.json" --training "$WORK/training.json" --dataset "$DS" \
    --name tiny --wait --output json >"$WORK/job.json" 2>"$WORK/cli.err" || fail "submit --wait"
JOB=$("$PYTHON" -c 'import json,sys; j=json.load(open(sys.argv[1])); assert j["state"]=="SUCCEEDED", j["state"]; print(j["id"])' "$WORK/job.json") \
  || fail "job did not succeed: $(cat "$WORK/job.json")"
pass "tiny job $JOB SUCCEEDED"
ty jobs submit --model "$WORK/relu.json" --training "$WORK/diverge.json" --dataset "$DS" \
    --name diverge --wait --output json >"$WORK/nan.json" 2>"$WORK/cli.err" || true
NAN_JOB=$("$PYTHON" -c 'import json,sys; j=json.load(open(sys.argv[1])); assert j["state"]=="FAILED", j["state"]; print(j["id"])' "$WORK/nan.json") \
  || fail "diverging job did not fail: $(cat "$WORK/nan.json")"
pass "diverging job $NAN_JOB FAILED"
rc=0
# A well-formed id of no job: the CLI asks GetJob, which refuses it (a
# malformed one would be resolved as a prefix or name on the client).
ty jobs show job-0123456789abcdef >/dev/null 2>"$WORK/cli.err" || rc=$?
[ "$rc" = 3 ] || fail "jobs show of an unknown id exited $rc: $(cat "$WORK/cli.err")"

kill -TERM "$SERVER_PID"
rc=0
wait "$SERVER_PID" || rc=$?
SERVER_PID=""
[ "$rc" = 0 ] || fail "server exited $rc on SIGTERM"
pass "server stopped on SIGTERM"

"$PYTHON" - "$WORK/server.log" "$JOB" "$NAN_JOB" "$DS" "$ADDR" <<'PY' || fail "log check"
import json, re, sys
path, job, nan_job, ds, addr = sys.argv[1:]
ts_re = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
lines = open(path, "rb").read().decode("utf-8").splitlines()
assert lines, "empty log"
events = []
for n, line in enumerate(lines, 1):
    try:
        e = json.loads(line)
    except ValueError as err:
        raise SystemExit(f"line {n} is not JSON ({err}): {line!r}")
    assert isinstance(e, dict), f"line {n} is not an object: {line!r}"
    assert ts_re.match(e.get("ts", "")), f"line {n}: bad ts: {line!r}"
    assert e.get("level") in ("debug", "info", "warn", "error"), f"line {n}: level: {line!r}"
    assert e.get("event"), f"line {n}: no event: {line!r}"
    events.append(e)

def one(name, **want):
    found = [e for e in events if e["event"] == name and all(e.get(k) == v for k, v in want.items())]
    assert found, f"no {name} with {want}; events: {[e['event'] for e in events]}"
    return found[0]

start = one("server_start", workers=1, auth="off", tls="off", log_format="json")
for key in ("listen", "data_dir", "cores", "default_threads", "max_dataset_bytes", "max_job_memory"):
    assert key in start, f"server_start lacks {key}: {start}"
one("recovery_done", requeued=0, quarantined=0)
one("server_listening", address=addr)
one("dataset_created", dataset=ds, rows=80)
one("job_submitted", job=job, dataset=ds, threads=1)
one("job_started", job=job, worker=0, resumed=False)
final = one("checkpoint_saved", job=job, kind="FINAL", epoch=3)
assert final["bytes"] > 0 and len(final["checkpoint"]) == 64, final
one("job_finished", job=job, state="SUCCEEDED")
failed = one("job_finished", job=nan_job, state="FAILED", level="warn")
assert "became" in failed["error"] and failed["code"] == "FAILED_PRECONDITION", failed
one("rpc_refused", method="/trainyard.v1.TrainingService/GetJob", code="NOT_FOUND")
one("signal_received", signal=15)
one("shutdown_begin")
one("shutdown_end")
assert events[-1]["event"] == "server_stopped", events[-1]
names = [e["event"] for e in events]
assert names.index("server_start") < names.index("server_listening") < names.index("shutdown_begin")
steps = sum(1 for e in events if e.get("job") == job)
assert steps <= 8, f"{steps} lines for a 15-step job: logging per step?"
print(f"{len(events)} json lines, {len(set(names))} distinct events")
PY
pass "every stderr line is JSON; the expected events are there"
echo "PASS"
