#!/usr/bin/env bash
# The demo on the local lab: boot guests across both AZs, resize one within its AZ and confirm,
# migrate one and revert, with the hosts/guests table before and after.
# Re-runnable: demo guests left by an earlier run are deleted first.
set -euo pipefail
cd "$(dirname "$0")/.."
PB=".venv/bin/ansible-playbook"
LOG=$(mktemp)
trap 'rm -f "$LOG"' EXIT

step() { printf '\n=== %s\n' "$*"; }
# run a playbook quietly; on failure show its output; else print its "msg" lines
run() {
  echo "+ ansible-playbook $*"
  "$PB" "$@" > "$LOG" 2>&1 || { cat "$LOG"; exit 1; }
  grep -E '^ +"msg": "' "$LOG" | sed 's/^ *"msg": /  /' || true
}
table() {
  "$PB" playbooks/status.yml 2>/dev/null | sed -n '/Show hosts and guests/,/PLAY RECAP/p' \
    | sed -n 's/^        "\(.*\)",\{0,1\}$/\1/p'
}
# the ferry callback's lines: progress while a base image is fetched, the phase table of each move
move_summary() {
  grep -E '^  progress: |^ferry: |^  phase ' "$LOG" || true
}

step "Removing guests from an earlier demo"
for g in demo-web1 demo-web2 demo-db1; do
  "$PB" playbooks/delete.yml -e instance=$g > /dev/null 2>&1 || true
done

step "Booting guests: one with no AZ, one in az1, one in az2 (the scheduler places them)"
run playbooks/boot.yml -e instance=demo-web1 -e flavor=m1.small -e image=tiny
run playbooks/boot.yml -e instance=demo-db1 -e flavor=m1.small -e image=fat -e az=az1
run playbooks/boot.yml -e instance=demo-web2 -e flavor=m1.small -e image=tiny -e az=az2

step "Before"
table

step "Plan: resize demo-web1 to m1.medium (dry run, the scheduler's report)"
"$PB" playbooks/plan.yml -e instance=demo-web1 -e flavor=m1.medium 2>/dev/null \
  | sed -n '/Show the scheduler/,/^}/p' | sed -n 's/^        "\(.*\)",\{0,1\}$/  \1/p'

step "Resize demo-web1 to m1.medium: it was booted without an AZ, so it stays in its host's AZ"
run playbooks/resize.yml -e instance=demo-web1 -e flavor=m1.medium
move_summary
step "Confirm the resize (the source copy is deleted)"
run playbooks/confirm.yml -e instance=demo-web1

step "Drop unused cached copies of 'fat' (cache_prune.yml), so the migration fetches its base again"
run playbooks/cache_prune.yml -e image=fat -e ferry_cache_min_age=0

step "Migrate demo-db1 (base image 'fat', 192 MiB: only the small overlay travels host-to-host;"
echo "    the base comes from the store to the target's cache while the guest runs, at 24 MiB/s here)"
run playbooks/migrate.yml -e instance=demo-db1 -e ferry_bwlimit=24576
move_summary
step "Migrate demo-web2, then revert (the target copy is destroyed, the source restarted)"
run playbooks/migrate.yml -e instance=demo-web2
move_summary
run playbooks/revert.yml -e instance=demo-web2

step "After (demo-db1 awaits confirm.yml or revert.yml: both copies are shown)"
table
