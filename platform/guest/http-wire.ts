/**
 * HTTP/1.1 on the agent connection, the daemon's side, reduced to what a forwarding proxy needs:
 * the request head written from a parsed request, and of the agent's response only the status,
 * the header lines and the body's framing. Body bytes are not looked at except for chunked
 * framing, whose sizes say where the body ends.
 *
 * The agent is the platform's own Node server (agent/server.ts), but the bytes it sends are the
 * function's to shape (its headers, its body), so everything here is parsed as untrusted input:
 * a malformed answer is an `AgentProtocolError`, which the invoker turns into `function_crashed`.
 */
import { BadRequest } from '../errors.ts';

/** The agent sent bytes that are not an HTTP/1.1 response (or not one this parser accepts). */
export class AgentProtocolError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'AgentProtocolError';
  }
}

/** The largest response head accepted, as undici's default `maxHeaderSize`. */
export const MAX_HEAD_BYTES = 16 * 1024;
/** The most bytes of chunk extensions on one size line, and of trailer lines in all. */
const MAX_CHUNK_META = 16 * 1024;

/** How the body of a response is delimited (RFC 9112 §6.3). */
export type Framing = 'none' | 'length' | 'chunked' | 'close';

export interface ResponseHead {
  status: number;
  /** Lower-case names; a header sent more than once is an array of its values in order. */
  headers: Record<string, string | string[]>;
  framing: Framing;
  /** The body's length when `framing` is `length`. */
  length: number;
  /** Whether the connection can carry another request once this response has been read. */
  keepAlive: boolean;
}

const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
const STATUS_LINE = /^HTTP\/1\.([01]) (\d{3})(?: |$)/;
const DIGITS = /^\d{1,15}$/;

/**
 * Reads response heads from the start of a connection's bytes: `feed` each chunk until it
 * returns a head. Interim 1xx heads (103 Early Hints, a stray 100 Continue) are skipped; the
 * bytes after the final head, the body's first bytes, are returned with it.
 */
export class HeadReader {
  private pending: Buffer | null = null;

  /** `omit`: header names left out of `headers` (hop-by-hop ones); framing still reads them. */
  constructor(
    private readonly method: string,
    private readonly omit?: ReadonlySet<string>,
  ) {}

  feed(chunk: Buffer): { head: ResponseHead; rest: Buffer } | null {
    let buf = this.pending === null ? chunk : Buffer.concat([this.pending, chunk]);
    for (;;) {
      const end = buf.indexOf('\r\n\r\n', 0, 'latin1');
      if (end === -1) {
        if (buf.length > MAX_HEAD_BYTES) throw new AgentProtocolError(`response head over ${MAX_HEAD_BYTES} bytes`);
        this.pending = buf;
        return null;
      }
      if (end > MAX_HEAD_BYTES) throw new AgentProtocolError(`response head over ${MAX_HEAD_BYTES} bytes`);
      const head = parseResponseHead(buf.toString('latin1', 0, end), this.method, this.omit);
      buf = buf.subarray(end + 4);
      if (head === null) continue; // interim response
      this.pending = null;
      return { head, rest: buf };
    }
  }
}

/** tchar of RFC 9110 §5.6.2, by character code: 1 for a token character, 2 for an upper-case one. */
const TCHAR = new Uint8Array(128);
for (const c of "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyz") TCHAR[c.charCodeAt(0)] = 1;
for (const c of 'ABCDEFGHIJKLMNOPQRSTUVWXYZ') TCHAR[c.charCodeAt(0)] = 2;

/**
 * The header name in `text` from `from` to `to` (the colon), lower-cased, or null when it is not
 * a token. Shared by both sides' head parsers (this file's and api/request-head.ts).
 */
export function headerName(text: string, from: number, to: number): string | null {
  let upper = false;
  for (let i = from; i < to; i++) {
    const c = text.charCodeAt(i);
    const t = c < 128 ? TCHAR[c] : 0;
    if (t === 0) return null;
    if (t === 2) upper = true;
  }
  return upper ? text.slice(from, to).toLowerCase() : text.slice(from, to);
}

/** The header value in `text` from `from` (after the colon) to `to` (the line's end), without the whitespace around it. */
export function headerValue(text: string, from: number, to: number): string {
  while (from < to && (text.charCodeAt(from) === 0x20 || text.charCodeAt(from) === 0x09)) from++;
  while (to > from && (text.charCodeAt(to - 1) === 0x20 || text.charCodeAt(to - 1) === 0x09)) to--;
  return text.slice(from, to);
}

/**
 * Parses a response head without its final empty line; null for an interim (1xx) response.
 * Names in `omit` are read for the framing but left out of `headers`.
 */
export function parseResponseHead(text: string, method: string, omit?: ReadonlySet<string>): ResponseHead | null {
  let eol = text.indexOf('\r\n');
  if (eol === -1) eol = text.length;
  const m = STATUS_LINE.exec(eol === text.length ? text : text.slice(0, eol));
  if (m === null) throw new AgentProtocolError(`not an HTTP/1.x status line: ${JSON.stringify(text.slice(0, Math.min(eol, 80)))}`);
  const status = Number(m[2]);
  if (status < 100) throw new AgentProtocolError(`status ${status} out of range`);
  if (status === 101) throw new AgentProtocolError('the agent switched protocols, which it was never asked to do');
  const headers: Record<string, string | string[]> = {};
  let connection = '';
  let te = '';
  let cl: string | undefined;
  let clConflict = false;
  let pos = eol + 2;
  while (pos < text.length) {
    let next = text.indexOf('\r\n', pos);
    if (next === -1) next = text.length;
    const colon = text.indexOf(':', pos);
    if (colon <= pos || colon > next) throw new AgentProtocolError(`malformed header line ${JSON.stringify(text.slice(pos, Math.min(next, pos + 80)))}`);
    const name = headerName(text, pos, colon);
    if (name === null) throw new AgentProtocolError(`malformed header name ${JSON.stringify(text.slice(pos, Math.min(colon, pos + 80)))}`);
    const value = headerValue(text, colon + 1, next);
    if (value.indexOf('\n') !== -1 || value.indexOf('\r') !== -1) throw new AgentProtocolError(`a bare line break in header ${name}`);
    pos = next + 2;
    if (name === 'connection') connection += `${value.toLowerCase()},`;
    else if (name === 'transfer-encoding') te += te === '' ? value : `,${value}`;
    else if (name === 'content-length') {
      if (cl !== undefined && cl !== value) clConflict = true;
      cl = value;
    }
    if (name === '__proto__' || omit?.has(name)) continue;
    const seen = headers[name];
    if (seen === undefined) headers[name] = value;
    else if (typeof seen === 'string') headers[name] = [seen, value];
    else seen.push(value);
  }
  if (status < 200) return null;
  const http10 = m[1] === '0';
  let keepAlive = connection === '' ? !http10 : http10 ? /(^|[\s,])keep-alive\s*,/.test(connection) : !/(^|[\s,])close\s*,/.test(connection);
  let framing: Framing;
  let length = 0;
  if (method === 'HEAD' || status === 204 || status === 304) framing = 'none';
  else if (te !== '') {
    // Both framings at once is how responses get split: refused rather than guessed (RFC 9112 §6.3).
    if (cl !== undefined) throw new AgentProtocolError('both transfer-encoding and content-length');
    const codings = te.toLowerCase().split(',');
    const last = codings[codings.length - 1].trim();
    if (codings.slice(0, -1).some((c) => c.trim() === 'chunked')) throw new AgentProtocolError('chunked is not the last transfer coding');
    framing = last === 'chunked' ? 'chunked' : 'close';
  } else if (cl !== undefined) {
    if (clConflict || !DIGITS.test(cl)) throw new AgentProtocolError(`invalid content-length ${JSON.stringify(cl)}`);
    framing = 'length';
    length = Number(cl);
  } else framing = 'close';
  if (framing === 'close') keepAlive = false;
  return { status, headers, framing, length, keepAlive };
}

const S_SIZE = 0;
const S_EXT = 1;
const S_SIZE_LF = 2;
const S_DATA = 3;
const S_DATA_CR = 4;
const S_DATA_LF = 5;
const S_TRAILER = 6;
const S_TRAILER_LINE = 7;
const S_TRAILER_LF = 8;
const S_END_LF = 9;
const S_DONE = 10;

/** Takes a chunked body apart (RFC 9112 §7.1) as it arrives, handing on the data bytes. */
export class ChunkedDecoder {
  private state = S_SIZE;
  private size = 0;
  private digits = 0;
  private meta = 0;

  get done(): boolean {
    return this.state === S_DONE;
  }

  /**
   * Decodes `chunk`, calling `onData` with each run of body bytes (views into `chunk`). Returns
   * the offset just past the body's end when it ends in this chunk, else -1.
   */
  decode(chunk: Buffer, onData: (data: Buffer) => void): number {
    const n = chunk.length;
    let i = 0;
    while (i < n) {
      const c = chunk[i];
      switch (this.state) {
        case S_SIZE: {
          const d = hexValue(c);
          if (d !== -1) {
            if (++this.digits > 13) throw new AgentProtocolError('chunk size too large');
            this.size = this.size * 16 + d;
          } else if (this.digits === 0) throw new AgentProtocolError(`malformed chunk size (byte ${c})`);
          else if (c === 0x3b /* ; */ || c === 0x20 || c === 0x09) this.state = S_EXT;
          else if (c === 0x0d) this.state = S_SIZE_LF;
          else throw new AgentProtocolError(`malformed chunk size (byte ${c})`);
          i++;
          break;
        }
        case S_EXT:
          if (c === 0x0d) this.state = S_SIZE_LF;
          else if (c === 0x0a) throw new AgentProtocolError('bare LF in a chunk extension');
          else if (++this.meta > MAX_CHUNK_META) throw new AgentProtocolError('chunk extensions too long');
          i++;
          break;
        case S_SIZE_LF:
          if (c !== 0x0a) throw new AgentProtocolError('chunk size line not ended by CRLF');
          this.state = this.size === 0 ? S_TRAILER : S_DATA;
          this.digits = 0;
          this.meta = 0;
          i++;
          break;
        case S_DATA: {
          const take = Math.min(this.size, n - i);
          onData(chunk.subarray(i, i + take));
          this.size -= take;
          i += take;
          if (this.size === 0) this.state = S_DATA_CR;
          break;
        }
        case S_DATA_CR:
          if (c !== 0x0d) throw new AgentProtocolError('chunk data not followed by CRLF');
          this.state = S_DATA_LF;
          i++;
          break;
        case S_DATA_LF:
          if (c !== 0x0a) throw new AgentProtocolError('chunk data not followed by CRLF');
          this.state = S_SIZE;
          i++;
          break;
        case S_TRAILER:
        case S_TRAILER_LINE:
          if (c === 0x0d) this.state = this.state === S_TRAILER ? S_END_LF : S_TRAILER_LF;
          else if (c === 0x0a) throw new AgentProtocolError('bare LF in a trailer');
          else if (++this.meta > MAX_CHUNK_META) throw new AgentProtocolError('trailers too long');
          else this.state = S_TRAILER_LINE;
          i++;
          break;
        case S_TRAILER_LF:
          if (c !== 0x0a) throw new AgentProtocolError('trailer line not ended by CRLF');
          this.state = S_TRAILER;
          i++;
          break;
        case S_END_LF:
          if (c !== 0x0a) throw new AgentProtocolError('chunked body not ended by CRLF');
          this.state = S_DONE;
          return i + 1;
        default:
          throw new AgentProtocolError('bytes after the end of a chunked body');
      }
    }
    return -1;
  }
}

function hexValue(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  const l = c | 0x20;
  if (l >= 0x61 && l <= 0x66) return l - 0x61 + 10;
  return -1;
}

/** Control characters and spaces a request line or header value cannot carry. */
const BAD_TARGET = /[\x00-\x20\x7f]|[^\x00-\xff]/;
const BAD_VALUE = /[\r\n\0]|[^\x00-\xff]/;

/**
 * The request head for the agent: request line, the given headers (`host: agent` if they have
 * none) but those `omit` names, then `extra` (name, value, name, value…), which replace any of
 * the same name, then the
 * framing of the body, which is the writer's alone (`bodyLength`: a length, `chunked`, or no
 * body). Headers are written byte for byte as Node's parser decoded them (latin1): write the
 * result as latin1. Throws `bad_request` for a method, target or header that cannot go on the wire.
 */
export function requestHead(
  method: string,
  target: string,
  headers: Readonly<Record<string, string | string[] | undefined>>,
  bodyLength: number | 'chunked' | null,
  omit?: (name: string, value: string | string[]) => boolean,
  extra?: readonly string[],
): string {
  if (!TOKEN.test(method)) throw BadRequest(`the method ${JSON.stringify(method)} cannot be forwarded`);
  if (BAD_TARGET.test(target)) throw BadRequest(`the request target ${JSON.stringify(target)} cannot be forwarded`);
  let head = headers.host === undefined ? `${method} ${target} HTTP/1.1\r\nhost: agent\r\n` : `${method} ${target} HTTP/1.1\r\n`;
  for (const name in headers) {
    const value = headers[name];
    if (value === undefined || name === 'content-length' || name === 'transfer-encoding') continue;
    if ((extra !== undefined && replaced(extra, name)) || omit?.(name, value)) continue;
    if (!TOKEN.test(name)) throw BadRequest(`the header name ${JSON.stringify(name)} cannot be forwarded`);
    if (typeof value === 'string') head += headerLine(name, value);
    else for (const v of value) head += headerLine(name, v);
  }
  if (extra !== undefined) {
    for (let i = 0; i < extra.length; i += 2) {
      if (!TOKEN.test(extra[i])) throw BadRequest(`the header name ${JSON.stringify(extra[i])} cannot be forwarded`);
      head += headerLine(extra[i], extra[i + 1]);
    }
  }
  if (bodyLength === 'chunked') head += 'transfer-encoding: chunked\r\n';
  else if (bodyLength !== null) head += `content-length: ${bodyLength}\r\n`;
  return `${head}\r\n`;
}

function replaced(extra: readonly string[], name: string): boolean {
  for (let i = 0; i < extra.length; i += 2) if (extra[i] === name) return true;
  return false;
}

function headerLine(name: string, value: string): string {
  if (BAD_VALUE.test(value)) throw BadRequest(`the value of header ${name} cannot be forwarded`);
  return `${name}: ${value}\r\n`;
}
