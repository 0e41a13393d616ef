/**
 * What this host knows about blobs in remote registries: after a push or pull, each blob is
 * recorded as present in (host, repository). A later push of the same blob to another repository
 * on that host tries a cross-repository mount from there first, so the bytes never travel again.
 * The record is only a hint: a failed mount simply falls back to an upload.
 */
import { and, desc, eq, ne } from 'drizzle-orm';
import type { BetterSQLite3Database } from 'drizzle-orm/better-sqlite3';
import { registryRemoteBlobs } from '../schema.ts';

export function recordRemoteBlobs(db: BetterSQLite3Database, host: string, repository: string, digests: string[]): void {
  const now = Date.now();
  for (const digest of new Set(digests)) {
    db.insert(registryRemoteBlobs)
      .values({ host, repository, digest, seenAt: now })
      .onConflictDoUpdate({ target: [registryRemoteBlobs.host, registryRemoteBlobs.repository, registryRemoteBlobs.digest], set: { seenAt: now } })
      .run();
  }
}

/** Other repositories on `host` known to hold `digest`, most recently seen first. */
export function mountCandidates(db: BetterSQLite3Database, host: string, repository: string, digest: string, limit = 3): string[] {
  return db
    .select({ repository: registryRemoteBlobs.repository })
    .from(registryRemoteBlobs)
    .where(and(eq(registryRemoteBlobs.host, host), eq(registryRemoteBlobs.digest, digest), ne(registryRemoteBlobs.repository, repository)))
    .orderBy(desc(registryRemoteBlobs.seenAt))
    .limit(limit)
    .all()
    .map((r) => r.repository);
}
