// Imported first by holdfastd, before anything else loads: Node without --disable-sigusr1 (Node 20 and
// older, past their end of life) opens the inspector, a root shell for any local user, on a SIGUSR1 that
// lands before a listener exists, and nothing in JavaScript can close that instant. Refuse to run there.
if (!process.allowedNodeEnvironmentFlags.has('--disable-sigusr1')) {
  process.stderr.write(`holdfastd: Node ${process.version} cannot keep SIGUSR1 from opening its inspector before the daemon's first line; run holdfastd on Node 22.14+ or 24\n`);
  process.exit(2);
}
export {};
