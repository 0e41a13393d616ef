/**
 * Pins: the blobs an import in progress depends on, which GC must not collect.
 *
 * Between "blob published" and "snapshot row committed" a blob is referenced by nobody, and a GC
 * running in that window would delete it. So every import takes a lease and pins each digest
 * before it is published or deduplicated; the snapshot row is committed, then the lease released.
 * Pins live in memory (this process's active leases) and in `registry_pins` (so a GC in another
 * process sees them). A row whose process is gone, or whose lease this process no longer holds,
 * or older than a day, is stale and cleared.
 */
import { randomBytes } from 'node:crypto';
import { and, eq, lt } from 'drizzle-orm';
import type { BetterSQLite3Database } from 'drizzle-orm/better-sqlite3';
import type { Store } from '../store/db.ts';
import type { Digest } from './digest.ts';
import { registryPins } from './schema.ts';

const MAX_AGE_MS = 24 * 60 * 60 * 1000;
/** Leases held by this process (shared by every Registry instance in it). */
const activeLeases = new Set<string>();

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** One import's pins. `release` is idempotent. */
export interface Lease {
  readonly id: string;
  pin(digest: Digest): void;
  release(): void;
}

export class Pins {
  private readonly db: BetterSQLite3Database;

  constructor(store: Pick<Store, 'db'>) {
    this.db = store.db;
  }

  lease(): Lease {
    const id = `lease_${randomBytes(8).toString('hex')}`;
    activeLeases.add(id);
    const db = this.db;
    let released = false;
    return {
      id,
      pin(digest) {
        if (released) throw new Error(`lease ${id} is already released`);
        db.insert(registryPins).values({ digest, lease: id, pid: process.pid, createdAt: Date.now() }).onConflictDoNothing().run();
      },
      release() {
        if (released) return;
        released = true;
        activeLeases.delete(id);
        db.delete(registryPins).where(eq(registryPins.lease, id)).run();
      },
    };
  }

  /** True when a live lease pins the digest. Call inside the GC's write transaction. */
  isPinned(digest: string): boolean {
    const rows = this.db.select().from(registryPins).where(eq(registryPins.digest, digest)).all();
    return rows.some((r) => !this.stale(r));
  }

  /** Digests pinned by live leases. */
  pinned(): Set<string> {
    return new Set(
      this.db
        .select()
        .from(registryPins)
        .all()
        .filter((r) => !this.stale(r))
        .map((r) => r.digest),
    );
  }

  /** Deletes stale pin rows; returns how many. */
  clearStale(): number {
    let n = this.db
      .delete(registryPins)
      .where(lt(registryPins.createdAt, Date.now() - MAX_AGE_MS))
      .run().changes;
    for (const r of this.db.select().from(registryPins).all()) {
      if (this.stale(r))
        n += this.db
          .delete(registryPins)
          .where(and(eq(registryPins.digest, r.digest), eq(registryPins.lease, r.lease)))
          .run().changes;
    }
    return n;
  }

  private stale(r: typeof registryPins.$inferSelect): boolean {
    if (r.createdAt < Date.now() - MAX_AGE_MS) return true;
    if (r.pid === process.pid) return !activeLeases.has(r.lease);
    return !pidAlive(r.pid);
  }
}
