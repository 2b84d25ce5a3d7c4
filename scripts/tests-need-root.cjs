// First step of `npm test`: the suite runs daemons as other users (setpriv), checks peer credentials and
// takes system paths, so as any other user it would fail part-way or hang. Refuse at once, in one line.
'use strict';
if (typeof process.geteuid === 'function' && process.geteuid() !== 0) {
  process.stderr.write(`npm test: the tests must run as root (uid 0; you are uid ${process.geteuid()}): they start daemons as other users and check what root sees; run: sudo npm test\n`);
  process.exit(1);
}
