// User and group names for a peer's uid/gid, as virt-admin's client-info shows them (libvirt looks them up
// with getpwuid/getgrgid). Read from /etc/passwd and /etc/group; NSS-only accounts (LDAP, sssd) get no name.
import { readFileSync } from 'node:fs';
import { userInfo } from 'node:os';

function lookup(file: string, id: number): string | null {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return null;
  }
  for (const line of text.split('\n')) {
    // name:password:id:...
    const fields = line.split(':');
    if (fields.length >= 3 && fields[2] === String(id) && fields[0] !== '') return fields[0]!;
  }
  return null;
}

/** The user name of `uid`, or null when it has none we can find. */
export function userName(uid: number): string | null {
  const fromFile = lookup('/etc/passwd', uid);
  if (fromFile !== null) return fromFile;
  // Peers must have our own uid, so libuv's getpwuid_r answer for ourselves covers NSS accounts too.
  try {
    const me = userInfo();
    if (me.uid === uid) return me.username;
  } catch {
    // No passwd entry at all.
  }
  return null;
}

/** The group name of `gid`, or null when it has none we can find. */
export function groupName(gid: number): string | null {
  return lookup('/etc/group', gid);
}
