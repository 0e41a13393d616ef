/** Reading JSON request bodies with a size limit and a typed error for malformed input. */
import type { Context } from 'hono';
import { BadRequest, PayloadTooLarge } from '../errors.ts';

/**
 * The body as text, counted as it arrives: past `limitBytes` the read stops and
 * `payload_too_large` is thrown. A declared Content-Length over the limit is refused before any
 * byte is read; a chunked body has none, and reading it whole before measuring it let one
 * request hold hundreds of megabytes of the daemon's memory. What the client still sends after
 * the answer is drained and dropped by the HTTP server, not kept.
 */
export async function readText(c: Context, limitBytes: number): Promise<string> {
  const declared = Number(c.req.header('content-length') ?? NaN);
  if (declared > limitBytes) throw PayloadTooLarge(`request body of ${declared} bytes exceeds ${limitBytes} bytes`, { data: { limit: limitBytes } });
  const body = c.req.raw.body;
  if (!body) return '';
  const reader = body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > limitBytes) {
      reader.cancel().catch(() => {});
      throw PayloadTooLarge(`request body exceeds ${limitBytes} bytes`, { data: { limit: limitBytes } });
    }
    chunks.push(value);
  }
  // TextDecoder, as Request.text() decodes: UTF-8, a BOM dropped, bad bytes replaced.
  return new TextDecoder().decode(Buffer.concat(chunks));
}

export async function readJson<T = Record<string, unknown>>(c: Context, limitBytes = 1024 * 1024): Promise<T> {
  const text = await readText(c, limitBytes);
  if (!text) return {} as T;
  try {
    const value = JSON.parse(text) as unknown;
    if (typeof value !== 'object' || value === null || Array.isArray(value)) throw BadRequest('the request body must be a JSON object');
    return value as T;
  } catch (err) {
    if (err instanceof SyntaxError) throw BadRequest(`the request body is not valid JSON: ${err.message}`);
    throw err;
  }
}
