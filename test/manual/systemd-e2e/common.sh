# Sourced by run.sh (and usable by hand): boot and teardown of a real systemd as pid 1 of private pid/mount/uts/
# ipc/net/cgroup namespaces, with a curated unit set. Expects B (scratch dir), ROOT (repo), HERE, NODE set.
CG_ROOT=$(findmnt -n -t cgroup2 -o TARGET | head -1)
CG=$CG_ROOT/hf-e2e-${B##*/}

prepare_units() {
  rm -rf "$B/lib-units"; mkdir -p "$B/lib-units"
  local u
  for u in exit.target final.target halt.target poweroff.target reboot.target shutdown.target umount.target \
           systemd-exit.service systemd-halt.service systemd-poweroff.service systemd-reboot.service \
           systemd-journald.service systemd-journald.socket systemd-journald-dev-log.socket systemd-journald-audit.socket; do
    cp "/usr/lib/systemd/system/$u" "$B/lib-units/" || return 1
  done
  # Empty sysinit/basic/sockets targets: no host boot units (systemd-tmpfiles --remove would clean the host's /tmp).
  printf '[Unit]\nDescription=System Initialization (hf-e2e, empty)\nDefaultDependencies=no\n' > "$B/lib-units/sysinit.target"
  printf '[Unit]\nDescription=Basic System (hf-e2e, empty)\nRequires=sysinit.target\nAfter=sysinit.target sockets.target\n' > "$B/lib-units/basic.target"
  printf '[Unit]\nDescription=Sockets\nDefaultDependencies=no\n' > "$B/lib-units/sockets.target"
  printf '[Unit]\nDescription=hf-e2e boot target\nRequires=basic.target\nWants=systemd-journald.socket systemd-journald-dev-log.socket systemd-journald.service sockets.target\nAfter=basic.target\nAllowIsolate=yes\n' > "$B/lib-units/hf-e2e.target"
  ln -s hf-e2e.target "$B/lib-units/default.target"
}

boot() {
  mkdir -p "$B"
  # `holdfastd` as systemd will find it (on its fixed search path, inside the namespace only): the repo's dist/.
  printf '#!/bin/sh\nexec %q %q "$@"\n' "$NODE" "$ROOT/dist/src/cli/holdfastd.js" > "$B/holdfastd-wrapper"
  prepare_units || return 1
  [ -n "$CG_ROOT" ] || { echo "no cgroup2 hierarchy mounted"; return 1; }
  mkdir -p "$CG"
  local cmd
  cmd=$(printf '%q ' unshare --pid --fork --mount-proc --mount --uts --ipc --net --cgroup --propagation private \
        --kill-child "$HERE/ns-init.sh" "$B")
  # script(1) gives systemd a pty as /dev/console; its output is the console log.
  ( echo $BASHPID > "$CG/cgroup.procs"
    exec setsid script -qfec "$cmd" "$B/console.log" </dev/null >/dev/null 2>&1 ) &
  echo $! > "$B/script.pid"
  local i us
  for i in $(seq 1 100); do
    sleep 0.2
    # pid 1 of the namespace = the child of unshare
    us=$(pgrep -x unshare -P "$(cat "$B/script.pid")" 2>/dev/null | head -1)
    [ -n "$us" ] || continue
    NS1=$(pgrep -P "$us" | head -1)
    [ -n "$NS1" ] || continue
    if [ "$(cat /proc/$NS1/comm 2>/dev/null)" = systemd ] && nsx systemctl is-system-running 2>/dev/null | grep -qE 'running|degraded'; then
      echo "$NS1" > "$B/ns1.pid"; return 0
    fi
  done
  echo "systemd did not come up; console log:"; cat "$B/console.log"; return 1
}

# run a command inside every namespace of the container
nsx() { nsenter -t "${NS1:-$(cat "$B/ns1.pid")}" -a "$@"; }

teardown() {
  local p i
  if [ -f "$B/ns1.pid" ] && p=$(cat "$B/ns1.pid") && [ -d /proc/$p ] && [ "$(cat /proc/$p/comm)" = systemd ]; then
    # A clean poweroff only when systemd knows it is in a container (then systemd-shutdown leaves swap, loop
    # and DM devices alone, which are global); otherwise SIGKILL pid 1, which ends the whole namespace.
    if [ "$(timeout 10 nsenter -t "$p" -a systemd-detect-virt --container 2>/dev/null)" = container-other ]; then
      timeout 20 nsenter -t "$p" -a systemctl poweroff --no-block >/dev/null 2>&1 || true
    fi
    for i in $(seq 1 50); do [ -d /proc/$p ] || break; sleep 0.2; done
    [ -d /proc/$p ] && kill -KILL "$p" 2>/dev/null
  fi
  [ -f "$B/script.pid" ] && kill "$(cat "$B/script.pid")" 2>/dev/null
  sleep 0.5
  # remove our cgroup tree, deepest first
  [ -d "$CG" ] && find "$CG" -mindepth 1 -depth -type d -exec rmdir {} \; 2>/dev/null; rmdir "$CG" 2>/dev/null
  rm -f "$B/ns1.pid" "$B/script.pid"
  return 0
}
