// The etcd side of a cluster hold: one transaction that records an owner's hold only if no other host's hold
// conflicts (an exclusive hold excludes every other hold; shared holds coexist), attached to this host's
// lease; and a delete conditional on the hold being still the one we made. Operations on one key run one
// after another, so a release in flight always finishes before the same key is asked for again.
//
// Keys of this host that etcd has but this worker does not count as live (a worker killed between etcd's
// commit and custody's, or a release whose delete never arrived) are stale: the local OFD lock, which this
// host's ACQUIRE took first, proves no local owner holds them, so they are deleted and the hold retried.
import type { Etcd3, IKeyValue, IRequestOp, ITxnResponse } from 'etcd3';
import type { Logger } from 'pino';
import type { ClusterHold } from '../../shared/custody/records/cluster-hold-record';
import { type HoldKeys, type HoldValue, parseHoldValue, sharedHoldKey } from './hold-keys';

/** How long one etcd call may take: a partitioned etcd must fail the request, not hang it. */
export const ETCD_CALL_TIMEOUT_MS = 2000;
// A stale key of ours is deleted and the hold retried; more rounds than this means something keeps racing us.
const MAX_ATTEMPTS = 4;

/** What an owner asks etcd for. */
export interface HoldRequest {
  keys: HoldKeys;
  shared: boolean;
  value: HoldValue;
}

/** Another host holds the resource in a conflicting mode. */
export class HeldElsewhere extends Error {
  constructor(readonly holder: HoldValue | null) {
    super(`held by host ${holder?.host ?? '(unknown)'}`);
  }
}

/** etcd did not answer (or refused) in time: nothing was granted. */
export class ClusterUnavailable extends Error {
  constructor(readonly reason: unknown) {
    super((reason as Error)?.message ?? String(reason));
  }
}

const buf = (s: string): Buffer => Buffer.from(s, 'utf8');

export class EtcdHolds {
  readonly #chains = new Map<string, Promise<unknown>>();

  constructor(
    private readonly client: Etcd3,
    private readonly host: string,
    private readonly log: Logger,
  ) {}

  /**
   * Records the hold in etcd attached to `lease`. `isLive(key)`: whether this worker counts an etcd key of
   * this host as a hold it has (so it is not stale). Throws HeldElsewhere or ClusterUnavailable.
   */
  take(request: HoldRequest, lease: string, isLive: (key: string) => boolean): Promise<ClusterHold> {
    const key = request.shared ? sharedHoldKey(request.keys, request.value.owner.pid) : request.keys.exclusive;
    return this.#serial(key, () => this.#take(key, request, lease, isLive));
  }

  /** Deletes the hold if it is still the one we made (a later hold of the same key is left alone). */
  drop(hold: ClusterHold): Promise<void> {
    return this.#serial(hold.key, async () => {
      await this.#txn({
        compare: [{ key: buf(hold.key), target: 'Mod', result: 'Equal', mod_revision: hold.rev }],
        success: [{ request_delete_range: { key: buf(hold.key) } }],
        failure: [],
      });
    });
  }

  /**
   * Deletes every key on `lease` that holds for this host but that `isLive` does not count (a worker killed
   * between etcd's commit and custody's leaves one; nobody would ever release it). Returns how many went.
   */
  async sweep(lease: string, isLive: (key: string) => boolean): Promise<number> {
    let attached: Buffer[];
    try {
      const answer = await this.client.leaseClient.leaseTimeToLive({ ID: lease, keys: true }, { deadline: Date.now() + ETCD_CALL_TIMEOUT_MS });
      attached = (answer as { keys?: Buffer[] }).keys ?? [];
    } catch (err) {
      throw new ClusterUnavailable(err);
    }
    let swept = 0;
    for (const raw of attached) {
      const key = raw.toString('utf8');
      if (isLive(key)) continue;
      swept += await this.#serial(key, async () => {
        if (isLive(key)) return 0;
        const found = await this.client.kv.range({ key: raw }, { deadline: Date.now() + ETCD_CALL_TIMEOUT_MS });
        const kv = found.kvs[0];
        if (kv === undefined || parseHoldValue(kv.value)?.host !== this.host) return 0;
        const done = await this.#txn({
          compare: [{ key: raw, target: 'Mod', result: 'Equal', mod_revision: kv.mod_revision }],
          success: [{ request_delete_range: { key: raw } }],
          failure: [],
        });
        return done.succeeded ? 1 : 0;
      });
    }
    return swept;
  }

  async #take(key: string, request: HoldRequest, lease: string, isLive: (key: string) => boolean): Promise<ClusterHold> {
    const keys = request.keys;
    const value = buf(JSON.stringify(request.value));
    for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
      const compare = [{ key: buf(keys.exclusive), target: 'Create' as const, result: 'Equal' as const, create_revision: 0 }];
      // Exclusive: no shared hold on any host either. Shared: not our own key (a stale one is dealt with below).
      if (request.shared) compare.push({ key: buf(key), target: 'Create', result: 'Equal', create_revision: 0 });
      else compare.push({ key: buf(keys.sharedStart), range_end: buf(keys.sharedEnd), target: 'Create', result: 'Equal', create_revision: 0 } as (typeof compare)[0]);
      const failure: IRequestOp[] = [
        { request_range: { key: buf(keys.exclusive) } },
        { request_range: { key: buf(keys.sharedStart), range_end: buf(keys.sharedEnd), limit: 64 } },
      ];
      const response = await this.#txn({ compare, success: [{ request_put: { key: buf(key), value, lease } }], failure });
      if (response.succeeded) {
        const revision = response.header.revision;
        return { pid: request.value.owner.pid, key, token: revision, rev: revision, lease };
      }
      const holders = [...response.responses[0]!.response_range.kvs, ...response.responses[1]!.response_range.kvs];
      const stale: IKeyValue[] = [];
      let conflict: HoldValue | null | undefined;
      for (const kv of holders) {
        const holder = parseHoldValue(kv.value);
        const ours = holder?.host === this.host && !isLive(kv.key.toString('utf8'));
        if (ours) stale.push(kv);
        else if (!request.shared || kv.key.toString('utf8') === keys.exclusive) conflict ??= holder;
      }
      if (conflict !== undefined) throw new HeldElsewhere(conflict);
      if (stale.length === 0) continue; // it changed under us: look again
      for (const kv of stale) {
        this.log.warn({ key: kv.key.toString('utf8'), token: kv.create_revision }, 'deleting a stale cluster hold of this host that no owner holds');
        await this.#txn({
          compare: [{ key: kv.key, target: 'Mod', result: 'Equal', mod_revision: kv.mod_revision }],
          success: [{ request_delete_range: { key: kv.key } }],
          failure: [],
        });
      }
    }
    throw new ClusterUnavailable(new Error(`the holds of ${key} kept changing over ${MAX_ATTEMPTS} attempts`));
  }

  async #txn(request: { compare: object[]; success: IRequestOp[]; failure: IRequestOp[] }): Promise<ITxnResponse> {
    try {
      return await this.client.kv.txn(request as Parameters<Etcd3['kv']['txn']>[0], { deadline: Date.now() + ETCD_CALL_TIMEOUT_MS });
    } catch (err) {
      throw new ClusterUnavailable(err);
    }
  }

  #serial<T>(key: string, op: () => Promise<T>): Promise<T> {
    const before = this.#chains.get(key) ?? Promise.resolve();
    const run = before.then(op, op);
    const settled = run.then(
      () => undefined,
      () => undefined,
    );
    this.#chains.set(key, settled);
    void settled.then(() => {
      if (this.#chains.get(key) === settled) this.#chains.delete(key);
    });
    return run;
  }
}
