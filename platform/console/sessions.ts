/**
 * Login links and sessions of the web console, kept in the daemon's memory: a restart ends every
 * session and voids every link, which costs an operator one `ignition console` and saves a table
 * of bearer secrets on disk.
 *
 * Links and session ids are 32 random bytes. Both maps are keyed by their SHA-256, so the secrets
 * themselves are held only by the browser (and, for a link, for its one minute by the CLI).
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { ConsoleLinkInvalid } from './errors.ts';

/** How long a login link can be exchanged: long enough to click, short enough to be useless in a log. */
export const LINK_TTL_MS = 60_000;
/** A session ends after this long without a request… */
export const SESSION_IDLE_MS = 30 * 60_000;
/** …and this long after login, whatever its use. */
export const SESSION_MAX_MS = 12 * 60 * 60_000;

export interface ConsoleSession {
  /** Sent with every state-changing request (header or form field) and compared with this. */
  csrf: string;
  createdAt: number;
  lastSeenAt: number;
}

const digest = (secret: string) => createHash('sha256').update(secret).digest('hex');
const secret = () => randomBytes(32).toString('base64url');

export class ConsoleSessions {
  private readonly links = new Map<string, number>();
  private readonly sessions = new Map<string, ConsoleSession>();

  constructor(private readonly now: () => number = Date.now) {}

  /** A one-time login secret, valid for LINK_TTL_MS. */
  issueLink(): { token: string; expiresAt: number } {
    this.sweep();
    const token = secret();
    const expiresAt = this.now() + LINK_TTL_MS;
    this.links.set(digest(token), expiresAt);
    return { token, expiresAt };
  }

  /** Spends a link (whether or not it is still valid) and opens a session for it. */
  redeem(token: string | undefined): { id: string; session: ConsoleSession } {
    const key = token ? digest(token) : '';
    const expiresAt = this.links.get(key);
    this.links.delete(key);
    if (expiresAt === undefined || expiresAt <= this.now()) {
      throw ConsoleLinkInvalid('this login link is unknown, was already used or has expired: run "ignition console" for a new one');
    }
    const id = secret();
    const at = this.now();
    const session = { csrf: secret(), createdAt: at, lastSeenAt: at };
    this.sessions.set(digest(id), session);
    return { id, session };
  }

  /** The live session of a cookie value, touched; undefined for none, unknown or expired. */
  get(id: string | undefined): ConsoleSession | undefined {
    if (!id) return undefined;
    const key = digest(id);
    const s = this.sessions.get(key);
    if (!s) return undefined;
    const at = this.now();
    if (at - s.lastSeenAt > SESSION_IDLE_MS || at - s.createdAt > SESSION_MAX_MS) {
      this.sessions.delete(key);
      return undefined;
    }
    s.lastSeenAt = at;
    return s;
  }

  end(id: string | undefined): void {
    if (id) this.sessions.delete(digest(id));
  }

  /** Whether `presented` is the session's CSRF token (compared in constant time). */
  static csrfMatches(session: ConsoleSession, presented: string | undefined): boolean {
    if (!presented) return false;
    const a = Buffer.from(session.csrf);
    const b = Buffer.from(presented);
    return a.length === b.length && timingSafeEqual(a, b);
  }

  get size(): { links: number; sessions: number } {
    return { links: this.links.size, sessions: this.sessions.size };
  }

  /** Drops expired links and sessions, so links nobody clicks do not pile up. */
  private sweep(): void {
    const at = this.now();
    for (const [k, exp] of this.links) if (exp <= at) this.links.delete(k);
    for (const [k, s] of this.sessions) if (at - s.lastSeenAt > SESSION_IDLE_MS || at - s.createdAt > SESSION_MAX_MS) this.sessions.delete(k);
  }
}
