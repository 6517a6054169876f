#!/usr/bin/env bash
# How many of cp-ansible's own sample inventories `kafkactl validate` accepts, and the first error of each
# one it refuses. Needs a checkout of Confluent's cp-ansible (the path to it, or to a git directory of it):
#
#   bash tests/cases/validate_cp_ansible_samples.sh ~/src/cp-ansible [REV]
set -uo pipefail
repo=$1
rev=${2:-HEAD}
samples=$(mktemp -d)
for path in $(git -C "$repo" ls-tree -r --name-only "$rev" docs/sample_inventories | grep '\.yml$'); do
  git -C "$repo" show "$rev:$path" > "$samples/$(basename "$path")"
done
accepted=0
total=0
for inventory in "$samples"/*.yml; do
  total=$((total + 1))
  if output=$(python3 -m kafkactl validate "$inventory" 2>&1); then
    accepted=$((accepted + 1))
  else
    echo "$(basename "$inventory"): $(grep -m1 '^error' <<<"$output" | cut -c1-200)"
  fi
done
rm -rf "$samples"
echo "accepted $accepted of $total"
