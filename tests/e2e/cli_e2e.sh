#!/usr/bin/env bash
# End-to-end: the real trainyard-server binary on a free loopback port with a
# temporary data dir and an auth token, driven by the real trainyard CLI:
# health without token, wrong token, bad usage, unreachable server, upload,
# strict config parsing, a YAML config with --set overrides, submit --wait,
# watch replay, metrics export, compare and plot, checkpoint download with
# sha256 check, predict, evaluate, id prefixes, job names and JOB:latest /
# JOB:best, checkpoint retention, jobs rm / checkpoints rm with the files on
# disk, and a watch whose connection is killed (server SIGKILLed and
# restarted) that reconnects with no gap and no duplicate.
#
#   tests/e2e/cli_e2e.sh path/to/trainyard-server path/to/trainyard
set -euo pipefail

SERVER_BIN=${1:?usage: $0 SERVER_BIN CLI_BIN}
CLI_BIN=${2:?usage: $0 SERVER_BIN CLI_BIN}
PYTHON=/usr/bin/python3
WORK=$(mktemp -d "${TMPDIR:-/tmp}/trainyard-e2e-cli.XXXXXX")
SERVER_PID=""
WATCH_PID=""
cleanup() {
  for pid in $WATCH_PID $SERVER_PID; do kill -KILL "$pid" 2>/dev/null || true; done
  rm -rf "$WORK"
}
trap cleanup EXIT

fail() {
  echo "FAIL: $*" >&2
  for f in server.log cli.err watch.err; do
    [ -f "$WORK/$f" ] && { echo "--- $f (tail) ---" >&2; tail -n 30 "$WORK/$f" >&2; }
  done
  exit 1
}
pass() { echo "ok: $*"; }

free_port() {
  "$PYTHON" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

start_server() {
  : >"$WORK/server.log"
  "$SERVER_BIN" --listen "$ADDR" --data-dir "$WORK/data" --workers 1 \
      --auth-token-file "$WORK/token" --heartbeat-seconds 1 \
      --shutdown-grace-seconds 10 >>"$WORK/server.log" 2>&1 &
  SERVER_PID=$!
  for _ in $(seq 1 300); do
    grep -q "server_listening" "$WORK/server.log" && return 0
    kill -0 "$SERVER_PID" 2>/dev/null || return 1
    sleep 0.1
  done
  fail "server did not start"
}

echo "s3cret-token" >"$WORK/token"
ADDR="127.0.0.1:$(free_port)"
start_server || { ADDR="127.0.0.1:$(free_port)"; start_server || fail "server did not start"; }
export TRAINYARD_ADDR="$ADDR"
ty() { "$CLI_BIN" --token s3cret-token "$@"; }
expect_exit() {  # expect_exit CODE DESCRIPTION -- command...
  local want=$1 what=$2; shift 3
  local rc=0
  "$@" >"$WORK/cli.out" 2>"$WORK/cli.err" || rc=$?
  [ "$rc" = "$want" ] || fail "$what: exit $rc, expected $want"
  pass "$what (exit $rc)"
}

# --- errors a user meets first ---------------------------------------------
expect_exit 0 "health needs no token" -- "$CLI_BIN" health
expect_exit 3 "wrong token" -- "$CLI_BIN" --token nope datasets list
grep -q "UNAUTHENTICATED" "$WORK/cli.err" || fail "wrong token: no UNAUTHENTICATED in: $(cat "$WORK/cli.err")"
expect_exit 3 "missing token" -- "$CLI_BIN" datasets list
expect_exit 2 "bad usage" -- ty jobs submit --model
grep -qi "usage\|--model" "$WORK/cli.out" "$WORK/cli.err" || fail "bad usage printed no help"
expect_exit 2 "unknown command" -- ty frobnicate
expect_exit 4 "unreachable server" -- ty --addr "127.0.0.1:$(free_port)" --timeout 3 datasets list
grep -q "UNAVAILABLE" "$WORK/cli.err" || fail "unreachable: no UNAVAILABLE in: $(cat "$WORK/cli.err")"

# --- a real job ----------------------------------------------------------------
# Three Gaussian blobs in 4 dimensions, 600 rows.
"$PYTHON" - "$WORK/blobs.csv" <<'PY'
import random, sys
rng = random.Random(5)
with open(sys.argv[1], "w") as f:
    f.write("a,b,c,d,label\n")
    for i in range(600):
        c = i % 3
        xs = [rng.gauss(3.0 if d == c else 0.0, 1.0) for d in range(4)]
        f.write(",".join(f"{x:.4f}" for x in xs) + f",{c}\n")
PY
cat >"$WORK/model.json" <<'JSON'
{"input_dim": 4, "layers": [{"dense": {"units": 32}}, {"activation": {"kind": "RELU"}},
                            {"dropout": {"rate": 0.1}}, {"dense": {"units": 3}}]}
JSON
cat >"$WORK/training.json" <<'JSON'
{"loss": {"kind": "SOFTMAX_CROSS_ENTROPY"}, "optimizer": {"adam": {}, "learning_rate": 0.01},
 "batch_size": 32, "epochs": 8, "seed": 2, "validation_fraction": 0.2,
 "checkpoint_every_epochs": 4, "log_every_steps": 5}
JSON

DS=$(ty datasets upload "$WORK/blobs.csv" --name blobs --header --label-column label 2>"$WORK/cli.err") \
  || fail "upload failed"
[[ "$DS" == ds-* ]] || fail "upload printed '$DS', expected a dataset id"
pass "upload -> $DS"
ty datasets show "$DS" --output json >"$WORK/ds.json" || fail "datasets show"
grep -q '"numSamples": "600"' "$WORK/ds.json" || fail "dataset does not report 600 samples: $(cat "$WORK/ds.json")"

sed 's/"input_dim": 4/"input_dim": 5/' "$WORK/model.json" >"$WORK/wrong.json"
expect_exit 3 "submit with wrong input width" -- ty jobs submit --model "$WORK/wrong.json" \
    --training "$WORK/training.json" --dataset blobs
grep -q "INVALID_ARGUMENT: .*input_dim is 5" "$WORK/cli.err" || fail "wrong width: $(cat "$WORK/cli.err")"
# The server parses the config text strictly: a model spec given as the
# training config has fields TrainingConfig does not know.
expect_exit 3 "training config with unknown fields" -- ty jobs submit --model "$WORK/model.json" \
    --training "$WORK/model.json" --dataset blobs
grep -q "INVALID_ARGUMENT: --training $WORK/model.json: training.layers: unknown field ($WORK/model.json line 1, column 18)" \
    "$WORK/cli.err" || fail "unknown field: $(cat "$WORK/cli.err")"

# YAML config with --set overrides: the job records the merged config.
cat >"$WORK/training.yaml" <<'YAML'
# the same run as training.json, in YAML
loss:
  kind: SOFTMAX_CROSS_ENTROPY
optimizer:
  adam: {}
  learning_rate: 0.01
batch_size: 32
epochs: 8
seed: 2
validation_fraction: 0.2
YAML
YJOB=$(ty jobs submit --model "$WORK/model.json" --training "$WORK/training.yaml" --dataset blobs \
       --set training.epochs=1 --set training.optimizer.learning_rate=0.02 \
       --set model.layers[0].dense.units=16 2>"$WORK/cli.err") \
  || fail "submit YAML with --set: $(cat "$WORK/cli.err")"
ty jobs show "$YJOB" --output json >"$WORK/yjob.json" || fail "jobs show $YJOB"
"$PYTHON" - "$WORK/yjob.json" <<'PY' || fail "YAML + --set job config: $(cat "$WORK/yjob.json")"
import json, sys
j = json.load(open(sys.argv[1]))
t, m = j["training"], j["model"]
assert t["epochs"] == 1 and t["optimizer"]["learningRate"] == 0.02, t
assert t["batchSize"] == 32 and t["loss"]["kind"] == "SOFTMAX_CROSS_ENTROPY", t
assert m["layers"][0]["dense"]["units"] == 16, m
PY
pass "YAML training config with --set overrides -> $YJOB"
sed 's/^  learning_rate:/  learning_rte:/' "$WORK/training.yaml" >"$WORK/typo.yaml"
expect_exit 3 "YAML typo" -- ty jobs submit --model "$WORK/model.json" --training "$WORK/typo.yaml" \
    --dataset blobs --validate-only
grep -q "training.optimizer.learning_rte: unknown field ($WORK/typo.yaml line 6, column 3)" "$WORK/cli.err" \
  || fail "YAML typo not reported at its YAML line: $(cat "$WORK/cli.err")"
expect_exit 2 "--set into a missing list element" -- ty jobs submit --model "$WORK/model.json" \
    --training "$WORK/training.yaml" --dataset blobs --set 'model.layers[9].dense.units=4'
grep -q "model.layers\[9\]: no such element" "$WORK/cli.err" || fail "--set: $(cat "$WORK/cli.err")"
rc=0
ty jobs submit --model "$WORK/model.json" --training "$WORK/training.json" \
    --dataset blobs --wait --output json >"$WORK/job.json" 2>"$WORK/cli.err" || rc=$?
[ "$rc" = 0 ] || fail "submit --wait exited $rc"
JOB=$("$PYTHON" -c 'import json,sys; j=json.load(open(sys.argv[1])); assert j["state"]=="SUCCEEDED", j["state"]; print(j["id"])' "$WORK/job.json") \
  || fail "job did not succeed: $(cat "$WORK/job.json")"
pass "submit --wait -> $JOB SUCCEEDED"

# Watching a finished job replays its whole log, seq 1..N without gaps.
ty jobs watch "$JOB" --output json >"$WORK/events.jsonl" 2>"$WORK/cli.err" || fail "watch of a finished job"
"$PYTHON" - "$WORK/events.jsonl" <<'PY' || fail "watch replay is not 1..N"
import json, sys
seqs = [int(json.loads(l).get("seq", 0)) for l in open(sys.argv[1]) if l.strip()]
seqs = [s for s in seqs if s]  # heartbeats repeat a seq; they carry no event
dedup = sorted(set(seqs))
assert dedup == list(range(1, len(dedup) + 1)), seqs[:20]
PY
pass "watch replay complete"

# A job with per-layer diagnostics: plain `jobs watch` prints a table per
# diagnostics event (15 steps per epoch, 2 epochs, every 10 steps).
sed 's/"log_every_steps": 5}/"log_every_steps": 5, "epochs": 2, "diagnostics": {"every_steps": 10, "histograms": true}}/; s/"epochs": 8, //' \
    "$WORK/training.json" >"$WORK/diag.json"
DJOB=$(ty jobs submit --model "$WORK/model.json" --training "$WORK/diag.json" --dataset blobs \
       2>"$WORK/cli.err") || fail "submit with diagnostics: $(cat "$WORK/cli.err")"
ty jobs watch "$DJOB" >"$WORK/diag.out" 2>"$WORK/cli.err" || fail "watch of the diagnosed job"
grep -q "^diagnostics at step 10 (epoch 1)" "$WORK/diag.out" || fail "no diagnostics table: $(cat "$WORK/diag.out")"
grep -q "^  layers\[1\].activation " "$WORK/diag.out" || fail "no activation row: $(cat "$WORK/diag.out")"
grep -q "^  layers\[2\].dropout " "$WORK/diag.out" || fail "no dropout row: $(cat "$WORK/diag.out")"
pass "watch shows per-layer diagnostics"

# Reading the two finished jobs back: tidy metrics, a comparison, a picture.
ty jobs metrics "$JOB" "$DJOB" -o "$WORK/metrics.csv" 2>"$WORK/cli.err" \
  || fail "jobs metrics: $(cat "$WORK/cli.err")"
"$PYTHON" - "$WORK/metrics.csv" "$JOB" "$DJOB" <<'PY' || fail "metrics export: $(head -5 "$WORK/metrics.csv")"
import csv, sys
rows = list(csv.DictReader(open(sys.argv[1])))
job, djob = sys.argv[2], sys.argv[3]
assert list(rows[0].keys()) == ["job_id", "series", "step", "epoch", "layer", "metric", "value"]
def pick(j, series, metric):
    return [r for r in rows if r["job_id"] == j and r["series"] == series and r["metric"] == metric]
assert [int(r["epoch"]) for r in pick(job, "epoch", "val_accuracy")] == list(range(1, 9))
assert len(pick(job, "step", "loss")) == 8 * 3, len(pick(job, "step", "loss"))  # every 5th of 15 steps
assert not [r for r in rows if r["job_id"] == job and r["series"] == "diagnostics"]
grads = pick(djob, "diagnostics", "grad_norm")
assert sorted({int(r["step"]) for r in grads}) == [10, 20, 30], grads[:3]
assert {r["layer"] for r in grads} == {"layers[0].dense", "layers[3].dense"}
assert all(float(r["value"]) > 0 for r in grads)
PY
ty jobs metrics "$DJOB" --format jsonl >"$WORK/metrics.jsonl" 2>"$WORK/cli.err" || fail "jobs metrics jsonl"
"$PYTHON" -c 'import json,sys; rows=[json.loads(l) for l in open(sys.argv[1])]; assert rows and all(r["job_id"] == sys.argv[2] for r in rows)' \
  "$WORK/metrics.jsonl" "$DJOB" || fail "jsonl export: $(head -3 "$WORK/metrics.jsonl")"
pass "jobs metrics exports step, epoch and diagnostics series"

ty jobs compare "$JOB" "$DJOB" >"$WORK/compare.txt" 2>"$WORK/cli.err" || fail "jobs compare: $(cat "$WORK/cli.err")"
head -1 "$WORK/compare.txt" | grep -q "BEST_VAL_ACC .*training.diagnostics.every_steps.* training.epochs" \
  || fail "compare header: $(cat "$WORK/compare.txt")"
[ "$(wc -l <"$WORK/compare.txt")" = 3 ] || fail "compare rows: $(cat "$WORK/compare.txt")"
grep -q "^$JOB .* 8 " "$WORK/compare.txt" || fail "compare row of $JOB: $(cat "$WORK/compare.txt")"
expect_exit 2 "compare by an unknown metric" -- ty jobs compare "$JOB" --metric accuracy
pass "jobs compare shows the varied hyper-parameters"

ty jobs plot "$JOB" "$DJOB" --grad-norms -o "$WORK/curves.svg" >/dev/null 2>"$WORK/cli.err" \
  || fail "jobs plot: $(cat "$WORK/cli.err")"
grep -q "$DJOB: layers\[0\].dense" "$WORK/curves.svg" || fail "the svg lacks the gradient-norm series"
grep -q "$JOB: validation accuracy" "$WORK/curves.svg" || fail "the svg lacks the validation curve"
ty jobs plot "$JOB" -o "$WORK/curves.png" >/dev/null 2>"$WORK/cli.err" || fail "jobs plot png"
[ "$(head -c 4 "$WORK/curves.png" | od -An -c | tr -d ' ')" = "211PNG" ] || fail "not a PNG"
expect_exit 2 "plot to an unknown format" -- ty jobs plot "$JOB" -o "$WORK/curves.jpg"
expect_exit 3 "metrics of an unknown job" -- ty jobs metrics job-0123456789abcdef
grep -q "NOT_FOUND" "$WORK/cli.err" || fail "unknown job: $(cat "$WORK/cli.err")"
pass "jobs plot writes svg and png"

ty checkpoints list "$JOB" --output json >"$WORK/ckpts.json" || fail "checkpoints list"
CKPT=$("$PYTHON" -c 'import json,sys; c=json.load(open(sys.argv[1]))["checkpoints"]; print(c[-1]["id"]); assert len(c) >= 2' "$WORK/ckpts.json") \
  || fail "expected a periodic and a final checkpoint: $(cat "$WORK/ckpts.json")"
ty checkpoints download "$CKPT" -o "$WORK/model.ckpt" >/dev/null 2>"$WORK/cli.err" || fail "download"
[ "$(sha256sum "$WORK/model.ckpt" | cut -d' ' -f1)" = "$CKPT" ] || fail "downloaded file's sha256 is not the checkpoint id"
pass "checkpoint $CKPT downloaded, sha256 verified"

ty predict "$CKPT" --values "3,0,0,0;0,0,3,0" --output json >"$WORK/pred.json" || fail "predict"
"$PYTHON" -c 'import json,sys; p=json.load(open(sys.argv[1])); assert p["predictedClass"]==[0,2], p' "$WORK/pred.json" \
  || fail "predict gave $(cat "$WORK/pred.json")"
pass "predict classifies two points"
ty predict "$CKPT" --values "3,0,0,0" --mc-samples 20 --output json >"$WORK/mc.json" || fail "predict mc"
grep -q '"stddev"' "$WORK/mc.json" || fail "mc predict has no stddev"
# --seed: a row's MC result is the same alone or second in a batch.
ty predict "$CKPT" --values "0,0,3,0" --mc-samples 20 --seed 7 --output json >"$WORK/mc1.json" \
  || fail "predict --seed"
ty predict "$CKPT" --values "3,0,0,0;0,0,3,0" --mc-samples 20 --seed 7 --output json \
  >"$WORK/mc2.json" || fail "predict --seed, two rows"
"$PYTHON" - "$WORK/mc1.json" "$WORK/mc2.json" <<'PY' || fail "--seed: row alone != row in batch"
import json, sys
a, b = (json.load(open(p)) for p in sys.argv[1:3])
assert a["stddev"][0] == b["stddev"][1] and a["outputs"][0] == b["outputs"][1], (a, b)
PY
pass "predict --seed: a row alone equals the row in a batch"
ty evaluate "$CKPT" blobs --output json >"$WORK/eval.json" || fail "evaluate"
"$PYTHON" -c 'import json,sys; e=json.load(open(sys.argv[1])); assert e["accuracy"] > 0.9, e' "$WORK/eval.json" \
  || fail "evaluate: $(cat "$WORK/eval.json")"
pass "evaluate accuracy > 0.9"

# --- names, references, retention and deletion ---------------------------------
blob_files() { find "$WORK/data/blobs" -path "$WORK/data/blobs/tmp" -prune -o -type f -print | wc -l; }
ty jobs show "${JOB:0:12}" --output json >"$WORK/show.json" 2>"$WORK/cli.err" || fail "jobs show by id prefix"
grep -q "\"id\": \"$JOB\"" "$WORK/show.json" || fail "id prefix resolved to another job: $(cat "$WORK/show.json")"
expect_exit 2 "ambiguous id prefix" -- ty jobs show job-
grep -q "is ambiguous" "$WORK/cli.err" || fail "ambiguous prefix: $(cat "$WORK/cli.err")"
ty predict "$JOB:latest" --values "3,0,0,0;0,0,3,0" --output json >"$WORK/pred2.json" 2>"$WORK/cli.err" \
  || fail "predict JOB:latest: $(cat "$WORK/cli.err")"
cmp -s "$WORK/pred.json" "$WORK/pred2.json" || fail "JOB:latest is not the job's newest checkpoint"
ty checkpoints download "${CKPT:0:10}" -o "$WORK/prefix.ckpt" >/dev/null 2>"$WORK/cli.err" \
  || fail "download by id prefix: $(cat "$WORK/cli.err")"
cmp -s "$WORK/model.ckpt" "$WORK/prefix.ckpt" || fail "id prefix downloaded another checkpoint"
pass "job id prefix, checkpoint id prefix and JOB:latest resolve"

sed 's/"checkpoint_every_epochs": 4, "log_every_steps": 5}/"checkpoint_every_epochs": 1, "log_every_steps": 5, "epochs": 5, "retention": {"keep_last": 1, "keep_best": 1, "metric": "RETAIN_MIN_VAL_LOSS"}}/; s/"epochs": 8, //' \
    "$WORK/training.json" >"$WORK/keep.json"
ty jobs submit --model "$WORK/model.json" --training "$WORK/keep.json" --dataset blobs \
    --name kept --wait >/dev/null 2>"$WORK/cli.err" || fail "submit with retention: $(cat "$WORK/cli.err")"
ty checkpoints list kept --output json >"$WORK/kept.json" 2>"$WORK/cli.err" || fail "checkpoints list by job name"
KEPT=$("$PYTHON" -c 'import json,sys; c=json.load(open(sys.argv[1]))["checkpoints"]; assert 1 <= len(c) <= 2, c; print(len(c))' "$WORK/kept.json") \
  || fail "retention kept the wrong checkpoints: $(cat "$WORK/kept.json")"
ty checkpoints download kept:best -o "$WORK/best.ckpt" >/dev/null 2>"$WORK/cli.err" || fail "download JOB:best: $(cat "$WORK/cli.err")"
pass "retention keep_last 1 + keep_best 1 left $KEPT checkpoints; JOB:best downloads"

before=$(blob_files)
ty checkpoints list "$DJOB" --output json >"$WORK/dck.json" || fail "checkpoints list of the diagnosed job"
DN=$("$PYTHON" -c 'import json,sys; print(len(json.load(open(sys.argv[1])).get("checkpoints", [])))' "$WORK/dck.json")
expect_exit 0 "jobs rm of a finished job" -- ty jobs rm "$DJOB"
[ "$(blob_files)" = "$((before - DN))" ] || fail "jobs rm left files: $before - $DN != $(blob_files)"
expect_exit 3 "jobs rm again" -- ty jobs rm "$DJOB"
grep -q "NOT_FOUND" "$WORK/cli.err" || fail "second rm: $(cat "$WORK/cli.err")"
before=$(blob_files)
expect_exit 0 "checkpoints rm JOB:latest of a finished job" -- ty checkpoints rm kept:latest
[ "$(blob_files)" = "$((before - 1))" ] || fail "checkpoints rm left the file"
pass "rm commands delete rows and files"

# --- a watch whose connection is killed -----------------------------------------
# Long enough (~10 s) that the kill lands mid-training.
cat >"$WORK/wide.json" <<'JSON'
{"input_dim": 4, "layers": [{"dense": {"units": 256}}, {"activation": {"kind": "RELU"}},
                            {"dense": {"units": 256}}, {"activation": {"kind": "RELU"}},
                            {"dense": {"units": 3}}]}
JSON
sed -e 's/"epochs": 8/"epochs": 1000/' -e 's/"log_every_steps": 5/"log_every_steps": 100/' \
    "$WORK/training.json" >"$WORK/long.json"
LONG=$(ty jobs submit --model "$WORK/wide.json" --training "$WORK/long.json" --dataset "$DS" 2>>"$WORK/cli.err") \
  || fail "submit long job"
expect_exit 3 "jobs rm of an unfinished job" -- ty jobs rm "$LONG"
grep -q "FAILED_PRECONDITION" "$WORK/cli.err" || fail "rm of a live job: $(cat "$WORK/cli.err")"
ty jobs watch "$LONG" --output json >"$WORK/live.jsonl" 2>"$WORK/watch.err" &
WATCH_PID=$!
for _ in $(seq 1 100); do
  grep -q epochMetrics "$WORK/live.jsonl" 2>/dev/null && break
  sleep 0.1
done
grep -q epochMetrics "$WORK/live.jsonl" || fail "the watch saw no epoch before the kill"
kill -KILL "$SERVER_PID"; wait "$SERVER_PID" 2>/dev/null || true
sleep 1
start_server || fail "server did not restart"
rc=0
wait "$WATCH_PID" || rc=$?
WATCH_PID=""
[ "$rc" = 0 ] || fail "watch across a killed connection exited $rc"
"$PYTHON" - "$WORK/live.jsonl" <<'PY' || fail "events across the kill have a gap or a duplicate"
import json, sys
events = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
seqs = [int(e["seq"]) for e in events if "heartbeat" not in e]
assert seqs == list(range(1, len(seqs) + 1)), seqs
assert any(e.get("stateChange", {}).get("reason") == "server restart" for e in events)
assert events[-1].get("stateChange", {}).get("to") == "SUCCEEDED", events[-1]
PY
pass "watch reconnected after a killed connection: no gap, no duplicate, job finished"

kill -TERM "$SERVER_PID"
rc=0; wait "$SERVER_PID" || rc=$?; SERVER_PID=""
[ "$rc" = 0 ] || fail "server exited $rc on SIGTERM"
pass "server stopped cleanly on SIGTERM"
echo "PASS: cli end-to-end"
