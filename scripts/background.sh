#!/bin/sh
# Run a background process (a Celery worker) at a lower CPU weight than the web processes: a member
# waits for the answer to a request, while a list refresh can wait a little (docs/OPERATIONS.md, "CPU:
# requests before background work"). The Procfiles and the write benchmark start the workers with it;
# docker-compose.yml gives the worker containers the same weight with cpu_shares.
#
#   scripts/background.sh celery -A recommender_site worker ...
#
# BACKGROUND_NICE (default 10: the kernel's weight 110 against a web process's 1024). Under the kernel's
# autogroup scheduling (most distributions' default outside containers) nice only ranks the processes
# of one session, and a launcher that starts each process in a session of its own (honcho, the
# benchmark) leaves the session's own weight as the one that counts: so a session leader sets that
# too. Started from a terminal, it leaves the terminal's session alone.
set -eu
level="${BACKGROUND_NICE:-10}"
case "$level" in
  '' | *[!0-9]*) echo "BACKGROUND_NICE must be a whole number from 0 to 19, not '$level'" >&2; exit 2 ;;
esac
if [ "$level" -gt 19 ]; then
  echo "BACKGROUND_NICE must be a whole number from 0 to 19, not '$level'" >&2
  exit 2
fi
# /proc/<pid>/stat: field 6 is the session id, field 7 the controlling terminal (0: none); field 2, the
# command name, has no spaces here. The session is ours when we (or the shell that runs us: honcho's
# `sh -c`) lead it and it has no terminal, i.e. a launcher made it for this process alone.
session=$(cut -d' ' -f6 "/proc/$$/stat")
terminal=$(cut -d' ' -f7 "/proc/$$/stat")
if [ -w /proc/self/autogroup ] && [ "$terminal" = 0 ] && { [ "$session" = "$$" ] || [ "$session" = "$PPID" ]; }; then
  echo "$level" >/proc/self/autogroup 2>/dev/null || true
fi
exec nice -n "$level" "$@"
