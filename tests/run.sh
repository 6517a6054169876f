#!/usr/bin/env bash
# Set up and run the whole test suite: `bash tests/run.sh [PYTEST OPTIONS]` (the options go to every stage).
# Three stages, each only after the one before passed: the unit tests (with the line coverage of
# kafkactl/), the lab tests on real hosts (tests/lab), the Molecule scenarios (tests/lab/test_molecule.py).
# With KAFKACTL_TEST_REPORTS=DIR each stage leaves its JUnit XML and its wall time there (.ci/run
# prints them as a table).
set -euo pipefail
cd "$(dirname "$0")/.."
reports=${KAFKACTL_TEST_REPORTS:-}

record() {  # STAGE SECONDS STATUS
  if [[ -n $reports ]]; then printf '%s\t%s\t%s\n' "$@" >> "$reports/stages.tsv"; fi
}

started=$SECONDS
# The test tools at the versions tests/constraints.txt pins.
python3 -m pip install --quiet --disable-pip-version-check -c tests/constraints.txt -e '.[test]'
record setup $((SECONDS - started)) 0

stage() {  # NAME PYTEST-ARGUMENTS...
  local name=$1 status=0
  shift
  local junit=()
  if [[ -n $reports ]]; then junit=(--junitxml "$reports/$name.xml"); fi
  started=$SECONDS
  echo "== stage $name: pytest $*"
  python3 -m pytest -p no:cacheprovider "${junit[@]}" "$@" || status=$?
  record "$name" $((SECONDS - started)) "$status"
  if ((status == 5)); then
    echo "== stage $name collected no test; it must have tests: failing" >&2
    exit 5
  elif ((status != 0)); then
    echo "== stage $name failed (pytest exit $status); the stages after it did not run" >&2
    exit "$status"
  fi
}

# Coverage data in a temporary file, not in the checkout.
COVERAGE_FILE=$(mktemp -u "${TMPDIR:-/tmp}/kafkactl-coverage.XXXXXX") stage unit -m "not lab" --cov=kafkactl --cov-report=term "$@"
stage lab -m lab tests/lab --ignore=tests/lab/test_molecule.py "$@"
stage molecule -m lab tests/lab/test_molecule.py "$@"
