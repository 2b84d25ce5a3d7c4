#!/bin/bash
# Manual end-to-end check of holdfastd under a real systemd (Debian 12's 252), booted as pid 1 of private
# pid/mount/uts/ipc/net/cgroup namespaces: the repo's systemd/ units, unchanged, run the repo's dist/.
# Needs root. Not part of `npm test`. See README.md. Exit 0 only when every check passed.
#   HF_VERBOSE=1  add a drop-in `ExecStart=holdfastd -v` (info lines in the journal); default: shipped units only
#   KEEP=1        keep the scratch directory (evidence.log, console log, client/prober logs)
set -u
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../../.." && pwd)
VERBOSE=${HF_VERBOSE:-0}
NODE=${NODE:-$(command -v node)}

[ "$(id -u)" = 0 ] || { echo "run.sh: needs root (sudo $0)"; exit 2; }
for t in unshare nsenter setsid script pgrep findmnt systemd-analyze /lib/systemd/systemd "$NODE"; do
  command -v "$t" >/dev/null || { echo "run.sh: missing $t"; exit 2; }
done
for f in dist/src/cli/holdfastd.js dist/src/client/lock-client.js dist/src/shared/platform/native.js; do
  [ -f "$ROOT/$f" ] || { echo "run.sh: $ROOT/$f missing: run \`npm run build\` first"; exit 2; }
done

B=$(mktemp -d "${TMPDIR:-/tmp}/hf-systemd-e2e.XXXXXX") || exit 2
chmod 755 "$B"
source "$HERE/common.sh"
mkdir -p "$B/disks"
PASS=0; FAIL=0; DONE=0
finish() {
  local rc=$?
  stop_helpers; teardown; echo "== torn down"
  [ "$DONE" = 1 ] || { echo "FAIL: run.sh stopped before the end"; rc=1; }
  if [ "${KEEP:-0}" = 1 ]; then echo "== scratch kept in $B"; else rm -rf "$B"; fi
  # let tee print the last lines before we return
  exec >&- 2>&-; [ -n "${TEE_PID:-}" ] && wait "$TEE_PID" 2>/dev/null
  exit "$rc"
}
trap finish EXIT
trap 'exit 130' INT TERM
exec > >(tee "$B/evidence.log") 2>&1
TEE_PID=$!

ok()   { echo "PASS: $*"; PASS=$((PASS+1)); }
bad()  { echo "FAIL: $*"; FAIL=$((FAIL+1)); }
check() { local what=$1; shift; if "$@"; then ok "$what"; else bad "$what"; fi; }
hdr()  { echo; echo "======== $* ($(date -u +%T.%N | cut -c1-12))"; }
show() { nsx systemctl show -p "${1:-ActiveState,SubState,MainPID,StatusText,NFileDescriptorStore,NRestarts}" holdfastd.service | tr '\n' ' '; echo; }
prop() { nsx systemctl show -p "$1" --value holdfastd.service; }
status() { nsx systemctl --no-pager -l status holdfastd.service "$@"; }
# /proc/locks is global: show only the lines for our disks' inodes
locks() {
  local inos; inos=$(stat -c %i "$B"/disks/* | tr '\n' '|'); inos=${inos%|}
  echo "-- /proc/locks, our disks only ($(cd "$B/disks" && stat -c '%n=%i' * | tr '\n' ' '))"
  nsx cat /proc/locks | awk -v re=":($inos)\$" '{ for (i = 1; i <= NF; i++) if ($i ~ re) { print; next } }'
}
journal() { nsx journalctl --no-pager -o short-precise "$@"; }
jcount() { journal -u holdfastd.service | grep -c "$1"; }
wait_active() { local i; for i in $(seq 1 100); do [ "$(prop ActiveState)" = active ] && { [ -z "${1:-}" ] || [ "$(prop MainPID)" != "$1" ]; } && return 0; sleep 0.1; done; return 1; }
# helpers run inside the namespace; `spawn NAME cmd...` records the helper's pid there
spawn() { local n=$1; shift; nsx sh -c "exec nohup $(printf '%q ' "$@") > $B/$n.log 2>&1 < /dev/null & echo \$! > $B/$n.nspid"; }
nspid() { cat "$B/$1.nspid"; }
alive() { nsx kill -0 "$(nspid "$1")" 2>/dev/null; }
stop_helpers() { local n; for n in prober client1 client2 prober2; do [ -f "$B/$n.nspid" ] && [ -f "$B/ns1.pid" ] && nsx kill -TERM "$(nspid $n)" 2>/dev/null; done; sleep 0.3; }
pstat() { cat "$B/${1:-prober}.status"; echo; }
pjs() { "$NODE" -e "const s = JSON.parse(require('fs').readFileSync(process.argv[1], 'utf8')); $2" "$B/$1.status"; }
free_after_held() { pjs "${1:-prober}" 'console.log(s.freeAfterHeld.reduce((a, b) => a + b, 0))'; }
all_held() { pjs "${1:-prober}" 'process.exit(s.held.every(Boolean) ? 0 : 1)'; }
none_held() { pjs "${1:-prober}" 'process.exit(s.held.some(Boolean) ? 1 : 0)'; }
wait_log() { local i; for i in $(seq 1 100); do grep -q "$2" "$B/$1.log" 2>/dev/null && return 0; sleep 0.1; done; return 1; }
fresh() { sleep 0.5; }   # let the prober write a status after the event (it writes every 200 ms)
SOCK=/run/libvirt/virtlockd-sock

hdr "boot systemd as pid 1 of a new pid namespace (scratch: $B, repo: $ROOT)"
boot || exit 1
echo "namespace pid 1 is host pid $(cat "$B/ns1.pid"): $(tr '\0' ' ' < /proc/$(cat "$B/ns1.pid")/cmdline)"
nsx systemctl --version | head -1
nsx systemctl is-system-running
nsx ps -e -o pid,args

hdr "install the units (unchanged copies of $ROOT/systemd/*)"
nsx install -m 0644 "$ROOT/systemd/holdfastd.service" "$ROOT/systemd/holdfastd.socket" "$ROOT/systemd/holdfastd-admin.socket" /etc/systemd/system/
if [ "$VERBOSE" = 1 ]; then
  nsx mkdir -p /etc/systemd/system/holdfastd.service.d
  printf '[Service]\nExecStart=\nExecStart=holdfastd -v\n' | nsx tee /etc/systemd/system/holdfastd.service.d/verbose.conf >/dev/null
  echo "(HF_VERBOSE=1: drop-in verbose.conf, ExecStart=holdfastd -v, so that info-level lines reach the journal)"
else
  echo "(shipped units only, nothing added)"
fi
echo "holdfastd on systemd's search path: $(nsx sh -c 'command -v holdfastd; cat $(command -v holdfastd)' | tr '\n' ' ')"
nsx systemctl daemon-reload
check "systemd-analyze verify prints nothing" test -z "$(nsx systemd-analyze verify /etc/systemd/system/holdfastd.service /etc/systemd/system/holdfastd.socket /etc/systemd/system/holdfastd-admin.socket 2>&1)"
nsx systemctl cat holdfastd.service | grep -E '^(#|Type|ExecStart|ExecReload|KillMode|Restart|FileDescriptorStoreMax|NotifyAccess)'

hdr "1. socket activation"
nsx systemctl start holdfastd.socket holdfastd-admin.socket
nsx systemctl --no-pager status holdfastd.socket holdfastd-admin.socket | grep -E 'Active|Listen|●'
check "service not running before the first client" test "$(prop ActiveState)" = inactive
for d in a b c; do truncate -s 1M "$B/disks/disk-$d.img"; done
spawn client1 "$NODE" "$HERE/client.js" "$SOCK" "$B/disks/disk-a.img" "$B/disks/disk-b.img"
check "client1 connected through the socket and holds disk-a and disk-b" wait_log client1 '^HELD'
cat "$B/client1.log"
spawn prober "$NODE" "$HERE/prober.js" "$B/prober.status" "$B/disks/disk-a.img" "$B/disks/disk-b.img"
sleep 1
check "service started by the connection" test "$(prop ActiveState)" = active
status
locks
check "prober (another process, F_OFD_GETLK) sees both locks held" all_held
PID0=$(prop MainPID)

hdr "2. Type=notify: READY and STATUS"
show Type,NotifyAccess,MainPID,StatusText,ExecMainStartTimestamp,ActiveEnterTimestamp
journal -u holdfastd.service | grep -E 'Starting|Started' || true
check "StatusText reports clients and locks" grep -q 'serving; 1 clients, 2 locks held' <<<"$(prop StatusText)"

hdr "3. systemctl reload (SIGUSR1 live upgrade)"
nsx systemctl reload holdfastd.service; echo "reload exit $?"
for i in 1 2 3 4 5 6 7 8 9 10; do show; [ "$(prop ActiveState)" = active ] && [ "$(prop StatusText)" != upgrading ] && break; sleep 0.3; done
check "same MainPID after reload ($PID0)" test "$(prop MainPID)" = "$PID0"
check "back to active" wait_active
fresh; pstat
check "prober never saw a lock free across the reload" test "$(free_after_held)" = 0
check "client1 connection kept across the reload" test -z "$(grep 'connection closed' "$B/client1.log")"
status | sed -n '1,20p'
check "journal: the standby worker's 'control channel closed' line is not logged (debug level)" \
  test "$(jcount 'control channel closed while drained or on standby')" = 0

hdr "4. fd store: SIGKILL of the supervisor, Restart=on-failure, locks kept"
show Restart,RestartUSec,KillMode,FileDescriptorStoreMax,NFileDescriptorStore
check "NFileDescriptorStore counts the 2 locks" test "$(prop NFileDescriptorStore)" = 2
nsx systemctl kill -s KILL --kill-whom=main holdfastd.service
echo "killed MainPID $PID0 with SIGKILL"
check "restarted with a new MainPID" wait_active "$PID0"
sleep 1; show
PID1=$(prop MainPID)
check "NRestarts=1" test "$(prop NRestarts)" = 1
check "StatusText: 0 clients, 2 locks held" grep -q '0 clients, 2 locks held' <<<"$(prop StatusText)"
check "NFileDescriptorStore still 2" test "$(prop NFileDescriptorStore)" = 2
fresh; pstat
check "prober never saw a lock free across the SIGKILL and restart" test "$(free_after_held)" = 0
locks
journal -u holdfastd.service | grep -vE 'holdfastd-worker' | tail -20
check "journal: the restarted daemon re-adopted both stored lock fds (warning level)" \
  test "$(jcount 'lock re-adopted from the systemd fd store')" -ge 2
cat "$B/client1.log"

hdr "4b. systemctl restart (README: locks kept, connections lost)"
nsx systemctl restart holdfastd.service; echo "restart exit $?"
check "active again with a new MainPID" wait_active "$PID1"
sleep 1; show
fresh; pstat
check "prober never saw a lock free across systemctl restart" test "$(free_after_held)" = 0
check "NFileDescriptorStore still 2" test "$(prop NFileDescriptorStore)" = 2
check "journal: re-adopted both again after the restart" test "$(jcount 'lock re-adopted from the systemd fd store')" -ge 4

hdr "4c. the owner (client1's pid, registered as owner) exits: its locks are released"
nsx kill -TERM "$(nspid client1)"
for i in $(seq 1 50); do none_held && break; sleep 0.1; done; fresh
pstat; cat "$B/prober.log"
check "both locks released after the owner exited" none_held
check "NFileDescriptorStore back to 0" test "$(prop NFileDescriptorStore)" = 0
show; locks
journal -u holdfastd.service | grep -vE 'holdfastd-worker' | tail -6
nsx kill -TERM "$(nspid prober)"

hdr "5. systemctl stop releases everything"
spawn client2 "$NODE" "$HERE/client.js" "$SOCK" "$B/disks/disk-c.img"
check "client2 holds disk-c" wait_log client2 '^HELD'
spawn prober2 "$NODE" "$HERE/prober.js" "$B/prober2.status" "$B/disks/disk-c.img"
sleep 1; show; locks
check "prober2 sees disk-c held" all_held prober2
nsx systemctl stop holdfastd.service; echo "stop exit $?"
for i in $(seq 1 50); do none_held prober2 && break; sleep 0.1; done; fresh
show; pstat prober2; cat "$B/prober2.log"; locks
check "disk-c released by the stop" none_held prober2
check "owner client2 still alive (so it was the stop that released)" alive client2
check "NFileDescriptorStore 0 after stop" test "$(prop NFileDescriptorStore)" = 0
check "service inactive" test "$(prop ActiveState)" = inactive
journal -u holdfastd.service | grep -vE 'holdfastd-worker' | tail -8
nsx systemctl stop holdfastd.socket holdfastd-admin.socket
check "sockets removed (RemoveOnStop=yes)" test -z "$(nsx ls /run/libvirt 2>/dev/null)"

hdr "full journal of holdfastd.service and its sockets"
journal -u holdfastd.service -u holdfastd.socket -u holdfastd-admin.socket
DONE=1
hdr "result: $PASS passed, $FAIL failed"
[ "$FAIL" = 0 ] && [ "$PASS" -gt 0 ]
