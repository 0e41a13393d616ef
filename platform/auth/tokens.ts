/**
 * API tokens: issue, list, revoke, verify.
 *
 * A token is `ign_` followed by 32 random bytes in base64url; the prefix makes leaked tokens easy
 * to spot in logs and by secret scanners. Only its SHA-256 is stored. `verify` hashes the
 * presented token, finds the row by hash and compares the hashes again in constant time: looking
 * up by hash is safe against timing probes because an attacker cannot choose the bytes of a
 * SHA-256, so how far an index comparison gets reveals nothing usable about any real token.
 *
 * Verified tokens are cached in memory (the daemon checks one on every /v1 request). `revoke`
 * drops its entry at once; entries also expire after `cacheTtlMs`, which bounds how long a
 * revocation made by another process on the same database takes to bite.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { and, eq, isNull } from 'drizzle-orm';
import type { Store } from '../store/db.ts';
import { newId } from '../ids.ts';
import { assertFunctionName } from '../functions/names.ts';
import { isIgnitionError } from '../errors.ts';
import { AuthInvalidRequest, AuthTokenNotFound } from './errors.ts';
import { tokensTable, type TokenScope } from './schema.ts';

export type { TokenScope } from './schema.ts';
export const TOKEN_PREFIX = 'ign_';
const TOKEN_RE = /^ign_[A-Za-z0-9_-]{43}$/;
/** A credential whose value starts with the prefix, after an optional auth scheme (`Bearer ign_…`, `ign_…`). */
const CARRIES_TOKEN_RE = /^\s*(?:[A-Za-z0-9!#$%&'*+.^_`|~-]+\s+)?"?ign_/;

/**
 * Whether an Authorization header holds an Ignition token, valid or not. Such a header is the
 * platform's, never a function's: the invoke path drops it before forwarding, whatever the
 * function's `auth` setting, so an operator who sends one to a public function (a CLI, a copied
 * curl line) does not hand it to the function's code. Other schemes and other bearer tokens (a
 * function's own JWTs) are not matched.
 */
export function carriesPlatformToken(authorization: string | string[]): boolean {
  return Array.isArray(authorization) ? authorization.some((v) => CARRIES_TOKEN_RE.test(v)) : CARRIES_TOKEN_RE.test(authorization);
}
const NAME_RE = /^[\x21-\x7e](?:[\x20-\x7e]{0,62}[\x21-\x7e])?$/;

/** What the API shows of a token: never the token, never its hash. */
export interface TokenRecord {
  id: string;
  name: string;
  scope: TokenScope;
  /** For `invoke` tokens: the one function it may call, or null for every function. */
  function: string | null;
  createdAt: number;
  lastUsedAt: number | null;
  revokedAt: number | null;
}

export interface CreateTokenInput {
  name?: string;
  scope?: TokenScope;
  fn?: string | null;
}

export interface TokenStoreOptions {
  /** How long a verified token stays cached (default 60 s). */
  cacheTtlMs?: number;
  /** `last_used_at` is written at most this often per token (default 60 s): no write per request. */
  touchIntervalMs?: number;
  now?: () => number;
}

type Row = typeof tokensTable.$inferSelect;

const toRecord = (r: Row): TokenRecord => ({
  id: r.id,
  name: r.name,
  scope: r.scope,
  function: r.fn,
  createdAt: r.createdAt,
  lastUsedAt: r.lastUsedAt,
  revokedAt: r.revokedAt,
});

/** SHA-256 of a token, the only form in which it is stored. */
export function hashToken(token: string): Buffer {
  return createHash('sha256').update(token, 'utf8').digest();
}

/** True when `value` has the shape of an Ignition token (says nothing about validity). */
export function looksLikeToken(value: string): boolean {
  return TOKEN_RE.test(value);
}

export class TokenStore {
  private readonly cache = new Map<string, { record: TokenRecord; hash: Buffer; until: number }>();
  private readonly ttl: number;
  private readonly touchEvery: number;
  private readonly now: () => number;

  constructor(
    private readonly store: Store,
    options: TokenStoreOptions = {},
  ) {
    this.ttl = options.cacheTtlMs ?? 60_000;
    this.touchEvery = options.touchIntervalMs ?? 60_000;
    this.now = options.now ?? Date.now;
  }

  /** Issues a token. The returned `token` is the only time it exists outside the caller. */
  create(input: CreateTokenInput = {}): { id: string; token: string; record: TokenRecord } {
    const { name, scope, fn } = validateCreate(input);
    const id = newId('tok');
    const token = TOKEN_PREFIX + randomBytes(32).toString('base64url');
    const createdAt = this.now();
    this.store.db
      .insert(tokensTable)
      .values({ id, name, scope, fn, hash: hashToken(token), createdAt })
      .run();
    return { id, token, record: { id, name, scope, function: fn, createdAt, lastUsedAt: null, revokedAt: null } };
  }

  /** Every token ever issued, oldest first, revoked ones included (with `revokedAt`). */
  list(): TokenRecord[] {
    return this.store.db.select().from(tokensTable).orderBy(tokensTable.createdAt, tokensTable.id).all().map(toRecord);
  }

  get(id: string): TokenRecord | undefined {
    const row = this.row(id);
    return row && toRecord(row);
  }

  /** Revokes a token (idempotent: revoking twice keeps the first time). */
  revoke(id: string): TokenRecord {
    const row = this.row(id);
    if (!row) throw AuthTokenNotFound(`no token with id "${id}"`, { data: { id } });
    if (row.revokedAt === null) {
      row.revokedAt = this.now();
      this.store.db.update(tokensTable).set({ revokedAt: row.revokedAt }).where(eq(tokensTable.id, id)).run();
    }
    for (const [key, entry] of this.cache) if (entry.record.id === id) this.cache.delete(key);
    return toRecord(row);
  }

  /**
   * Revokes every live invoke token bound to `fn`; returns how many. Called when the function is
   * removed: a token names a function by its name, so without this a token issued for a removed
   * function would call whatever is deployed under that name later, by someone else perhaps.
   */
  revokeFunction(fn: string): number {
    const now = this.now();
    const revoked = this.store.db
      .update(tokensTable)
      .set({ revokedAt: now })
      .where(and(eq(tokensTable.fn, fn), isNull(tokensTable.revokedAt)))
      .returning({ id: tokensTable.id })
      .all();
    const ids = new Set(revoked.map((r) => r.id));
    for (const [key, entry] of this.cache) if (ids.has(entry.record.id)) this.cache.delete(key);
    return ids.size;
  }

  /** The live record for a presented token, or null when it is malformed, unknown or revoked. */
  verify(token: string): TokenRecord | null {
    if (typeof token !== 'string' || !TOKEN_RE.test(token)) return null;
    const hash = hashToken(token);
    const key = hash.toString('hex');
    const now = this.now();
    const cached = this.cache.get(key);
    if (cached && cached.until > now && timingSafeEqual(cached.hash, hash)) {
      this.touch(cached.record, now);
      return { ...cached.record };
    }
    this.cache.delete(key);
    const row = this.store.db.select().from(tokensTable).where(eq(tokensTable.hash, hash)).get();
    if (!row || row.hash.length !== hash.length || !timingSafeEqual(row.hash, hash) || row.revokedAt !== null) return null;
    const record = toRecord(row);
    this.cache.set(key, { record, hash, until: now + this.ttl });
    this.touch(record, now);
    return { ...record };
  }

  private touch(record: TokenRecord, now: number) {
    if (record.lastUsedAt !== null && now - record.lastUsedAt < this.touchEvery) return;
    record.lastUsedAt = now;
    this.store.db.update(tokensTable).set({ lastUsedAt: now }).where(eq(tokensTable.id, record.id)).run();
  }

  private row(id: string): Row | undefined {
    return this.store.db.select().from(tokensTable).where(eq(tokensTable.id, id)).get();
  }
}

function validateCreate(input: CreateTokenInput): { name: string; scope: TokenScope; fn: string | null } {
  const scope = input.scope ?? 'admin';
  if (scope !== 'admin' && scope !== 'invoke') throw AuthInvalidRequest(`scope must be "admin" or "invoke" (got ${JSON.stringify(scope)})`);
  const name = input.name ?? (scope === 'admin' ? 'admin' : 'invoke');
  if (typeof name !== 'string' || !NAME_RE.test(name)) {
    throw AuthInvalidRequest('token name must be 1 to 64 printable ASCII characters without leading or trailing spaces');
  }
  let fn: string | null = null;
  if (input.fn !== undefined && input.fn !== null) {
    if (scope !== 'invoke') throw AuthInvalidRequest('only invoke tokens can be limited to one function; drop the function or use scope "invoke"');
    try {
      fn = assertFunctionName(input.fn);
    } catch (err) {
      if (isIgnitionError(err)) throw AuthInvalidRequest(err.message, { cause: err });
      throw err;
    }
  }
  return { name, scope, fn };
}
