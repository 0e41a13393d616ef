/**
 * A thin client of the OCI distribution API (one method per endpoint, no policy), over undici.
 * Policy (what to skip, when to mount, chunk sizes) lives in push.ts and pull.ts.
 *
 * Every request goes through `send`, which adds the Authorization header, answers a 401
 * challenge once (see auth.ts), follows redirects for reads (dropping credentials when the origin
 * changes, as blob storage redirects point elsewhere), and turns failures into typed errors that
 * carry method, URL, status and the registry's own error codes. Request bodies are factories, so
 * a request refused with 401 can be sent again after authenticating.
 */
import { Agent, request, type Dispatcher } from 'undici';
import type { Readable } from 'node:stream';
import type { Digest } from '../digest.ts';
import { RegistryRemoteError, RegistryRemoteUnauthorized } from '../errors.ts';
import { Authenticator, type Credentials } from './auth.ts';
import { baseUrl, type Reference } from './reference.ts';
import { OCI_INDEX, OCI_MANIFEST } from './media-types.ts';

export interface ClientOptions {
  insecure?: boolean;
  auth?: Credentials;
  /** Extra scopes to request with tokens (e.g. pull access to a repository we mount from). */
  scopes?: string[];
  /** Write access needed (push) or read only (pull). */
  push?: boolean;
}

export interface SendOptions {
  headers?: Record<string, string>;
  body?: () => Buffer | Readable | AsyncIterable<Buffer> | null;
  /** Statuses that count as success; anything else throws. */
  expect: number[];
  /** Follow 3xx (reads only). */
  follow?: boolean;
}

export interface Reply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Dispatcher.ResponseData['body'];
  url: URL;
}

const MANIFEST_ACCEPT = [OCI_MANIFEST, OCI_INDEX, 'application/vnd.docker.distribution.manifest.v2+json'].join(', ');

export class DistributionClient {
  readonly base: string;
  readonly ref: Reference;
  private readonly dispatcher: Agent;
  private readonly auth: Authenticator;
  private readonly scopes: string[];

  constructor(ref: Reference, options: ClientOptions = {}) {
    this.ref = ref;
    this.base = baseUrl(ref, options.insecure);
    this.dispatcher = new Agent({ connect: options.insecure ? { rejectUnauthorized: false } : undefined, keepAliveTimeout: 10_000 });
    this.auth = new Authenticator(options.auth, this.dispatcher);
    this.scopes = [`repository:${ref.repository}:${options.push ? 'pull,push' : 'pull'}`, ...(options.scopes ?? [])];
  }

  /** Lets in-flight requests finish and closes the connections. Idempotent. */
  async close(): Promise<void> {
    await this.dispatcher.close().catch(() => {});
  }

  url(pathOrUrl: string): URL {
    return new URL(pathOrUrl, this.base);
  }

  async send(method: Dispatcher.HttpMethod, target: string | URL, options: SendOptions): Promise<Reply> {
    let url = typeof target === 'string' ? this.url(target) : target;
    let authRetried = false;
    for (let hops = 0; hops < 6;) {
      const headers: Record<string, string> = { 'user-agent': 'ignition-registry', ...options.headers };
      const authz = url.origin === new URL(this.base).origin ? this.auth.current() : null;
      if (authz) headers.authorization = authz;
      let res: Dispatcher.ResponseData;
      try {
        const body = options.body?.() ?? null;
        // undici streams any async iterable; its typings only list Readable.
        res = await request(url, { method, headers, body: body as Buffer | Readable | null, dispatcher: this.dispatcher });
      } catch (err) {
        throw RegistryRemoteError(`${method} ${url.href} failed: ${(err as Error).message}`, { cause: err, data: { method, url: url.href } });
      }
      if (res.statusCode === 401 && !authRetried && url.origin === new URL(this.base).origin) {
        await res.body.dump();
        authRetried = true;
        if (await this.auth.answer(header(res.headers, 'www-authenticate'), this.scopes, url.href)) continue;
        throw unauthorized(method, url, 401);
      }
      if (options.follow && [301, 302, 303, 307, 308].includes(res.statusCode) && header(res.headers, 'location')) {
        await res.body.dump();
        url = new URL(header(res.headers, 'location') as string, url);
        hops++;
        continue;
      }
      if (!options.expect.includes(res.statusCode)) throw await remoteError(method, url, res);
      return { status: res.statusCode, headers: res.headers, body: res.body, url };
    }
    throw RegistryRemoteError(`${method} ${url.href}: too many redirects`);
  }

  /** HEAD a blob: its size when the repository has it, null when not. */
  async blobSize(digest: Digest): Promise<number | null> {
    const r = await this.send('HEAD', `/v2/${this.ref.repository}/blobs/${digest}`, { expect: [200, 404], follow: true });
    await r.body.dump();
    return r.status === 200 ? Number(header(r.headers, 'content-length') ?? -1) : null;
  }

  /** GET a blob as a stream. */
  async getBlob(digest: Digest): Promise<Reply> {
    return this.send('GET', `/v2/${this.ref.repository}/blobs/${digest}`, { expect: [200], follow: true });
  }

  /** Starts an upload, or mounts from another repository: `mounted` or the upload location. */
  async startUpload(mount?: { digest: Digest; from: string }): Promise<{ mounted: true } | { mounted: false; location: URL }> {
    const q = mount ? `?mount=${encodeURIComponent(mount.digest)}&from=${encodeURIComponent(mount.from)}` : '';
    const r = await this.send('POST', `/v2/${this.ref.repository}/blobs/uploads/${q}`, { expect: [201, 202], headers: { 'content-length': '0' } });
    await r.body.dump();
    if (r.status === 201) return { mounted: true };
    return { mounted: false, location: this.location(r) };
  }

  /** PATCH one chunk; returns the next upload location. */
  async uploadChunk(location: URL, start: number, length: number, body: () => Readable | AsyncIterable<Buffer>): Promise<URL> {
    const r = await this.send('PATCH', location, {
      expect: [202],
      headers: { 'content-type': 'application/octet-stream', 'content-length': String(length), 'content-range': `${start}-${start + length - 1}` },
      body,
    });
    await r.body.dump();
    return this.location(r);
  }

  /** Completes an upload with PUT ?digest= (with the whole body for a monolithic upload). */
  async finishUpload(location: URL, digest: Digest, body?: { length: number; stream: () => Readable | AsyncIterable<Buffer> }): Promise<void> {
    const url = new URL(location);
    url.searchParams.set('digest', digest);
    const r = await this.send('PUT', url, {
      expect: [201, 204],
      headers: { 'content-type': 'application/octet-stream', 'content-length': String(body?.length ?? 0) },
      body: body ? body.stream : undefined,
    });
    await r.body.dump();
    const got = header(r.headers, 'docker-content-digest');
    if (got && got !== digest) throw RegistryRemoteError(`the registry stored blob ${digest} as ${got}`, { data: { expected: digest, actual: got } });
  }

  async putManifest(reference: string, bytes: Buffer, mediaType: string): Promise<string | undefined> {
    const r = await this.send('PUT', `/v2/${this.ref.repository}/manifests/${reference}`, {
      expect: [201, 204],
      headers: { 'content-type': mediaType, 'content-length': String(bytes.length) },
      body: () => bytes,
    });
    await r.body.dump();
    return header(r.headers, 'docker-content-digest');
  }

  async getManifest(reference: string): Promise<Reply> {
    return this.send('GET', `/v2/${this.ref.repository}/manifests/${reference}`, { expect: [200], headers: { accept: MANIFEST_ACCEPT }, follow: true });
  }

  private location(r: Reply): URL {
    const loc = header(r.headers, 'location');
    if (!loc) throw RegistryRemoteError(`${r.url.href} answered ${r.status} without a Location header`);
    return new URL(loc, r.url);
  }
}

export function header(headers: Reply['headers'], name: string): string | undefined {
  const v = headers[name];
  return Array.isArray(v) ? v[0] : v;
}

function unauthorized(method: string, url: URL, status: number): Error {
  return RegistryRemoteUnauthorized(`${method} ${url.href} was refused (HTTP ${status}): check the credentials and the repository access`, {
    data: { method, url: url.href, status },
  });
}

async function remoteError(method: string, url: URL, res: Dispatcher.ResponseData): Promise<Error> {
  let text = '';
  try {
    text = method === 'HEAD' ? '' : (await res.body.text()).slice(0, 2000);
  } catch {
    // The body is only context.
  }
  if (method === 'HEAD') await res.body.dump().catch(() => {});
  let codes: string[] = [];
  try {
    codes = ((JSON.parse(text) as { errors?: Array<{ code?: string }> }).errors ?? []).map((e) => String(e.code));
  } catch {
    // Not a distribution error body.
  }
  if (res.statusCode === 401 || res.statusCode === 403) return unauthorized(method, url, res.statusCode);
  return RegistryRemoteError(`${method} ${url.pathname} on ${url.host} answered HTTP ${res.statusCode}${codes.length ? ` (${codes.join(', ')})` : ''}`, {
    data: { method, url: url.href, status: res.statusCode, registryCodes: codes, body: text.slice(0, 500) },
  });
}
