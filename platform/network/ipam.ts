/**
 * IPAM: which slot numbers (and therefore which addresses, see slot.ts) are in use, by whom, in
 * SQLite (the `net_slots` table, schema.ts).
 *
 * One row per slot in use. A row moves `creating` → `ready` (pre-created, in the pool) →
 * `leased` (held by a VM) → back to `ready` or to `destroying` → deleted. A slot number is free
 * exactly when it has no row, so an address is never handed out twice: every allocation picks the
 * lowest free number and inserts its row inside one `BEGIN IMMEDIATE` transaction, which takes
 * SQLite's write lock before reading, so two allocators (threads or processes on one file) are
 * serialised and the primary key (kind, slot) makes a double insert impossible anyway.
 * Rows survive restarts; `reclaim` and `staleRows` let the service clean up after a crash.
 */
import type Database from 'better-sqlite3';
import { and, count, eq, inArray, isNotNull, ne, sql } from 'drizzle-orm';
import { drizzle, type BetterSQLite3Database } from 'drizzle-orm/better-sqlite3';
import { NetExhausted, NetLeaseExists } from './errors.ts';
import { netSlotsTable as slots, type SlotKind, type SlotState } from './schema.ts';
import type { SlotPolicy } from './slot.ts';

export type { SlotKind, SlotState } from './schema.ts';

/** One slot in use. */
export interface SlotRow {
  kind: SlotKind;
  slot: number;
  state: SlotState;
  /** The VM holding the slot (leased, or being created for it). */
  vmId: string | null;
  /** The service instance that created or last adopted the row. */
  owner: string;
  /** The policy applied on the host, once known. */
  policy: SlotPolicy | null;
  createdAt: number;
  leasedAt: number | null;
}

const slotKey = (kind: SlotKind, slot: number) => and(eq(slots.kind, kind), eq(slots.slot, slot));

/**
 * Slot-number allocation over a better-sqlite3 connection whose schema has `networkMigrations`.
 * It takes the bare connection, not the platform store, because `NetworkService` does (tools and
 * tests open one without the platform's migrations); queries go through drizzle over it, and
 * transactions through the connection, whose `immediate()` drizzle does not offer.
 */
export class Ipam {
  readonly #sqlite: Database.Database;
  readonly #db: BetterSQLite3Database;
  readonly #capacity: Record<SlotKind, number>;
  readonly #now: () => number;

  constructor(db: Database.Database, capacity: Record<SlotKind, number>, now: () => number = Date.now) {
    this.#sqlite = db;
    this.#db = drizzle(db);
    this.#capacity = capacity;
    this.#now = now;
  }

  /**
   * Reserves the lowest free slot number of `kind` as `creating`. With `vmId` the row is created
   * on that VM's behalf (on-demand set-up), and a VM that already holds a row is refused.
   */
  reserve(kind: SlotKind, owner: string, vmId: string | null = null): SlotRow {
    return this.#immediate(() => {
      if (vmId !== null) this.#refuseHolder(vmId);
      const free = this.#lowestFree(kind);
      if (free >= this.#capacity[kind]) {
        throw NetExhausted(`all ${this.#capacity[kind]} ${kind} network slots are in use.`, { data: { kind, capacity: this.#capacity[kind] } });
      }
      this.#db.insert(slots).values({ kind, slot: free, state: 'creating', vmId, owner, createdAt: this.#now() }).run();
      return this.get(kind, free)!;
    });
  }

  /**
   * Leases the lowest `ready` slot of `kind` to `vmId`: the pool's fast path, one UPDATE.
   * Returns null when the pool is empty.
   */
  takeReady(kind: SlotKind, vmId: string): SlotRow | null {
    return this.#immediate(() => {
      this.#refuseHolder(vmId);
      const row = this.#db
        .select({ slot: slots.slot })
        .from(slots)
        .where(and(eq(slots.kind, kind), eq(slots.state, 'ready')))
        .orderBy(slots.slot)
        .limit(1)
        .get();
      if (!row) return null;
      this.#db.update(slots).set({ state: 'leased', vmId, leasedAt: this.#now() }).where(slotKey(kind, row.slot)).run();
      return this.get(kind, row.slot)!;
    });
  }

  /**
   * Hands `from`'s lease to `to` (a spare VMM's slot adopted by a VM): one UPDATE, the slot and
   * its addresses unchanged. Null when `from` holds no lease; `net_lease_exists` if `to` holds one.
   */
  transfer(from: string, to: string): SlotRow | null {
    return this.#immediate(() => {
      this.#refuseHolder(to);
      const row = this.byVm(from);
      if (!row || row.state !== 'leased') return null;
      this.#db.update(slots).set({ vmId: to, leasedAt: this.#now() }).where(slotKey(row.kind, row.slot)).run();
      return this.get(row.kind, row.slot)!;
    });
  }

  /** `creating` → `ready` (no holder) or `leased` (to the VM it was created for). */
  markCreated(kind: SlotKind, slot: number, policy: SlotPolicy): void {
    const now = this.#now();
    this.#immediate(() => {
      const row = this.get(kind, slot);
      if (row?.state !== 'creating') return;
      const leased = row.vmId !== null;
      this.#db
        .update(slots)
        .set({ state: leased ? 'leased' : 'ready', leasedAt: leased ? now : null, policy })
        .where(slotKey(kind, slot))
        .run();
    });
  }

  /** Records the policy now applied on the host. */
  setPolicy(kind: SlotKind, slot: number, policy: SlotPolicy): void {
    this.#db.update(slots).set({ policy }).where(slotKey(kind, slot)).run();
  }

  /** `leased` → `ready`: the slot goes back to the pool, clean. */
  returnToPool(kind: SlotKind, slot: number, policy: SlotPolicy): void {
    this.#db.update(slots).set({ state: 'ready', vmId: null, leasedAt: null, policy }).where(slotKey(kind, slot)).run();
  }

  /** Marks a slot as being torn down: it stays allocated until `free`, so nobody reuses it early. */
  markDestroying(kind: SlotKind, slot: number): void {
    this.#db.update(slots).set({ state: 'destroying', vmId: null }).where(slotKey(kind, slot)).run();
  }

  /** Deletes the row: the slot number and its addresses are free again. */
  free(kind: SlotKind, slot: number): void {
    this.#db.delete(slots).where(slotKey(kind, slot)).run();
  }

  /** Makes this instance the owner of rows a previous run left `ready`/`leased` (after checking the host). */
  adopt(kind: SlotKind, slot: number, owner: string): void {
    this.#db.update(slots).set({ owner }).where(slotKey(kind, slot)).run();
  }

  get(kind: SlotKind, slot: number): SlotRow | null {
    return this.#db.select().from(slots).where(slotKey(kind, slot)).get() ?? null;
  }

  byVm(vmId: string): SlotRow | null {
    return this.#db.select().from(slots).where(eq(slots.vmId, vmId)).get() ?? null;
  }

  list(kind?: SlotKind): SlotRow[] {
    return this.#db
      .select()
      .from(slots)
      .where(kind ? eq(slots.kind, kind) : undefined)
      .orderBy(slots.kind, slots.slot)
      .all();
  }

  count(kind: SlotKind, state: SlotState): number {
    return this.#db
      .select({ n: count() })
      .from(slots)
      .where(and(eq(slots.kind, kind), eq(slots.state, state)))
      .get()!.n;
  }

  /**
   * Releases the leases of VMs that no longer exist: every row held by a VM not in `liveVmIds`
   * becomes `destroying` (its host resources are still there and must be torn down before the
   * number is reused; the service does that and then calls `free`). Returns those rows as they were.
   */
  reclaim(liveVmIds: Iterable<string>): SlotRow[] {
    const live = new Set(liveVmIds);
    return this.#immediate(() => {
      const held = this.#db.select().from(slots).where(isNotNull(slots.vmId)).all();
      const dead = held.filter((r) => !live.has(r.vmId!));
      for (const r of dead) this.markDestroying(r.kind, r.slot);
      return dead;
    });
  }

  /**
   * Rows another run left half-done (`creating` or `destroying` under another owner): a crash cut
   * their set-up or teardown short, and the host may hold part of them.
   */
  staleRows(owner: string): SlotRow[] {
    return this.#db
      .select()
      .from(slots)
      .where(and(inArray(slots.state, ['creating', 'destroying']), ne(slots.owner, owner)))
      .orderBy(slots.kind, slots.slot)
      .all();
  }

  /**
   * The lowest slot number of `kind` without a row: 0 if free, else one past the lowest row whose
   * successor is missing. Written as SQL because the query builder has no CASE expression and no
   * self-join on `slot + 1`; this is the only hand-written query in the network capability. Call
   * it inside `#immediate`, so nobody takes the number before the row is inserted.
   */
  #lowestFree(kind: SlotKind): number {
    return this.#db.get<{ free: number }>(
      sql`SELECT CASE WHEN NOT EXISTS (SELECT 1 FROM net_slots WHERE kind = ${kind} AND slot = 0) THEN 0
            ELSE (SELECT MIN(a.slot) + 1 FROM net_slots a WHERE a.kind = ${kind}
                  AND NOT EXISTS (SELECT 1 FROM net_slots b WHERE b.kind = a.kind AND b.slot = a.slot + 1)) END AS free`,
    ).free;
  }

  #refuseHolder(vmId: string): void {
    const held = this.byVm(vmId);
    if (held) {
      throw NetLeaseExists(`VM ${vmId} already holds ${held.kind} network slot ${held.slot}.`, {
        data: { vmId, kind: held.kind, slot: held.slot },
      });
    }
  }

  #immediate<T>(fn: () => T): T {
    return this.#sqlite.transaction(fn).immediate();
  }
}
