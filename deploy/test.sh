#!/usr/bin/env bash
# Run Poststelle's checks and test suite on this machine, installing what they need first:
# system packages (deploy/install-system-packages.sh), the virtualenv with test extras, axe-core,
# and the local Redis and PostgreSQL servers if they are not answering.
set -euo pipefail
cd "$(dirname "$0")/.."

bash deploy/install-system-packages.sh

if [ ! -x .venv/bin/python ]; then
    python3 -m venv .venv
fi
if ! .venv/bin/python -c 'import poststelle, certomancer, playwright, schemathesis' 2>/dev/null \
    || ! .venv/bin/pip check >/dev/null 2>&1; then
    .venv/bin/pip install --quiet --upgrade pip
    .venv/bin/pip install --quiet -e '.[test]'
fi
if [ -f package.json ] && [ ! -d node_modules/axe-core ]; then
    npm ci --no-audit --no-fund --silent
fi

if ! redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1; then
    mkdir -p /var/lib/redis /var/log/redis
    redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no \
        --dir /var/lib/redis --logfile /var/log/redis/ci.log
    for _ in $(seq 50); do redis-cli ping >/dev/null 2>&1 && break; sleep 0.1; done
fi
if command -v pg_isready >/dev/null && ! pg_isready -h 127.0.0.1 -p 5432 -q; then
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql)" main start || true
    for _ in $(seq 50); do pg_isready -h 127.0.0.1 -p 5432 -q && break; sleep 0.2; done
fi

echo "== ruff"
.venv/bin/ruff check poststelle connectors tests bench
.venv/bin/ruff format --check poststelle connectors tests bench
echo "== mypy"
.venv/bin/mypy
echo "== pytest"
exec .venv/bin/python -m pytest "$@"
