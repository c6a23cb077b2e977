#!/usr/bin/env bash
# End-to-end: one owner per data dir, one server per port, --cores and
# --version, with the real binaries on loopback and temporary data dirs.
#   1. both binaries answer --version with the version GetServerInfo reports;
#   2. server A starts (with --cores 3, which GetServerInfo reports);
#   3. server B on A's --data-dir exits non-zero naming the dir and A's pid,
#      and A still answers health;
#   4. server C on A's port with another dir exits non-zero naming the address,
#      and the port still reaches A.
#
#   tests/e2e/owner_e2e.sh path/to/trainyard-server path/to/trainyard
set -euo pipefail

SERVER_BIN=${1:?usage: $0 SERVER_BIN CLI_BIN}
CLI_BIN=${2:?usage: $0 SERVER_BIN CLI_BIN}
PYTHON=/usr/bin/python3
WORK=$(mktemp -d "${TMPDIR:-/tmp}/trainyard-e2e-owner.XXXXXX")
PIDS=""
cleanup() {
  for pid in $PIDS; do kill -KILL "$pid" 2>/dev/null || true; done
  rm -rf "$WORK"
}
trap cleanup EXIT

fail() {
  echo "FAIL: $*" >&2
  for f in a.log b.log c.log cli.err; do
    [ -f "$WORK/$f" ] && { echo "--- $f (tail) ---" >&2; tail -n 20 "$WORK/$f" >&2; }
  done
  exit 1
}
pass() { echo "ok: $*"; }

free_port() {
  "$PYTHON" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# run_refused NAME LOG -- server args...: the server must exit on its own, non-zero,
# within 30 s (a server that starts instead is killed and the test fails).
run_refused() {
  local name=$1 log=$2; shift 3
  "$SERVER_BIN" "$@" >"$WORK/$log" 2>&1 &
  local pid=$!
  PIDS="$PIDS $pid"
  for _ in $(seq 1 300); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  if kill -0 "$pid" 2>/dev/null; then
    kill -KILL "$pid" 2>/dev/null || true
    fail "$name: started instead of refusing: $(tr '\n' ' ' <"$WORK/$log")"
  fi
  local rc=0
  wait "$pid" || rc=$?
  [ "$rc" != 0 ] || fail "$name: exited 0"
  pass "$name exits $rc"
}

# --- 1. --version ----------------------------------------------------------
server_version=$("$SERVER_BIN" --version) || fail "trainyard-server --version failed"
cli_version=$("$CLI_BIN" --version) || fail "trainyard --version failed"
[[ "$server_version" =~ ^trainyard-server\ [0-9]+\.[0-9]+\.[0-9]+$ ]] ||
  fail "trainyard-server --version printed '$server_version'"
[[ "$cli_version" =~ ^trainyard\ [0-9]+\.[0-9]+\.[0-9]+$ ]] ||
  fail "trainyard --version printed '$cli_version'"
[ "${server_version#trainyard-server }" = "${cli_version#trainyard }" ] ||
  fail "versions differ: '$server_version' vs '$cli_version'"
pass "--version: $server_version / $cli_version"

# --- 2. server A -----------------------------------------------------------
PORT_A=$(free_port)
ADDR_A="127.0.0.1:$PORT_A"
"$SERVER_BIN" --listen "$ADDR_A" --data-dir "$WORK/a" --cores 3 --default-threads 3 \
    --shutdown-grace-seconds 5 >"$WORK/a.log" 2>&1 &
PID_A=$!
PIDS="$PIDS $PID_A"
for _ in $(seq 1 300); do
  grep -q "server_listening" "$WORK/a.log" && break
  kill -0 "$PID_A" 2>/dev/null || fail "server A exited: $(cat "$WORK/a.log")"
  sleep 0.1
done
grep -q "server_listening" "$WORK/a.log" || fail "server A did not start"
health() { "$CLI_BIN" --addr "$ADDR_A" --timeout 5 health >/dev/null 2>"$WORK/cli.err"; }
health || fail "server A does not answer health"
"$CLI_BIN" --addr "$ADDR_A" --output json server info >"$WORK/info.json" 2>"$WORK/cli.err" ||
  fail "server info failed"
"$PYTHON" - "$WORK/info.json" "${server_version#trainyard-server }" <<'PY' || fail "server info: $(cat "$WORK/info.json")"
import json, sys
info = json.load(open(sys.argv[1]))
assert info["version"] == sys.argv[2], ("version", info.get("version"), sys.argv[2])
assert int(info["cores"]) == 3, ("cores", info.get("cores"))
assert int(info["workers"]) == 1, ("workers", info.get("workers"))
PY
pass "server A up (pid $PID_A); GetServerInfo: version ${server_version#trainyard-server }, --cores 3"

# --- 3. a second server on A's data dir ------------------------------------
run_refused "second server on the same --data-dir" b.log -- \
    --listen "127.0.0.1:$(free_port)" --data-dir "$WORK/a"
grep -q "$WORK/a" "$WORK/b.log" || fail "refusal does not name the dir: $(cat "$WORK/b.log")"
grep -q "pid $PID_A" "$WORK/b.log" || fail "refusal does not name pid $PID_A: $(cat "$WORK/b.log")"
pass "it names the dir and A's pid: $(grep -m1 "data dir" "$WORK/b.log")"
health || fail "server A stopped answering health after the refused second server"
kill -0 "$PID_A" 2>/dev/null || fail "server A died"
pass "server A still answers health"

# --- 4. a second server on A's port ----------------------------------------
run_refused "second server on the same port" c.log -- \
    --listen "$ADDR_A" --data-dir "$WORK/c"
grep -q "$ADDR_A" "$WORK/c.log" || fail "refusal does not name $ADDR_A: $(cat "$WORK/c.log")"
pass "it names the address: $(grep -m1 "cannot listen" "$WORK/c.log")"
health || fail "server A stopped answering health after the refused port"
pass "the port still reaches server A"

# --- stop A ------------------------------------------------------------------
kill -TERM "$PID_A"
rc=0
wait "$PID_A" || rc=$?
[ "$rc" = 0 ] || fail "server A exited $rc on SIGTERM"
pass "server A stopped cleanly"
echo "PASS"
