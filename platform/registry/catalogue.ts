/**
 * The snapshot catalogue: which snapshots exist, their names, tags, lineage and files, in SQLite
 * through drizzle. A snapshot and its file rows are written in one transaction, so a reader sees
 * a snapshot whole or not at all, and a file row exists only once its blob is published (the
 * registry imports first, then calls `create`).
 */
import { randomBytes } from 'node:crypto';
import { eq, inArray } from 'drizzle-orm';
import type { BetterSQLite3Database } from 'drizzle-orm/better-sqlite3';
import type Database from 'better-sqlite3';
import type { Store } from '../store/db.ts';
import { assertSnapshotName, assertTag, isSnapshotId, type Digest } from './digest.ts';
import { RegistryBadRequest, RegistryConflict, RegistryHasChildren, RegistrySnapshotNotFound } from './errors.ts';
import { registryFiles, registrySnapshots, registryTags } from './schema.ts';
import { assertConfig, assertDriver, assertFiles, assertKind, assertLabels, type NewSnapshot, type Snapshot, type SnapshotKind } from './types.ts';

type Row = typeof registrySnapshots.$inferSelect;

/** A fresh snapshot id: `snap_` + 20 hex digits (80 random bits). */
export function newSnapshotId(): string {
  return `snap_${randomBytes(10).toString('hex')}`;
}

export interface ListFilter {
  kind?: SnapshotKind;
  /** `key` (present) or `key=value` (equal), or an object of required key/values. */
  label?: string | Record<string, string>;
}

export class Catalogue {
  private readonly db: BetterSQLite3Database;
  private readonly sqlite: Database.Database;

  constructor(store: Pick<Store, 'db' | 'sqlite'>) {
    this.db = store.db;
    this.sqlite = store.sqlite;
  }

  /** Inserts a snapshot, its files and tags in one transaction. Blobs must already be in the store. */
  create(input: NewSnapshot): Snapshot {
    const id = input.id ?? newSnapshotId();
    if (!isSnapshotId(id)) throw RegistryBadRequest(`snapshot id "${id}" is not snap_ followed by 20 hex digits`);
    const name = input.name == null ? null : assertSnapshotName(input.name);
    const tags = [...new Set((input.tags ?? []).map(assertTag))];
    const files = assertFiles(input.files);
    const row: Row = {
      id,
      name,
      parentId: input.parentId ?? null,
      kind: assertKind(input.kind),
      driver: assertDriver(input.driver),
      config: JSON.stringify(assertConfig(input.config)),
      labels: JSON.stringify(assertLabels(input.labels)),
      size: Object.values(files).reduce((n, f) => n + f.size, 0),
      createdAt: input.createdAt ? Date.parse(input.createdAt) : Date.now(),
    };
    if (!Number.isFinite(row.createdAt)) throw RegistryBadRequest(`createdAt "${input.createdAt}" is not a date`);
    const insert = this.sqlite.transaction(() => {
      if (this.db.select({ id: registrySnapshots.id }).from(registrySnapshots).where(eq(registrySnapshots.id, id)).get()) {
        throw RegistryConflict(`a snapshot with id ${id} already exists`, { data: { id } });
      }
      if (name && this.db.select({ id: registrySnapshots.id }).from(registrySnapshots).where(eq(registrySnapshots.name, name)).get()) {
        throw RegistryConflict(`the name "${name}" is taken by another snapshot`, { data: { name } });
      }
      for (const tag of tags) {
        const other = this.db.select().from(registryTags).where(eq(registryTags.tag, tag)).get();
        if (other) throw RegistryConflict(`the tag "${tag}" points at snapshot ${other.snapshotId}; move it with tag()`, { data: { tag } });
      }
      this.db.insert(registrySnapshots).values(row).run();
      this.db
        .insert(registryFiles)
        .values(Object.entries(files).map(([role, f]) => ({ snapshotId: id, role, digest: f.digest, size: f.size })))
        .run();
      if (tags.length)
        this.db
          .insert(registryTags)
          .values(tags.map((tag) => ({ tag, snapshotId: id })))
          .run();
    });
    insert.immediate();
    return this.get(id);
  }

  /** Resolves an id, a name or a tag (in that order); null when nothing matches. */
  find(ref: string): Snapshot | null {
    if (typeof ref !== 'string' || ref.length === 0 || ref.length > 200) return null;
    let row = this.db.select().from(registrySnapshots).where(eq(registrySnapshots.id, ref)).get();
    row ??= this.db.select().from(registrySnapshots).where(eq(registrySnapshots.name, ref)).get();
    if (!row) {
      const tag = this.db.select().from(registryTags).where(eq(registryTags.tag, ref)).get();
      if (tag) row = this.db.select().from(registrySnapshots).where(eq(registrySnapshots.id, tag.snapshotId)).get();
    }
    return row ? this.hydrate([row])[0] : null;
  }

  /** Like `find`, but throws `registry_snapshot_not_found`. */
  get(ref: string): Snapshot {
    const snap = this.find(ref);
    if (!snap)
      throw RegistrySnapshotNotFound(`no snapshot has the id, name or tag "${String(ref).slice(0, 200)}"`, { data: { snapshot: String(ref).slice(0, 200) } });
    return snap;
  }

  /** All snapshots, oldest first, optionally filtered by kind and labels. */
  list(filter: ListFilter = {}): Snapshot[] {
    const rows = filter.kind
      ? this.db.select().from(registrySnapshots).where(eq(registrySnapshots.kind, filter.kind)).all()
      : this.db.select().from(registrySnapshots).all();
    let snaps = this.hydrate(rows);
    const want = parseLabelFilter(filter.label);
    if (want.length) snaps = snaps.filter((s) => want.every(([k, v]) => (v === undefined ? k in s.labels : s.labels[k] === v)));
    return snaps.sort((a, b) => a.createdAt.localeCompare(b.createdAt) || a.id.localeCompare(b.id));
  }

  /** Direct descendants of a snapshot. */
  children(id: string): Snapshot[] {
    return this.hydrate(this.db.select().from(registrySnapshots).where(eq(registrySnapshots.parentId, id)).all());
  }

  /**
   * Removes a snapshot (its rows; blobs go at the next GC). Refused with `registry_has_children`
   * when others descend from it, unless `force`: then the descendants keep their parent id and
   * show as orphans in the lineage tree.
   */
  remove(ref: string, options: { force?: boolean } = {}): Snapshot {
    const run = this.sqlite.transaction(() => {
      const snap = this.get(ref);
      const kids = this.children(snap.id);
      if (kids.length && !options.force) {
        throw RegistryHasChildren(
          `snapshot ${snap.id} has ${kids.length} descendant(s) (${kids
            .slice(0, 5)
            .map((k) => k.id)
            .join(', ')}); remove them first or force`,
          {
            data: { id: snap.id, children: kids.map((k) => k.id) },
          },
        );
      }
      this.db.delete(registrySnapshots).where(eq(registrySnapshots.id, snap.id)).run();
      return snap;
    });
    return run.immediate();
  }

  /** Points `tag` at a snapshot, moving it atomically if it named another one. */
  tag(ref: string, tag: string): Snapshot {
    assertTag(tag);
    const run = this.sqlite.transaction(() => {
      const snap = this.get(ref);
      this.db
        .insert(registryTags)
        .values({ tag, snapshotId: snap.id })
        .onConflictDoUpdate({ target: registryTags.tag, set: { snapshotId: snap.id } })
        .run();
      return snap.id;
    });
    return this.get(run.immediate());
  }

  /** Removes a tag; returns whether it existed. */
  untag(tag: string): boolean {
    assertTag(tag);
    return this.db.delete(registryTags).where(eq(registryTags.tag, tag)).run().changes > 0;
  }

  /** Every digest some snapshot refers to, with the ids of the snapshots using it. */
  references(): Map<Digest, string[]> {
    const refs = new Map<Digest, string[]>();
    for (const f of this.db.select({ digest: registryFiles.digest, id: registryFiles.snapshotId }).from(registryFiles).all()) {
      const list = refs.get(f.digest as Digest) ?? [];
      list.push(f.id);
      refs.set(f.digest as Digest, list);
    }
    return refs;
  }

  /** True when some snapshot refers to `digest`. */
  isReferenced(digest: string): boolean {
    return !!this.db.select({ d: registryFiles.digest }).from(registryFiles).where(eq(registryFiles.digest, digest)).limit(1).get();
  }

  /** The size recorded for a digest by any snapshot, or null when none refers to it. */
  sizeOf(digest: string): number | null {
    const row = this.db.select({ size: registryFiles.size }).from(registryFiles).where(eq(registryFiles.digest, digest)).limit(1).get();
    return row ? row.size : null;
  }

  private hydrate(rows: Row[]): Snapshot[] {
    if (rows.length === 0) return [];
    const ids = rows.map((r) => r.id);
    const files = new Map<string, Snapshot['files']>();
    const tags = new Map<string, string[]>();
    // Chunked IN lists: SQLite limits bound parameters per statement.
    for (let i = 0; i < ids.length; i += 500) {
      const part = ids.slice(i, i + 500);
      for (const f of this.db.select().from(registryFiles).where(inArray(registryFiles.snapshotId, part)).all()) {
        const m = files.get(f.snapshotId) ?? {};
        m[f.role] = { digest: f.digest as Digest, size: f.size };
        files.set(f.snapshotId, m);
      }
      for (const t of this.db.select().from(registryTags).where(inArray(registryTags.snapshotId, part)).all()) {
        tags.set(t.snapshotId, [...(tags.get(t.snapshotId) ?? []), t.tag]);
      }
    }
    return rows.map((r) => ({
      id: r.id,
      name: r.name,
      tags: (tags.get(r.id) ?? []).sort(),
      parentId: r.parentId,
      kind: r.kind as Snapshot['kind'],
      driver: r.driver as Snapshot['driver'],
      config: JSON.parse(r.config) as Record<string, unknown>,
      files: files.get(r.id) ?? {},
      labels: JSON.parse(r.labels) as Record<string, string>,
      size: r.size,
      createdAt: new Date(r.createdAt).toISOString(),
    }));
  }
}

function parseLabelFilter(label: ListFilter['label']): Array<[string, string | undefined]> {
  if (!label) return [];
  if (typeof label === 'object') return Object.entries(label);
  const eqAt = label.indexOf('=');
  return eqAt < 0 ? [[label, undefined]] : [[label.slice(0, eqAt), label.slice(eqAt + 1)]];
}
