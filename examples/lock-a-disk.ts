// Using the client library: lock a disk image as libvirt does, see who holds it, release it.
// Run against a daemon: node dist/examples/lock-a-disk.js <lock socket> <admin socket> <disk image>
import { randomUUID } from 'node:crypto';
import { AcquireFlags, AdminClient, LockClient, LockError, VirErrorCode } from 'holdfast';

async function main(lockSocket: string, adminSocket: string, disk: string): Promise<void> {
  // One connection per owner (a VM): register it first. The id must not be 0 (0 means "not registered").
  const qemu = await LockClient.connect(lockSocket);
  await qemu.register({ uuid: randomUUID(), name: 'guest-1', id: 1, pid: process.pid });

  // The default lockspace is '' and names each resource by its absolute path: the disk image itself.
  await qemu.acquire('', disk, 0); // exclusive; AcquireFlags.SHARED for a read-only disk

  // Another owner asking for the same disk is refused: RESOURCE_BUSY, with libvirt's message.
  const other = await LockClient.connect(lockSocket);
  await other.register({ uuid: randomUUID(), name: 'guest-2', id: 2, pid: process.pid });
  try {
    await other.acquire('', disk, AcquireFlags.SHARED);
    throw new Error('a held disk was locked twice');
  } catch (err) {
    if (!(err instanceof LockError) || err.code !== VirErrorCode.RESOURCE_BUSY) throw err;
    console.log(`guest-2 refused: ${err.message}`);
  }

  // The admin socket says who holds it.
  const admin = await AdminClient.connect(adminSocket);
  const who = await admin.who(disk);
  for (const holder of who.holders) {
    console.log(`${who.path} is held ${holder.mode} by ${holder.owners.map((o) => `${o.name} (pid ${o.pid})`).join(', ')}`);
  }

  // Release it before closing: a connection that closes with locks held means its owner died, and the
  // daemon then kills the owner's pid (as virtlockd does) to keep the disk from being written unlocked.
  await qemu.release('', disk, 0);
  console.log(`after release: ${(await admin.who(disk)).held ? 'held' : 'free'}`);

  await Promise.all([qemu.close(), other.close(), admin.close()]);
}

const [lockSocket, adminSocket, disk] = process.argv.slice(2);
if (lockSocket === undefined || adminSocket === undefined || disk === undefined) {
  console.error('usage: lock-a-disk <lock socket> <admin socket> <disk image>');
  process.exit(2);
}
main(lockSocket, adminSocket, disk).catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
