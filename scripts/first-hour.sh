#!/usr/bin/env bash
# The first hour of a new user, run as the README and `ignition init` print it:
#   a fresh clone of this repository, the README's set-up (npm install, npm link, npm start),
#   `ignition init` of every template and the "Next:" line it prints (npm install, npm test,
#   ignition deploy .), an invocation of each, `npm run deploy`, an edit under `ignition dev`
#   saved the way editors save (write a new file, rename it over the old one), a redeploy without
#   --env (the env given before must survive), a 2 MiB upload with curl (Expect: 100-continue),
#   and `ignition logs … | head -1`.
#
# The daemon listens on a free port with a data directory of its own (IGNITION_HOST and
# IGNITION_DATA_DIR point the CLI at it); `npm link` goes to a prefix of its own, so nothing
# outside the temporary directory changes. The whole test suite (the README's `npm test`) is not
# run again here: CI runs it just before.
#
# Stops at the first step that does not work as printed, with one line saying which and why
# (after the last lines of that step's output), and exits 1. Everything it started is stopped by
# pid, and its directory removed (kept with FIRST_HOUR_KEEP=1).
#
#   scripts/first-hour.sh            needs git, node, npm, curl, and what the README requires
set -euo pipefail

REPO="$(cd "$(dirname "$0")/.." && pwd)"
WORK="$(mktemp -d "${TMPDIR:-/tmp}/ignition-first-hour.XXXXXX")"
# A root daemon's sandboxes run as uids of their own and pass through to their workspaces.
chmod 0711 "$WORK"
LOGS="$WORK/logs"
mkdir -p "$LOGS"
STEP="start"
STEP_LOG="$LOGS/start.log"
PIDS=()

say() { printf 'first-hour: %s\n' "$*" >&2; }

# The one line that ends a failed run, after the tail of the failing step's output.
fail() {
  if [[ -s "$STEP_LOG" ]]; then
    tail -n 15 "$STEP_LOG" | sed 's/^/  | /' >&2
  fi
  say "FAILED at \"$STEP\": $*"
  exit 1
}

# Stops a process this script started, and its process group when it leads one (setsid).
stop_pid() {
  local pid="$1" i
  kill -0 "$pid" 2>/dev/null || return 0
  kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < 100; i++)); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.2
  done
  kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}

cleanup() {
  local pid
  for pid in "${PIDS[@]}"; do stop_pid "$pid"; done
  if [[ "${FIRST_HOUR_KEEP:-0}" == 1 ]]; then
    say "kept $WORK"
  else
    rm -rf "$WORK"
  fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# step NAME: what the following commands do; their output goes to a log of the step.
step() {
  STEP="$1"
  STEP_LOG="$LOGS/$(printf '%s' "$1" | tr -c 'A-Za-z0-9' '-').log"
  : >"$STEP_LOG"
  say "$1"
}

# run CMD…: runs a command of the current step, its output in the step's log.
run() {
  "$@" >>"$STEP_LOG" 2>&1 || fail "\`$*\` exited with $?"
}

# expect WHAT ACTUAL EXPECTED: compares an answer with what the docs promise.
expect() {
  [[ "$2" == "$3" ]] || fail "$1: expected $(printf '%q' "$3"), got $(printf '%q' "$2")"
}

# wait_for SECONDS WHAT CMD…: retries CMD until it succeeds.
wait_for() {
  local seconds="$1" what="$2" i
  shift 2
  for ((i = 0; i < seconds * 2; i++)); do
    if "$@" >>"$STEP_LOG" 2>&1; then return 0; fi
    sleep 0.5
  done
  fail "$what within ${seconds} s"
}

# rename_save FILE SED-EXPRESSION: edits FILE the way most editors save it (a new file renamed
# over the old one), which a watcher of the old inode never sees.
rename_save() {
  sed -e "$2" "$1" >"$1.first-hour-save"
  mv -f "$1.first-hour-save" "$1"
}

for tool in git node npm curl setsid; do
  command -v "$tool" >/dev/null || fail "$tool is not installed"
done

step "clone the repository"
run git clone -q "$REPO" "$WORK/ignition"
cd "$WORK/ignition"

step "README set-up: npm install"
run npm install

step "README set-up: npm link --ignore-scripts"
# npm's global prefix, as `npm config set prefix` would set it, in the temporary directory.
export NPM_CONFIG_PREFIX="$WORK/npm-global"
export PATH="$NPM_CONFIG_PREFIX/bin:$PATH"
run npm link --ignore-scripts
unset NPM_CONFIG_PREFIX
[[ "$(command -v ignition)" == "$WORK/npm-global/bin/ignition" ]] || fail "npm link put no ignition command on PATH"

step "README set-up: npm start"
export IGNITION_DATA_DIR="$WORK/data"
DAEMON_LOG="$STEP_LOG"
# Its output as a terminal shows it (text); piped, the daemon would write JSON lines.
IGNITION_LOG_FORMAT=text IGNITION_LISTEN=127.0.0.1:0 setsid npm start >>"$DAEMON_LOG" 2>&1 </dev/null &
PIDS+=("$!")
daemon_ready() { grep -q '^Try: curl' "$DAEMON_LOG"; }
wait_for 240 "npm start did not deploy the examples" daemon_ready
IGNITION_HOST="$(sed -n 's/^Ignition daemon on \(http:[^ ]*\).*/\1/p' "$DAEMON_LOG" | head -n 1)"
[[ -n "$IGNITION_HOST" ]] || fail "npm start printed no daemon URL"
export IGNITION_HOST
grep -q 'failed:' "$DAEMON_LOG" && fail "an example function failed to deploy"
expect "curl /fn/hello/?name=ada (README)" "$(curl -fsS "$IGNITION_HOST/fn/hello/?name=ada")" "Hello, ada!"

step "ignition info"
run ignition info

APPS="$WORK/apps"
mkdir -p "$APPS"
cd "$APPS"
# hello's checks come later (dev, env, upload, logs); hono's and json-api's are here.
for template in hello hono json-api; do
  step "ignition init my-$template --template $template"
  run ignition init "my-$template" --template "$template"
  next="$(sed -n 's/^Next: //p' "$STEP_LOG")"
  expect "the printed next steps" "$next" "cd my-$template && npm install && npm test && ignition deploy ."
  grep -q 'not on your PATH' "$STEP_LOG" && fail "init says ignition is not on PATH after npm link"

  step "my-$template: $next"
  # As printed, in a shell of its own from the directory init ran in.
  run bash -c "$next"
done

step "invoke my-hono and my-json-api"
expect "ignition invoke my-hono --path /books/1" "$(ignition invoke my-hono --path /books/1)" '{"id":"1","title":"The Pragmatic Programmer"}'
expect "status of GET /fn/my-json-api/todos/77" "$(curl -sS -o /dev/null -w '%{http_code}' "$IGNITION_HOST/fn/my-json-api/todos/77")" 404

step "my-hono: npm run deploy"
cd my-hono
run npm run deploy
cd "$APPS"

cd "$APPS/my-hello"
step "my-hello: invoke, then deploy --env GREETING=Howdy"
expect "ignition invoke my-hello --path '/?name=ada'" "$(ignition invoke my-hello --path '/?name=ada')" "Hello, ada!"
run ignition deploy . --env GREETING=Howdy
expect "after --env GREETING=Howdy" "$(curl -fsS "$IGNITION_HOST/fn/my-hello/?name=ada")" "Howdy, ada!"

step "my-hello: ignition dev, two rename-saves"
setsid ignition dev . >>"$STEP_LOG" 2>&1 </dev/null &
DEV_PID="$!"
PIDS+=("$DEV_PID")
sleep 3
answers() { curl -fsS "$IGNITION_HOST/fn/my-hello/" | grep -q "$1"; }
rename_save index.ts "s/?? 'world'/?? 'first-hour'/"
wait_for 60 "ignition dev did not redeploy after the first rename-save" answers 'first-hour!$'
# The backquote ends the template literal of the answer; nothing is meant to expand here.
# shellcheck disable=SC2016
rename_save index.ts 's/!\\n`/!!\\n`/'
wait_for 60 "ignition dev did not redeploy after the second rename-save" answers 'first-hour!!$'
stop_pid "$DEV_PID"

step "my-hello: redeploy without --env"
run ignition deploy .
expect "GREETING given at an earlier deploy" "$(curl -fsS "$IGNITION_HOST/fn/my-hello/")" "Howdy, first-hour!!"

step "my-hello: a 2 MiB upload with curl"
head -c 2097152 /dev/urandom >"$WORK/upload.bin"
status="$(curl -sS -o "$WORK/upload.out" -w '%{http_code}' -H 'Expect: 100-continue' --data-binary "@$WORK/upload.bin" "$IGNITION_HOST/fn/my-hello/")" ||
  fail "curl could not upload 2 MiB"
expect "status of a 2 MiB POST" "$status" 200
expect "answer to a 2 MiB POST" "$(cat "$WORK/upload.out")" "Howdy, first-hour!!"

step "ignition logs my-hello | head -1"
# More log lines than a pipe holds, so that head exits while the CLI is still writing.
run curl -fsS -o /dev/null "$IGNITION_HOST/fn/my-hello/?name=[1-2000]"
set +o pipefail
ignition logs my-hello --limit 2000 2>"$WORK/logs.err" | head -n 1 >"$WORK/logs.out"
cli_status="${PIPESTATUS[0]}"
set -o pipefail
cat "$WORK/logs.err" >>"$STEP_LOG"
[[ "$cli_status" == 0 ]] || fail "ignition logs exited with $cli_status when head closed the pipe"
[[ ! -s "$WORK/logs.err" ]] || fail "ignition logs wrote to stderr: $(head -n 1 "$WORK/logs.err")"
grep -q 'Howdy' "$WORK/logs.out" || fail "the first log line is not the function's: $(cat "$WORK/logs.out")"

say "every step worked as printed"
