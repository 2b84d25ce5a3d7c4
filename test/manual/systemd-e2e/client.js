// Manual systemd check, client: plays a QEMU. Registers its own pid as owner, acquires each file (lockspace ""),
// prints "HELD <pid>", then lives on (even when the daemon drops the connection) until SIGTERM.
'use strict';
const path = require('node:path');
const crypto = require('node:crypto');
const { LockClient } = require(path.join(__dirname, '../../../dist/src/client/lock-client.js'));

const [sock, ...files] = process.argv.slice(2);
(async () => {
  const c = await LockClient.connect(sock);
  c.on('error', (e) => console.log('client error', e.message));
  c.closed?.then?.(() => console.log(new Date().toISOString(), 'connection closed by daemon; owner lives on'));
  await c.register({ uuid: crypto.randomUUID(), name: 'e2e-vm', id: 1, pid: process.pid });
  for (const f of files) await c.acquire('', f, 0);
  console.log('HELD', process.pid, files.join(' '));
  setInterval(() => {}, 1 << 30);
})().catch((e) => { console.log('FAILED', (e && e.stack) || e); process.exit(1); });
process.on('SIGTERM', () => { console.log('owner exiting'); process.exit(0); });
