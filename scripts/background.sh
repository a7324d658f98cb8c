#!/bin/sh
# Run a background process (a Celery worker) at a lower CPU weight than the web processes: a member
# waits for the answer to a request, while a list refresh can wait a little (docs/OPERATIONS.md, "CPU:
# requests before background work"). The Procfiles and the write benchmark start the workers with it;
# docker-compose.yml gives the worker containers the same weight with cpu_shares.
#
#   BACKGROUND_AUTOGROUP=1 scripts/background.sh celery -A recommender_site worker ...
#
# BACKGROUND_NICE (default 10: the kernel's weight 110 against a web process's 1024) is added to the
# caller's nice, as nice(1) does. Processes in the root CPU cgroup (no container, no systemd cgroup
# of their own: see /proc/self/cgroup) are scheduled by session first under the kernel's autogroup
# scheduling, where nice only ranks the processes of one session. A launcher that starts each process
# in a session of its own (honcho, the benchmark) sets BACKGROUND_AUTOGROUP=1, and the session's own
# weight is set too, when the session is the worker's alone: led by this script or by the shell that
# runs it, with no terminal. Nothing else is reniced.
set -eu

refuse() {
  echo "BACKGROUND_NICE must be a whole number from 0 to 19, not '$1'" >&2
  exit 2
}

level="${BACKGROUND_NICE:-10}"
case "$level" in
  '' | *[!0-9]* | 0?* | ???*) refuse "$level" ;;
esac
[ "$level" -le 19 ] || refuse "$level"

# /proc/<pid>/stat: "pid (command) state ppid pgrp session tty ..."; the command may hold spaces or
# parentheses, so the fields are read after its last ") ".
own_session() {
  [ -r "/proc/$$/stat" ] || return 1
  stat=$(cat "/proc/$$/stat") || return 1
  set -- ${stat##*) }
  [ $# -ge 5 ] && [ "$5" = 0 ] && { [ "$4" = "$$" ] || [ "$4" = "$PPID" ]; }
}

# The kernel takes one autogroup change per 100 ms from unprivileged processes (EAGAIN otherwise):
# honcho starts both workers at once, so try for a second before saying it did not take.
set_session_weight() {
  tries=0
  while [ "$tries" -lt 10 ]; do
    { echo "$level" >/proc/self/autogroup; } 2>/dev/null || true
    case "$(cat /proc/self/autogroup 2>/dev/null)" in *" nice $level") return 0 ;; esac
    tries=$((tries + 1))
    sleep 0.1 2>/dev/null || sleep 1
  done
  echo "background.sh: could not set this session's autogroup to nice $level; only the process's nice applies" >&2
}

if [ "${BACKGROUND_AUTOGROUP:-0}" = 1 ] && [ -w /proc/self/autogroup ] && own_session; then
  set_session_weight
fi
exec nice -n "$level" "$@"
