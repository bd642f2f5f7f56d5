#!/usr/bin/env bash
# Install Poststelle into .venv and start it on its embedded default (SQLite, files, in-process
# broker, development PKI) with its configuration in ./dev (written on first run).
set -euo pipefail
cd "$(dirname "$0")/.."
DEV_DIR="${POSTSTELLE_DEV_DIR:-dev}"

if [ ! -x .venv/bin/python ]; then
    python3 -m venv .venv
fi
if ! .venv/bin/python -c 'import poststelle, aiosmtpd, pyhanko' 2>/dev/null; then
    .venv/bin/pip install --quiet --upgrade pip
    .venv/bin/pip install --quiet -e .
fi
if [ ! -f "$DEV_DIR/poststelle.toml" ]; then
    .venv/bin/poststelle init "$DEV_DIR"
fi
exec .venv/bin/poststelle --config "$DEV_DIR/poststelle.toml" serve
