/**
 * The request heads the daemon's front door (`front-door.ts`) serves itself: invocations in plain
 * HTTP/1.1, read from the connection's bytes into the same header object Node's parser would
 * build. Anything else, or anything unusual, is not refused here but left to Node's HTTP server,
 * which parses it afresh and answers it as it always has (its refusals included): so this parser
 * only has to recognise what it takes, never to judge what it does not.
 *
 * What it takes: `GET`, `HEAD`, `POST`, `PUT`, `PATCH`, `DELETE` or `OPTIONS`, an invocation
 * target (`/fn/<name>…`), `HTTP/1.1`, header lines of token names and values without control
 * characters, and a body framed by one `content-length` or none. What it leaves to Node:
 * `transfer-encoding` (chunked bodies), `expect` (100-continue is answered by invoke-listener.ts),
 * `upgrade`, a missing `host`, HTTP/1.0, obsolete line folding, and heads over `MAX_REQUEST_HEAD` bytes (Node
 * answers 431).
 */
import { isInvocationTarget } from './invocation.ts';
import { headerName, headerValue } from '../guest/http-wire.ts';

/** Node's default `maxHeaderSize`: a longer head goes to Node, which refuses it with 431. */
export const MAX_REQUEST_HEAD = 16 * 1024;

export interface RequestHead {
  method: string;
  /** From `/fn/` on, as sent. */
  target: string;
  /** Lower-case names, duplicates merged as Node's IncomingMessage merges them. */
  headers: Record<string, string | string[]>;
  /** The declared body length; 0 when the request has no body. */
  contentLength: number;
  /** The client asked to close the connection after this request. */
  close: boolean;
}

const METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS']);

/** What a header value may not hold: anything but field-vchar, SP, HTAB and obs-text (llhttp and Node refuse the rest). Requests and responses share it. */
export const BAD_VALUE = /[^\t\x20-\x7e\x80-\xff]/;
/** What a request target may not hold: controls, space, DEL. */
const BAD_TARGET = /[\x00-\x20\x7f]/;
const DIGITS = /^\d{1,15}$/;

/**
 * Headers whose duplicates Node's IncomingMessage drops (the first wins), so that a function and
 * the platform see one value, as they do on Node's path. `cookie` is joined with `; `, `set-cookie`
 * kept as an array, and every other header joined with `, `.
 */
const SINGLE = new Set([
  'age',
  'authorization',
  'content-type',
  'etag',
  'expires',
  'from',
  'host',
  'if-modified-since',
  'if-unmodified-since',
  'last-modified',
  'location',
  'max-forwards',
  'proxy-authorization',
  'referer',
  'retry-after',
  'server',
  'user-agent',
]);

/**
 * Parses the head in `text` (latin1, without its final empty line). Returns null for a request
 * the front door does not take: the connection then goes to Node's server with these bytes.
 */
export function parseRequestHead(text: string): RequestHead | null {
  let eol = text.indexOf('\r\n');
  if (eol === -1) eol = text.length;
  const sp1 = text.indexOf(' ');
  if (sp1 <= 0 || sp1 > eol) return null;
  const method = text.slice(0, sp1);
  if (!METHODS.has(method)) return null;
  const sp2 = text.indexOf(' ', sp1 + 1);
  if (sp2 === -1 || sp2 > eol || eol - sp2 !== 9 || !text.startsWith('HTTP/1.1', sp2 + 1)) return null;
  const target = text.slice(sp1 + 1, sp2);
  if (!isInvocationTarget(target) || BAD_TARGET.test(target)) return null;

  const headers: Record<string, string | string[]> = {};
  let contentLength = 0;
  let close = false;
  let pos = eol + 2;
  while (pos < text.length) {
    let next = text.indexOf('\r\n', pos);
    if (next === -1) next = text.length;
    const colon = text.indexOf(':', pos);
    if (colon <= pos || colon > next) return null;
    const name = headerName(text, pos, colon);
    if (name === null) return null;
    const value = headerValue(text, colon + 1, next);
    if (BAD_VALUE.test(value)) return null;
    pos = next + 2;
    switch (name) {
      case 'transfer-encoding':
      case 'expect':
      case 'upgrade':
      case '__proto__':
        return null;
      case 'content-length':
        // A second length, even an equal one, is left to Node's parser to judge.
        if (headers['content-length'] !== undefined || !DIGITS.test(value)) return null;
        contentLength = Number(value);
        break;
      case 'connection':
        if (/(^|[\s,])close($|[\s,])/i.test(value)) close = true;
        break;
    }
    const seen = headers[name];
    if (seen === undefined) headers[name] = name === 'set-cookie' ? [value] : value;
    else if (Array.isArray(seen)) seen.push(value);
    else if (SINGLE.has(name)) continue;
    else headers[name] = name === 'cookie' ? `${seen}; ${value}` : `${seen}, ${value}`;
  }
  // HTTP/1.1 requires a Host header (RFC 9112 §3.2): a request without one is Node's to refuse.
  if (headers.host === undefined) return null;
  return { method, target, headers, contentLength, close };
}
