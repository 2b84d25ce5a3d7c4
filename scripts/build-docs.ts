// Build step: the man pages holdfastd(8) and holdfast(1) (installed through package.json's "man") and
// holdfast's bash completion, all from the command lines' own definitions (docs/cli-definitions.ts), the
// settings schema and docs/reference.ts.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { bashCompletion } from './docs/bash-completion';
import { loadCliDefinitions } from './docs/cli-definitions';
import { clientPage, daemonPage } from './docs/man-pages';

const ROOT = join(__dirname, '..', '..');
const DIST = join(ROOT, 'dist');
const version = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;

function write(file: string, content: string): void {
  mkdirSync(join(file, '..'), { recursive: true });
  writeFileSync(file, content);
}

const cli = loadCliDefinitions();
write(join(DIST, 'man', 'man8', 'holdfastd.8'), daemonPage(cli.holdfastd, version));
write(join(DIST, 'man', 'man1', 'holdfast.1'), clientPage(cli.holdfast, version));
write(join(DIST, 'completion', 'holdfast.bash'), bashCompletion(cli.holdfast));
process.stdout.write('man pages and completion: dist/man/man8/holdfastd.8, dist/man/man1/holdfast.1, dist/completion/holdfast.bash\n');
process.exit(0); // the daemon's signal intake, loaded with its command line, would keep this process alive
