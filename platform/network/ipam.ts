/**
 * IPAM: which slot numbers (and therefore which addresses, see slot.ts) are in use, by whom, in
 * SQLite.
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
import { NetExhausted, NetLeaseExists } from './errors.ts';
import type { SlotPolicy } from './slot.ts';

export type SlotKind = 'clone' | 'bridge';
export type SlotState = 'creating' | 'ready' | 'leased' | 'destroying';

/** Migrations of the network tables, applied by the platform store (idempotent SQL). */
export const networkMigrations = [
  {
    id: 'network-001',
    sql: `
CREATE TABLE IF NOT EXISTS net_slots (
  kind       TEXT    NOT NULL CHECK (kind IN ('clone', 'bridge')),
  slot       INTEGER NOT NULL CHECK (slot >= 0),
  state      TEXT    NOT NULL CHECK (state IN ('creating', 'ready', 'leased', 'destroying')),
  vm_id      TEXT    UNIQUE,
  owner      TEXT    NOT NULL,
  policy     TEXT,
  created_at INTEGER NOT NULL,
  leased_at  INTEGER,
  PRIMARY KEY (kind, slot),
  CHECK (state <> 'leased' OR vm_id IS NOT NULL),
  CHECK (state <> 'ready' OR vm_id IS NULL)
);
CREATE INDEX IF NOT EXISTS net_slots_state ON net_slots (kind, state, slot);
`,
  },
];

/** Applies the migrations directly; for tools and tests that run without the platform store. */
export function applyNetworkMigrations(db: Database.Database): void {
  for (const m of networkMigrations) db.exec(m.sql);
}

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

interface RawRow {
  kind: SlotKind;
  slot: number;
  state: SlotState;
  vm_id: string | null;
  owner: string;
  policy: string | null;
  created_at: number;
  leased_at: number | null;
}

function toRow(r: RawRow): SlotRow {
  return {
    kind: r.kind,
    slot: r.slot,
    state: r.state,
    vmId: r.vm_id,
    owner: r.owner,
    policy: r.policy ? (JSON.parse(r.policy) as SlotPolicy) : null,
    createdAt: r.created_at,
    leasedAt: r.leased_at,
  };
}

/** Slot-number allocation over a better-sqlite3 connection whose schema has `networkMigrations`. */
export class Ipam {
  readonly #db: Database.Database;
  readonly #capacity: Record<SlotKind, number>;
  readonly #now: () => number;

  constructor(db: Database.Database, capacity: Record<SlotKind, number>, now: () => number = Date.now) {
    this.#db = db;
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
      const free = this.#db
        .prepare<[SlotKind, SlotKind], { free: number }>(
          `SELECT CASE WHEN NOT EXISTS (SELECT 1 FROM net_slots WHERE kind = ? AND slot = 0) THEN 0
             ELSE (SELECT MIN(a.slot) + 1 FROM net_slots a WHERE a.kind = ?
                   AND NOT EXISTS (SELECT 1 FROM net_slots b WHERE b.kind = a.kind AND b.slot = a.slot + 1)) END AS free`,
        )
        .get(kind, kind)!.free;
      if (free >= this.#capacity[kind]) {
        throw NetExhausted(`all ${this.#capacity[kind]} ${kind} network slots are in use.`, { data: { kind, capacity: this.#capacity[kind] } });
      }
      this.#db
        .prepare('INSERT INTO net_slots (kind, slot, state, vm_id, owner, created_at) VALUES (?, ?, ?, ?, ?, ?)')
        .run(kind, free, 'creating', vmId, owner, this.#now());
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
        .prepare<[SlotKind], { slot: number }>("SELECT slot FROM net_slots WHERE kind = ? AND state = 'ready' ORDER BY slot LIMIT 1")
        .get(kind);
      if (!row) return null;
      this.#db.prepare("UPDATE net_slots SET state = 'leased', vm_id = ?, leased_at = ? WHERE kind = ? AND slot = ?").run(vmId, this.#now(), kind, row.slot);
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
      this.#db.prepare('UPDATE net_slots SET vm_id = ?, leased_at = ? WHERE kind = ? AND slot = ?').run(to, this.#now(), row.kind, row.slot);
      return this.get(row.kind, row.slot)!;
    });
  }

  /** `creating` → `ready` (no holder) or `leased` (to the VM it was created for). */
  markCreated(kind: SlotKind, slot: number, policy: SlotPolicy): void {
    this.#db
      .prepare(
        "UPDATE net_slots SET state = CASE WHEN vm_id IS NULL THEN 'ready' ELSE 'leased' END, leased_at = CASE WHEN vm_id IS NULL THEN NULL ELSE ? END, policy = ? WHERE kind = ? AND slot = ? AND state = 'creating'",
      )
      .run(this.#now(), JSON.stringify(policy), kind, slot);
  }

  /** Records the policy now applied on the host. */
  setPolicy(kind: SlotKind, slot: number, policy: SlotPolicy): void {
    this.#db.prepare('UPDATE net_slots SET policy = ? WHERE kind = ? AND slot = ?').run(JSON.stringify(policy), kind, slot);
  }

  /** `leased` → `ready`: the slot goes back to the pool, clean. */
  returnToPool(kind: SlotKind, slot: number, policy: SlotPolicy): void {
    this.#db
      .prepare("UPDATE net_slots SET state = 'ready', vm_id = NULL, leased_at = NULL, policy = ? WHERE kind = ? AND slot = ?")
      .run(JSON.stringify(policy), kind, slot);
  }

  /** Marks a slot as being torn down: it stays allocated until `free`, so nobody reuses it early. */
  markDestroying(kind: SlotKind, slot: number): void {
    this.#db.prepare("UPDATE net_slots SET state = 'destroying', vm_id = NULL WHERE kind = ? AND slot = ?").run(kind, slot);
  }

  /** Deletes the row: the slot number and its addresses are free again. */
  free(kind: SlotKind, slot: number): void {
    this.#db.prepare('DELETE FROM net_slots WHERE kind = ? AND slot = ?').run(kind, slot);
  }

  /** Makes this instance the owner of rows a previous run left `ready`/`leased` (after checking the host). */
  adopt(kind: SlotKind, slot: number, owner: string): void {
    this.#db.prepare('UPDATE net_slots SET owner = ? WHERE kind = ? AND slot = ?').run(owner, kind, slot);
  }

  get(kind: SlotKind, slot: number): SlotRow | null {
    const r = this.#db.prepare<[SlotKind, number], RawRow>('SELECT * FROM net_slots WHERE kind = ? AND slot = ?').get(kind, slot);
    return r ? toRow(r) : null;
  }

  byVm(vmId: string): SlotRow | null {
    const r = this.#db.prepare<[string], RawRow>('SELECT * FROM net_slots WHERE vm_id = ?').get(vmId);
    return r ? toRow(r) : null;
  }

  list(kind?: SlotKind): SlotRow[] {
    const rows = kind
      ? this.#db.prepare<[SlotKind], RawRow>('SELECT * FROM net_slots WHERE kind = ? ORDER BY kind, slot').all(kind)
      : this.#db.prepare<[], RawRow>('SELECT * FROM net_slots ORDER BY kind, slot').all();
    return rows.map(toRow);
  }

  count(kind: SlotKind, state: SlotState): number {
    return this.#db.prepare<[SlotKind, SlotState], { n: number }>('SELECT COUNT(*) AS n FROM net_slots WHERE kind = ? AND state = ?').get(kind, state)!.n;
  }

  /**
   * Releases the leases of VMs that no longer exist: every row held by a VM not in `liveVmIds`
   * becomes `destroying` (its host resources are still there and must be torn down before the
   * number is reused; the service does that and then calls `free`). Returns those rows as they were.
   */
  reclaim(liveVmIds: Iterable<string>): SlotRow[] {
    const live = new Set(liveVmIds);
    return this.#immediate(() => {
      const held = this.#db.prepare<[], RawRow>('SELECT * FROM net_slots WHERE vm_id IS NOT NULL').all().map(toRow);
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
      .prepare<[string], RawRow>("SELECT * FROM net_slots WHERE state IN ('creating', 'destroying') AND owner <> ? ORDER BY kind, slot")
      .all(owner)
      .map(toRow);
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
    return this.#db.transaction(fn).immediate();
  }
}
