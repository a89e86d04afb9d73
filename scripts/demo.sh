#!/usr/bin/env bash
# The demo: boot a few guests across both AZs on the local lab, then show hosts and guests.
# Re-runnable: demo guests left by an earlier run are deleted first.
set -euo pipefail
cd "$(dirname "$0")/.."
PB=".venv/bin/ansible-playbook"
export ANSIBLE_STDOUT_CALLBACK=default ANSIBLE_DISPLAY_SKIPPED_HOSTS=false

step() { printf '\n=== %s\n' "$*"; }
run() { echo "+ ansible-playbook $*"; "$PB" "$@" > .demo.log 2>&1 || { cat .demo.log; exit 1; }; grep -E '"msg": "' .demo.log | sed 's/^ *"msg": /  /' || true; }

step "Removing guests from an earlier demo"
for g in demo-web1 demo-web2 demo-db1; do
  "$PB" playbooks/delete.yml -e instance=$g > /dev/null 2>&1 || true
done

step "Booting guests: one with no AZ, one in az1, one in az2 (the scheduler places them)"
run playbooks/boot.yml -e instance=demo-web1 -e flavor=m1.small -e image=tiny
run playbooks/boot.yml -e instance=demo-db1 -e flavor=m1.medium -e image=tiny -e az=az1
run playbooks/boot.yml -e instance=demo-web2 -e flavor=m1.small -e image=tiny -e az=az2

step "Hosts and guests"
"$PB" playbooks/status.yml 2>/dev/null | sed -n '/Show hosts and guests/,/PLAY RECAP/p' \
  | sed -n 's/^        "\(.*\)",\{0,1\}$/\1/p'
rm -f .demo.log
