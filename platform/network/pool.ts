/**
 * The pool: K clone slots created ahead, so that acquiring one during a restore is a single
 * database UPDATE (Ipam.takeReady) instead of a 40–60 ms set-up.
 *
 * Refills run in the background, one slot at a time, after every take and release; a failed
 * refill stops the round (it would most likely fail again: exhaustion, missing permissions) and
 * the next take or release starts a new one. A released slot is never put back: it is torn down
 * and replaced by a fresh one, because a recycled namespace would keep the previous guest's
 * conntrack entries (and a restored clone reuses the same guest IP and likely the same ports).
 */
import { NetSetupFailed } from './errors.ts';
import type { Ipam, SlotKind } from './ipam.ts';
import type { SetupLog } from './service.ts';
import type { SlotHost } from './setup.ts';
import type { SlotPolicy } from './slot.ts';

export interface SlotPoolOptions {
  ipam: Ipam;
  host: SlotHost;
  /** Service instance id, recorded as the owner of rows this pool creates. */
  owner: string;
  /** How many ready slots to keep. 0 disables the pool. */
  size: number;
  /** Policy slots are created with (the configuration's defaults). */
  policy: SlotPolicy;
  log: SetupLog;
}

export class SlotPool {
  readonly #o: SlotPoolOptions;
  #round: Promise<void> | null = null;
  #again = false;
  #closed = false;
  #creating = 0;

  constructor(o: SlotPoolOptions) {
    this.#o = o;
  }

  get size(): number {
    return this.#o.size;
  }

  /** Slots being created for the pool right now. */
  get creating(): number {
    return this.#creating;
  }

  /** Starts a refill round unless one runs (then it re-checks once it ends). Never rejects. */
  refill(): Promise<void> {
    if (this.#closed || this.#o.size === 0) return Promise.resolve();
    if (this.#round) {
      this.#again = true;
      return this.#round;
    }
    // Start on the next turn of the event loop: spawning the set-up shell blocks the loop for a
    // few milliseconds, and the acquire that triggered the refill should return before that.
    this.#round = new Promise<void>((r) => setImmediate(r))
      .then(() => this.#run())
      .finally(() => {
        this.#round = null;
        if (this.#again && !this.#closed) {
          this.#again = false;
          void this.refill();
        }
      });
    return this.#round;
  }

  /** Waits for the current round, if any (tests and the bench use it to reach a full pool). */
  async settled(): Promise<void> {
    while (this.#round) await this.#round;
  }

  /** Stops refilling and waits for the slot being created to finish. */
  async close(): Promise<void> {
    this.#closed = true;
    await this.settled();
  }

  async #run(): Promise<void> {
    const { ipam, host, owner, policy, log } = this.#o;
    while (!this.#closed && ipam.count('clone', 'ready') + this.#creating < this.#o.size) {
      this.#creating++;
      let slot: number | null = null;
      try {
        slot = ipam.reserve('clone', owner).slot;
        const started = performance.now();
        await host.createSlot(slot, policy);
        ipam.markCreated('clone', slot, policy);
        log({ event: 'net.pool.created', slot, ms: Math.round(performance.now() - started) });
      } catch (err) {
        if (slot !== null) abandon(ipam, 'clone', slot, err);
        log({ event: 'net.pool.refill_failed', slot, error: err instanceof Error ? err.message : String(err) });
        return;
      } finally {
        this.#creating--;
      }
    }
  }
}

/**
 * Gives a slot number back after a failed set-up: freed when the rollback removed everything,
 * otherwise left `destroying` so reconciliation removes the remains before anyone reuses it.
 */
export function abandon(ipam: Ipam, kind: SlotKind, slot: number, err: unknown): void {
  if (NetSetupFailed.is(err) && err.data.rolledBack === true) ipam.free(kind, slot);
  else ipam.markDestroying(kind, slot);
}
