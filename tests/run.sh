#!/usr/bin/env bash
# The project's one test command (README): installs what the tests need, makes sure the
# services they use are up, then runs ruff, mypy and pytest. Safe to run again and again.
#   bash tests/run.sh            everything
#   bash tests/run.sh -k phase   extra arguments go to pytest
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}

# 1. A virtual environment with the project, its `worker` extra (torch) and its dev tools. torch is
#    pinned to the CPU build this machine keeps on disk; installing it first stops a looser resolver
#    from pulling CUDA.
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
stamp=.venv/.resphase-installed
want=$(cat pyproject.toml setup.py | sha256sum | cut -c1-16)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  .venv/bin/python -m pip install -q --upgrade pip
  .venv/bin/python -m pip install -q torch==2.13.0
  .venv/bin/python -m pip install -q -e '.[dev,worker]'
  echo "$want" > "$stamp"
fi

# 2. Services the integration tests talk to for real: PostgreSQL and Redis on loopback.
if ! pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null && command -v pg_ctlcluster >/dev/null; then
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n1)" main start || true
fi
if ! redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1 && command -v redis-server >/dev/null; then
  mkdir -p /var/lib/redis /var/log/redis
  redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no \
    --dir /var/lib/redis --logfile /var/log/redis/ci.log || true
fi
for _ in $(seq 1 30); do
  pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null && redis-cli -h 127.0.0.1 ping >/dev/null 2>&1 && break
  sleep 1
done

# 3. Chromium for the browser tests (Debian's package; Playwright drives it, never downloads one).
if [ ! -x /usr/bin/chromium ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  (apt-get update -q && apt-get install -y -q chromium) >/tmp/resphase-apt.log 2>&1 || \
    echo "warning: could not install chromium (see /tmp/resphase-apt.log)"
fi

# 4. The compiled CPU training kernel (worker/native.py), built once before the tests: worker
#    processes the tests start then load it from torch's extension cache instead of each waiting
#    ~30 s on the build. tests/test_native_kernel.py fails if it does not build.
.venv/bin/python -c 'from worker import native; print("training kernel:", "built" if native.kernel() else "NOT built")'

# 5. Lint, types, tests.
lint=(backend worker tests benchmarks setup.py)
if [ -d resphase ]; then lint+=(resphase); fi
.venv/bin/ruff check "${lint[@]}"
.venv/bin/mypy
exec .venv/bin/python -m pytest "$@"
