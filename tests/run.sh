#!/usr/bin/env bash
# Set up and run the whole test suite: `bash tests/run.sh`.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m pip install --quiet --disable-pip-version-check -e '.[test]'
exec python3 -m pytest "$@"
