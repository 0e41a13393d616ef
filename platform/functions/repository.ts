/**
 * Persistence of functions, versions and aliases (drizzle over the SQLite store). Every write that
 * must be seen whole (a new version plus the alias move) happens in one transaction, so a crash
 * never leaves `latest` pointing at a version that does not exist.
 */
import { and, desc, eq, sql } from 'drizzle-orm';
import type { Store } from '../store/db.ts';
import type { FunctionSettings } from '../config/schema.ts';
import { aliasesTable, functionsTable, versionsTable } from './schema.ts';

export interface VersionRecord {
  id: string;
  fn: string;
  seq: number;
  digest: string;
  bundleDigest: string;
  snapshotId: string;
  settings: FunctionSettings;
  /** What deploys stated (service.ts); undefined for versions stored before it was kept. */
  statedSettings?: Partial<FunctionSettings>;
  env: Record<string, string>;
  createdAt: number;
}

export interface AliasRoute {
  version: string;
  weight: number;
}

export interface AliasRecord {
  fn: string;
  name: string;
  routes: AliasRoute[];
  updatedAt: number;
}

export interface FunctionRecord {
  name: string;
  createdAt: number;
  updatedAt: number;
}

type VersionRow = typeof versionsTable.$inferSelect;

const toVersion = ({ statedSettings, ...r }: VersionRow): VersionRecord => ({
  ...r,
  ...(statedSettings ? { statedSettings: JSON.parse(statedSettings) as Partial<FunctionSettings> } : {}),
  settings: JSON.parse(r.settings) as FunctionSettings,
  env: JSON.parse(r.env) as Record<string, string>,
});

export class FunctionRepository {
  constructor(private readonly store: Store) {}

  private get db() {
    return this.store.db;
  }

  getFunction(name: string): FunctionRecord | undefined {
    return this.db.select().from(functionsTable).where(eq(functionsTable.name, name)).get();
  }

  listFunctions(): FunctionRecord[] {
    return this.db.select().from(functionsTable).orderBy(functionsTable.name).all();
  }

  getVersion(id: string): VersionRecord | undefined {
    const row = this.db.select().from(versionsTable).where(eq(versionsTable.id, id)).get();
    return row && toVersion(row);
  }

  findVersionByDigest(fn: string, digest: string): VersionRecord | undefined {
    const row = this.db
      .select()
      .from(versionsTable)
      .where(and(eq(versionsTable.fn, fn), eq(versionsTable.digest, digest)))
      .get();
    return row && toVersion(row);
  }

  findVersionBySeq(fn: string, seq: number): VersionRecord | undefined {
    const row = this.db
      .select()
      .from(versionsTable)
      .where(and(eq(versionsTable.fn, fn), eq(versionsTable.seq, seq)))
      .get();
    return row && toVersion(row);
  }

  listVersions(fn: string): VersionRecord[] {
    return this.db.select().from(versionsTable).where(eq(versionsTable.fn, fn)).orderBy(desc(versionsTable.seq)).all().map(toVersion);
  }

  getAlias(fn: string, name: string): AliasRecord | undefined {
    const row = this.db
      .select()
      .from(aliasesTable)
      .where(and(eq(aliasesTable.fn, fn), eq(aliasesTable.name, name)))
      .get();
    return row && { ...row, routes: JSON.parse(row.routes) as AliasRoute[] };
  }

  listAliases(fn: string): AliasRecord[] {
    return this.db
      .select()
      .from(aliasesTable)
      .where(eq(aliasesTable.fn, fn))
      .all()
      .map((row) => ({ ...row, routes: JSON.parse(row.routes) as AliasRoute[] }));
  }

  /**
   * Records a new version (or reuses the one with the same digest) and points `alias` at it, in
   * one transaction.
   */
  commitDeployment(input: Omit<VersionRecord, 'seq' | 'createdAt'> & { alias: string }): VersionRecord {
    const now = Date.now();
    return this.store.sqlite.transaction(() => {
      this.db
        .insert(functionsTable)
        .values({ name: input.fn, createdAt: now, updatedAt: now })
        .onConflictDoUpdate({ target: functionsTable.name, set: { updatedAt: now } })
        .run();
      let version = this.findVersionByDigest(input.fn, input.digest);
      if (!version) {
        const { max } = this.db
          .select({ max: sql<number>`coalesce(max(${versionsTable.seq}), 0)` })
          .from(versionsTable)
          .where(eq(versionsTable.fn, input.fn))
          .get()!;
        const row = {
          id: input.id,
          fn: input.fn,
          seq: max + 1,
          digest: input.digest,
          bundleDigest: input.bundleDigest,
          snapshotId: input.snapshotId,
          settings: JSON.stringify(input.settings),
          statedSettings: input.statedSettings ? JSON.stringify(input.statedSettings) : null,
          env: JSON.stringify(input.env),
          createdAt: now,
        };
        this.db.insert(versionsTable).values(row).run();
        version = toVersion(row);
      }
      this.setAlias(input.fn, input.alias, [{ version: version.id, weight: 100 }]);
      return version;
    })();
  }

  setAlias(fn: string, name: string, routes: AliasRoute[]): AliasRecord {
    const now = Date.now();
    const value = JSON.stringify(routes);
    this.db
      .insert(aliasesTable)
      .values({ fn, name, routes: value, updatedAt: now })
      .onConflictDoUpdate({ target: [aliasesTable.fn, aliasesTable.name], set: { routes: value, updatedAt: now } })
      .run();
    return { fn, name, routes, updatedAt: now };
  }

  deleteAlias(fn: string, name: string) {
    this.db
      .delete(aliasesTable)
      .where(and(eq(aliasesTable.fn, fn), eq(aliasesTable.name, name)))
      .run();
  }

  /** Removes the function with its versions and aliases (cascade); returns its versions' snapshots. */
  deleteFunction(name: string): string[] {
    return this.store.sqlite.transaction(() => {
      const snapshots = this.listVersions(name).map((v) => v.snapshotId);
      this.db.delete(functionsTable).where(eq(functionsTable.name, name)).run();
      return snapshots;
    })();
  }
}
