#!/usr/bin/env bash
# Mutant check: each patch here puts one fixed defect back (the code as it was before its fix);
# its regression test must FAIL on that code.  For defects whose fix landed before the test, this
# is the proof that the test detects them.  Usage: tests/faults/mutants/run.sh [patch ...]
# Each patch names its test on a "# test:" line.  Runs on the lab (under the lab lock).
set -uo pipefail
root=$(cd "$(dirname "$0")/../../.." && pwd)
cd "$root"
patches=("$@")
[ ${#patches[@]} -gt 0 ] || patches=(tests/faults/mutants/*.patch)
status=0
for p in "${patches[@]}"; do
  test_id=$(sed -n 's/^# test: //p' "$p")
  wt=$(mktemp -d /tmp/ferry-mutant-XXXXXX)
  git worktree add -q --detach "$wt" HEAD
  # a mutant runs against the working tree's code, plus the patch
  git diff HEAD | (cd "$wt" && git apply --allow-empty)
  ln -s "$root/.venv" "$wt/.venv"
  ln -s "$root/inventories/lab/hosts.yml" "$wt/inventories/lab/hosts.yml"
  [ -d "$root/inventories/lab/host_vars" ] && ln -s "$root/inventories/lab/host_vars" "$wt/inventories/lab/host_vars"
  (cd "$wt" && git apply "$root/$p") || { echo "MUTANT $p: does not apply"; status=1; continue; }
  echo "== mutant $(basename "$p"): $test_id must fail"
  start=$(date +%s)
  (cd "$wt" && flock /tmp/ferry-lab.lock .venv/bin/pytest -q -p no:cacheprovider "$test_id" 2>&1 | tail -25)
  rc=$?  # pipefail: pytest's status
  echo "== mutant $(basename "$p"): pytest rc=$rc in $(( $(date +%s) - start )) s -> $([ "$rc" -ne 0 ] && echo 'KILLED (test failed, as it must)' || echo 'SURVIVED (test passed on the defect)')"
  [ "$rc" -ne 0 ] || status=1
  git worktree remove --force "$wt"
done
exit $status
