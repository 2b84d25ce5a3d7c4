#!/bin/bash
# Runs as pid 1 of the new pid namespace (unshare --fork), in private mount/uts/ipc/net/cgroup namespaces:
# builds the view of the filesystem a containerised systemd needs, then execs systemd in its place. $1: scratch dir.
set -eu
B=$1
# /proc is fresh (--mount-proc); keep global sysctls out of reach (systemd bumps fs.nr_open, core_pattern...).
mount --bind /proc/sys /proc/sys
mount -o remount,bind,ro /proc/sys
# cgroup v2 only, rooted at our own cgroup (the cgroup namespace makes it "/").
umount -R /sys/fs/cgroup
mount -o remount,bind,ro /sys
mount -t cgroup2 -o rw,nosuid,nodev,noexec cgroup2 /sys/fs/cgroup
# private /run, like a fresh boot
mount -t tmpfs -o mode=755,nosuid,nodev tmpfs /run
# a curated unit set: nothing from the host's /lib or /etc units or generators may run here
mount --bind "$B/lib-units" /usr/lib/systemd/system
mount -o remount,bind,ro /usr/lib/systemd/system
mount -t tmpfs -o mode=755 tmpfs /etc/systemd/system
mount -t tmpfs -o mode=755 tmpfs /usr/lib/systemd/system-generators
mount -t tmpfs -o mode=755 tmpfs /usr/lib/systemd/system-environment-generators
# journald writes to our own tmpfs, not the host's /var/log/journal
mount -t tmpfs -o mode=2755 tmpfs /var/log/journal
# `holdfastd` on systemd's fixed search path, inside this namespace only
mount -t tmpfs -o mode=755 tmpfs /usr/local/sbin
cp "$B/holdfastd-wrapper" /usr/local/sbin/holdfastd
chmod 755 /usr/local/sbin/holdfastd
# console: the pty we were started on (script(1)), or a file
if tty -s; then mount --bind "$(tty)" /dev/console; else : > "$B/console.out"; mount --bind "$B/console.out" /dev/console; fi
export container=hf-e2e
exec /lib/systemd/systemd --system --log-target=journal --log-level=info --show-status=false
