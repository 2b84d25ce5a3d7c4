// Which resources are cluster-wide: those of a configured directory lockspace (named as clients name it),
// and those of the default lockspace whose path starts with a configured prefix. Everything else is local,
// exactly as without a cluster.
import type { ClusterSettings } from '../../shared/cluster/cluster-settings';

export class ClusterScope {
  readonly #lockspaces: ReadonlySet<string>;
  readonly #prefixes: readonly string[];

  constructor(settings: Pick<ClusterSettings, 'lockspaces' | 'pathPrefixes'>) {
    this.#lockspaces = new Set(settings.lockspaces);
    this.#prefixes = settings.pathPrefixes;
  }

  /** `lockspace`: "" for the default lockspace, else the directory as the client named it. */
  covers(lockspace: string, path: string): boolean {
    if (lockspace !== '') return this.#lockspaces.has(lockspace);
    for (const prefix of this.#prefixes) if (path.startsWith(prefix)) return true;
    return false;
  }
}
