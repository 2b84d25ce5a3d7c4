// Manual systemd check, independent prober: every 10 ms asks F_OFD_GETLK for a write lock on byte 0 of each file
// (its own open file description, its own process). Logs each change of state; writes counters to <status> every
// 200 ms. freeAfterHeld[i] counts samples where file i was free after it had once been seen held.
'use strict';
const fs = require('node:fs');
const path = require('node:path');
const native = require(path.join(__dirname, '../../../dist/src/shared/platform/native.js'));

const [status, ...files] = process.argv.slice(2);
const fds = files.map((f) => fs.openSync(f, 'r+'));
const st = { samples: 0, held: files.map(() => null), seenHeld: files.map(() => false), freeAfterHeld: files.map(() => 0), files };
const tick = () => {
  fds.forEach((fd, i) => {
    const h = native.ofdGetLock(fd, 'write', 0, 1) !== null;
    if (h !== st.held[i]) console.log(new Date().toISOString(), files[i], h ? 'HELD' : 'FREE');
    st.held[i] = h;
    if (h) st.seenHeld[i] = true;
    else if (st.seenHeld[i]) st.freeAfterHeld[i]++;
  });
  st.samples++;
};
tick();
setInterval(tick, 10);
const dump = () => {
  fs.writeFileSync(status + '.tmp', JSON.stringify(st));
  fs.renameSync(status + '.tmp', status);
};
setInterval(dump, 200);
process.on('SIGTERM', () => { dump(); process.exit(0); });
