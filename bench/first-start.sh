#!/usr/bin/env bash
# How long `npm start` takes to answer /healthz, and the server's RSS then, as a newcomer meets it:
# a bad setting, the first start of a never-built clone, then a second start on the unchanged tree.
# With GNU time (/usr/bin/time), also the peak RSS of the largest process the start ran (the build,
# the short-lived process that creates the database, or the server), read when it has stopped.
# Run from a checkout after `npm ci`; it removes dist/ and examples/web/dist/ first.
#   bash bench/first-start.sh
set -euo pipefail
cd "$(dirname "$0")/.."

data_dir=$(mktemp -d)
port=$(node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})')
emulator_port=$(node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})')
rm -rf dist examples/web/dist examples/web/src/gql

now() { date +%s.%N; }

start=$(now)
PORT=abc npm start >/dev/null 2>&1 || true
printf 'bad setting reported after %.1f s\n' "$(awk "BEGIN {print $(now) - $start}")"

measure() {
  local label=$1 log
  log=$(mktemp)
  start=$(now)
  local peak_file wrap=()
  peak_file=$(mktemp)
  [ -x /usr/bin/time ] && wrap=(/usr/bin/time -f '%M' -o "$peak_file")
  EMBEDDED_DB_DIR="$data_dir/pglite" PORT="$port" EMULATOR_PORT="$emulator_port" "${wrap[@]}" npm start >"$log" 2>&1 &
  local npm_pid=$!
  until curl -fsS "http://127.0.0.1:$port/healthz" >/dev/null 2>&1; do
    kill -0 "$npm_pid" 2>/dev/null || { cat "$log"; exit 1; }
    sleep 0.1
  done
  local elapsed server_pid rss
  elapsed=$(awk "BEGIN {print $(now) - $start}")
  server_pid=$(pgrep -f "node dist/src/main.js" | head -n 1)
  rss=$(awk '/VmRSS/ {print $2}' "/proc/$server_pid/status")
  printf '%s: healthy after %.1f s, server RSS %d MiB' "$label" "$elapsed" "$((rss / 1024))"
  kill -TERM "$server_pid"
  wait "$npm_pid" || true
  if [ -s "$peak_file" ]; then
    printf ', peak RSS of any process of the start %d MiB\n' "$(($(tail -n 1 "$peak_file") / 1024))"
  else
    printf '\n'
  fi
  rm -f "$log" "$peak_file"
}

measure 'first start (never built, new database)'
measure 'second start (unchanged tree, same database)'
rm -rf "$data_dir"
