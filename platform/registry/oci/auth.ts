/**
 * Registry authentication as the distribution spec and Docker's token spec describe it: the
 * registry answers 401 with `WWW-Authenticate`; for `Basic` we send the credentials, for
 * `Bearer realm=…,service=…,scope=…` we fetch a token from the realm (with the credentials as
 * Basic auth when we have them, anonymously otherwise) and send it as `Authorization: Bearer`.
 * Tokens are cached per scope set for the life of one push or pull.
 */
import { request, type Dispatcher } from 'undici';
import { RegistryRemoteError, RegistryRemoteUnauthorized } from '../errors.ts';

/** Username and password (Basic, or exchanged for a token), or a ready-made bearer token. */
export type Credentials = { username: string; password: string } | { token: string };

export interface Challenge {
  scheme: string;
  params: Record<string, string>;
}

/** Parses one `WWW-Authenticate` value (the first challenge when several are listed). */
export function parseChallenge(header: string | undefined): Challenge | null {
  if (!header) return null;
  const m = /^\s*([A-Za-z]+)\s*(.*)$/s.exec(header);
  if (!m) return null;
  const params: Record<string, string> = {};
  for (const p of m[2].matchAll(/([A-Za-z_]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^,\s]*))/g)) {
    params[p[1].toLowerCase()] = (p[2] ?? p[3] ?? '').replace(/\\(.)/g, '$1');
  }
  return { scheme: m[1].toLowerCase(), params };
}

function basic(c: { username: string; password: string }): string {
  return `Basic ${Buffer.from(`${c.username}:${c.password}`).toString('base64')}`;
}

export class Authenticator {
  private header: string | null = null;

  constructor(
    private readonly credentials: Credentials | undefined,
    private readonly dispatcher: Dispatcher,
  ) {
    if (credentials && 'token' in credentials) this.header = `Bearer ${credentials.token}`;
  }

  /** The Authorization header to send now, if any. */
  current(): string | null {
    return this.header;
  }

  /**
   * Reacts to a 401: works out new credentials from the challenge. Returns true when a retry is
   * worth it, false when there is nothing new to try.
   */
  async answer(wwwAuthenticate: string | undefined, scopes: string[], url: string): Promise<boolean> {
    const ch = parseChallenge(wwwAuthenticate);
    const creds = this.credentials;
    if (!ch) return false;
    if (ch.scheme === 'basic') {
      if (!creds || !('username' in creds)) return false;
      const next = basic(creds);
      if (next === this.header) return false;
      this.header = next;
      return true;
    }
    if (ch.scheme !== 'bearer' || !ch.params.realm) return false;
    const realm = new URL(ch.params.realm);
    if (ch.params.service) realm.searchParams.set('service', ch.params.service);
    const wanted = new Set([...(ch.params.scope ? ch.params.scope.split(' ') : []), ...scopes]);
    for (const s of wanted) realm.searchParams.append('scope', s);
    const headers: Record<string, string> = { accept: 'application/json' };
    if (creds && 'username' in creds) headers.authorization = basic(creds);
    let res;
    try {
      res = await request(realm, { method: 'GET', headers, dispatcher: this.dispatcher });
    } catch (err) {
      throw RegistryRemoteError(`the token service ${realm.origin}${realm.pathname} for ${url} is unreachable: ${(err as Error).message}`, { cause: err });
    }
    const text = await res.body.text();
    if (res.statusCode === 401 || res.statusCode === 403) {
      throw RegistryRemoteUnauthorized(`the token service ${realm.origin}${realm.pathname} refused the credentials (HTTP ${res.statusCode})`, {
        data: { status: res.statusCode },
      });
    }
    if (res.statusCode !== 200)
      throw RegistryRemoteError(`the token service ${realm.origin}${realm.pathname} answered HTTP ${res.statusCode}`, { data: { status: res.statusCode } });
    let token: string | undefined;
    try {
      const body = JSON.parse(text) as { token?: string; access_token?: string };
      token = body.token ?? body.access_token;
    } catch {
      // handled below
    }
    if (!token) throw RegistryRemoteError(`the token service ${realm.origin}${realm.pathname} answered without a token`);
    const next = `Bearer ${token}`;
    if (next === this.header) return false;
    this.header = next;
    return true;
  }
}
