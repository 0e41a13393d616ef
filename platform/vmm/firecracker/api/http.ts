/**
 * The HTTP layer under the Firecracker API client: one keep-alive undici connection to the API
 * Unix socket, one call at a time (Firecracker serves requests serially anyway), a deadline per
 * call, and the translation of every failure into a typed `fc_` error carrying method, path and
 * status.
 *
 * Wire rules enforced here: bodies are always framed by Content-Length
 * (micro-http never decodes chunked bodies); a body larger than the server's payload limit is
 * refused before it is sent, because the server would answer with a transport error and drop every
 * request pipelined behind it; `204` arrives as `HTTP/1.1 204 ` without Content-Length, which
 * undici frames correctly because a 204 never has a body (a read-to-EOF client would hang on the
 * keep-alive connection). The facts: docs/FIRECRACKER-DRIVER.md, "The HTTP layer (micro-http)".
 */
import net from 'node:net';
import { Client, errors as undiciErrors } from 'undici';
import { IgnitionError } from '../../../errors.ts';
import { FcApiFault, FcApiTimeout, FcApiTransport, FcApiUnreachable, FcPayloadTooLarge } from '../errors.ts';

/** `HTTP_MAX_PAYLOAD_SIZE` in Firecracker (`--http-api-max-payload-size` overrides it). */
export const DEFAULT_MAX_PAYLOAD = 51200;
export const DEFAULT_API_TIMEOUT_MS = 10_000;

export type HttpMethod = 'GET' | 'PUT' | 'PATCH' | 'DELETE';

export interface ApiTransportOptions {
  socketPath: string;
  /** Per-call deadline in milliseconds. */
  timeoutMs?: number;
  /** The server's payload limit; bodies above it are refused client-side. */
  maxPayload?: number;
}

export interface ApiResponse<T> {
  status: number;
  /** True when Firecracker flagged a deprecated field or endpoint (`Deprecation: true`). */
  deprecated: boolean;
  body: T | undefined;
}

export interface CallOptions {
  /** Overrides the transport's per-call deadline (snapshot calls can take longer). */
  timeoutMs?: number;
}

/** What an error body said, whichever of Firecracker's two error shapes it used. */
export interface ParsedErrorBody {
  kind: 'fault' | 'transport' | 'unknown';
  message: string;
}

/**
 * Reads an error body defensively. Firecracker faults are `{"fault_message":"…"}`; micro-http
 * transport errors are `{ "error": "<msg>\nAll previous unanswered requests will be dropped." }`
 * with a RAW newline inside the string, which JSON.parse rejects, hence the regex fallback.
 */
export function parseErrorBody(text: string): ParsedErrorBody {
  try {
    const value: unknown = JSON.parse(text);
    if (value && typeof value === 'object') {
      const o = value as Record<string, unknown>;
      if (typeof o.fault_message === 'string') return { kind: 'fault', message: o.fault_message };
      if (typeof o.error === 'string') return { kind: 'transport', message: o.error };
    }
  } catch {
    // Not JSON: fall through to the tolerant readers below.
  }
  const field = (name: string) => new RegExp(`"${name}"\\s*:\\s*"([\\s\\S]*)"\\s*}\\s*$`).exec(text)?.[1];
  const fault = field('fault_message');
  if (fault !== undefined) return { kind: 'fault', message: unescape(fault) };
  const transport = field('error');
  if (transport !== undefined) return { kind: 'transport', message: unescape(transport) };
  return { kind: 'unknown', message: text.trim() };
}

function unescape(s: string): string {
  // Re-read as a JSON string after escaping the raw control characters micro-http leaves in.
  try {
    return JSON.parse(`"${s.replace(/\n/g, '\\n').replace(/\r/g, '\\r').replace(/\t/g, '\\t')}"`) as string;
  } catch {
    return s;
  }
}

/** One keep-alive connection to a Firecracker API socket. */
export class ApiTransport {
  readonly timeoutMs: number;
  readonly maxPayload: number;
  #client: Client;
  #socketPath: string;

  constructor(options: ApiTransportOptions) {
    this.#socketPath = options.socketPath;
    this.timeoutMs = options.timeoutMs ?? DEFAULT_API_TIMEOUT_MS;
    this.maxPayload = options.maxPayload ?? DEFAULT_MAX_PAYLOAD;
    this.#client = new Client('http://localhost', {
      // Dials the current path (see moveTo), not the one the client was made with.
      connect: (_opts, callback) => {
        const socket = net.connect(this.#socketPath);
        const onError = (err: Error) => {
          socket.destroy();
          callback(err, null);
        };
        socket.once('error', onError);
        socket.once('connect', () => {
          socket.off('error', onError);
          callback(null, socket);
        });
      },
      pipelining: 1,
      // Firecracker keeps connections open until the client hangs up; keep ours for the VM's life.
      keepAliveTimeout: 600_000,
      keepAliveMaxTimeout: 600_000,
    });
  }

  get socketPath(): string {
    return this.#socketPath;
  }

  /**
   * The socket file was moved with its directory (a spare VMM adopted by a VM: spares.ts). The
   * open connection stays as it is; a new one dials the new path.
   */
  moveTo(socketPath: string): void {
    this.#socketPath = socketPath;
  }

  /** Sends one request and returns the decoded answer, or throws a typed `fc_` error. */
  async call<T>(method: HttpMethod, path: string, body?: unknown, options: CallOptions = {}): Promise<ApiResponse<T>> {
    const data = { method, path, socket: this.socketPath };
    let payload: Buffer | undefined;
    if (body !== undefined) {
      payload = Buffer.from(JSON.stringify(body), 'utf8');
      if (payload.length > this.maxPayload) {
        throw FcPayloadTooLarge(`${method} ${path}: body of ${payload.length} bytes exceeds Firecracker's limit of ${this.maxPayload} bytes`, {
          data: { ...data, size: payload.length, limit: this.maxPayload },
        });
      }
    }
    const timeoutMs = options.timeoutMs ?? this.timeoutMs;
    const controller = new AbortController();
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      controller.abort();
    }, timeoutMs);
    try {
      const headers: Record<string, string> = { accept: 'application/json' };
      if (payload) {
        headers['content-type'] = 'application/json';
        // Always framed by length: micro-http reads bodies only through Content-Length.
        headers['content-length'] = String(payload.length);
      }
      const res = await this.#client.request({
        method,
        path,
        headers,
        body: payload,
        signal: controller.signal,
        headersTimeout: timeoutMs,
        bodyTimeout: timeoutMs,
      });
      const text = await res.body.text();
      const deprecated = String(res.headers['deprecation'] ?? '').toLowerCase() === 'true';
      if (res.statusCode >= 200 && res.statusCode < 300) {
        let parsed: T | undefined;
        if (text.length > 0) {
          try {
            parsed = JSON.parse(text) as T;
          } catch (cause) {
            throw FcApiTransport(`${method} ${path}: Firecracker answered ${res.statusCode} with a body that is not JSON`, {
              data: { ...data, status: res.statusCode, body: text.slice(0, 512) },
              cause,
            });
          }
        }
        return { status: res.statusCode, deprecated, body: parsed };
      }
      const err = parseErrorBody(text);
      const fields = { data: { ...data, status: res.statusCode, message: err.message } };
      if (err.kind === 'fault') {
        throw FcApiFault(`${method} ${path} failed with ${res.statusCode}: ${err.message}`, fields);
      }
      throw FcApiTransport(`${method} ${path} was refused by the API server (${res.statusCode}): ${err.message || 'no body'}`, fields);
    } catch (err) {
      if (err instanceof IgnitionError) throw err;
      if (timedOut) {
        throw FcApiTimeout(`${method} ${path}: no answer from ${this.socketPath} within ${timeoutMs} ms`, {
          data: { ...data, timeoutMs },
          cause: err,
        });
      }
      if (err instanceof undiciErrors.UndiciError || isErrno(err)) {
        const socketError = (err as { code?: string }).code ?? 'unknown';
        throw FcApiUnreachable(`${method} ${path}: cannot talk to ${this.socketPath} (${socketError})`, { data: { ...data, socketError }, cause: err });
      }
      throw err;
    } finally {
      clearTimeout(timer);
    }
  }

  /** Lets an in-flight call finish, then closes the connection. Idempotent. */
  async close(): Promise<void> {
    if (this.#client.closed || this.#client.destroyed) return;
    await this.#client.close().catch(() => undefined);
  }

  /** Drops the connection at once. Idempotent. */
  async destroy(): Promise<void> {
    if (this.#client.destroyed) return;
    await this.#client.destroy().catch(() => undefined);
  }
}

function isErrno(err: unknown): err is NodeJS.ErrnoException {
  return err instanceof Error && typeof (err as NodeJS.ErrnoException).code === 'string';
}
