#!/usr/bin/env bash
# Runs tests/openai/test_sdk.py: the official `openai` Python SDK against a
# local network started with `cocoon up` (fake engine, fake TEE), then stops it.
# With a model file, runs test_sdk_local_engine.py against `cocoon up --model-file FILE`
# (the embedded engine, real answers) instead.
# Usage: tests/openai/run.sh [path/to/cocoon [FILE.gguf]]   (default: target/debug/cocoon; env COCOON_BIN also works)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
cocoon="${1:-${COCOON_BIN:-$root/target/debug/cocoon}}"
model_file="${2:-}"
[ -x "$cocoon" ] || { echo "run.sh: no cocoon binary at $cocoon (cargo build -p cocoon-cli first)" >&2; exit 2; }

venv="${COCOON_OPENAI_VENV:-$root/target/openai-venv}"
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
fi
"$venv/bin/python" -c 'import openai' 2>/dev/null || "$venv/bin/pip" install --quiet openai

work="$(mktemp -d)"
port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
if [ -n "$model_file" ]; then
  served="$(basename "$model_file" .gguf)"
  "$cocoon" up --dir "$work/net" --port "$port" --workers 1 --model-file "$model_file" >"$work/up.out" 2>&1 &
else
  "$cocoon" up --dir "$work/net" --port "$port" --workers 2 >"$work/up.out" 2>&1 &
fi
up_pid=$!
cleanup() {
  kill -TERM "$up_pid" 2>/dev/null || true
  wait "$up_pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

for _ in $(seq 1 600); do
  grep -q "client ready" "$work/up.out" && break
  kill -0 "$up_pid" 2>/dev/null || { cat "$work/up.out" >&2; echo "run.sh: cocoon up exited" >&2; exit 1; }
  sleep 0.2
done
grep -q "client ready" "$work/up.out" || { cat "$work/up.out" >&2; echo "run.sh: network not ready in time" >&2; exit 1; }

if [ -n "$model_file" ]; then
  COCOON_BASE_URL="http://127.0.0.1:$port/v1" COCOON_MODEL="$served" "$venv/bin/python" "$here/test_sdk_local_engine.py"
else
  COCOON_BASE_URL="http://127.0.0.1:$port/v1" "$venv/bin/python" "$here/test_sdk.py"
fi
