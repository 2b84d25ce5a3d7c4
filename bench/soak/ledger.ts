// What the soak believes is held, and by whom: a file is believed held from the moment one holder's ACQUIRE
// was answered OK until its last holder is about to send RELEASE (or to let go by disconnecting). The prober
// watches exactly those files; a holder may only let go once the prober has stopped looking.
import type { Prober } from './prober';

export class Ledger {
  readonly #holders = new Map<string, Set<string>>();
  readonly #byHolder = new Map<string, Set<string>>();

  constructor(private readonly prober: Prober) {}

  /** `holder`'s ACQUIRE of `path` was answered OK. */
  held(path: string, holder: string): void {
    let holders = this.#holders.get(path);
    if (!holders) this.#holders.set(path, (holders = new Set()));
    if (holders.size === 0) this.prober.watch(path);
    holders.add(holder);
    let paths = this.#byHolder.get(holder);
    if (!paths) this.#byHolder.set(holder, (paths = new Set()));
    paths.add(path);
  }

  /** `holder` is about to release `path`: resolves once that may not count as a miss. */
  async releasing(path: string, holder: string): Promise<void> {
    this.#byHolder.get(holder)?.delete(path);
    const holders = this.#holders.get(path);
    if (!holders?.delete(holder)) return;
    if (holders.size > 0) return;
    this.#holders.delete(path);
    await this.prober.unwatch(path);
  }

  /** `holder` is about to let go of everything (disconnect, be killed). */
  async releasingAll(holder: string): Promise<void> {
    const paths = [...(this.#byHolder.get(holder) ?? [])];
    await Promise.all(paths.map((p) => this.releasing(p, holder)));
    this.#byHolder.delete(holder);
  }

  heldBy(holder: string): number {
    return this.#byHolder.get(holder)?.size ?? 0;
  }

  /** Files believed held right now. */
  get size(): number {
    return this.#holders.size;
  }
}
