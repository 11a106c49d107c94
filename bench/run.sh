#!/usr/bin/env bash
# Rollcall's Users tab at 100,000 members beside Django's admin, in one run on this machine.
# Installs what it needs (wrk from Debian; Django, gunicorn and aiosmtpd in a venv from PyPI),
# builds Rollcall in release, seeds both, measures with wrk, writes bench/results.md.
# BENCH_MEMBERS (default 100000) and BENCH_DURATION (default 10s) make a quicker run.
set -euo pipefail
cd "$(dirname "$0")/.."

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

if ! command -v wrk >/dev/null 2>&1; then
  as_root apt-get update -qq
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq wrk
fi
if ! pg_isready -h 127.0.0.1 -p 5432 -q 2>/dev/null; then
  as_root pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n 1)" main start
  for _ in $(seq 1 30); do pg_isready -h 127.0.0.1 -p 5432 -q && break; sleep 1; done
fi
venv="${BENCH_VENV:-bench/.venv}"
if [ ! -x "$venv/bin/gunicorn" ]; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q 'django>=5.2,<6' 'gunicorn>=23' 'aiosmtpd>=1.4'
fi
cargo build --release
BENCH_VENV="$venv" python3 bench/bench.py
