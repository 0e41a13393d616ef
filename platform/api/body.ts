/** Reading JSON request bodies with a size limit and a typed error for malformed input. */
import type { Context } from 'hono';
import { BadRequest, PayloadTooLarge } from '../errors.ts';

export async function readJson<T = Record<string, unknown>>(c: Context, limitBytes = 1024 * 1024): Promise<T> {
  const declared = Number(c.req.header('content-length') ?? NaN);
  if (declared > limitBytes) throw PayloadTooLarge(`request body of ${declared} bytes exceeds ${limitBytes} bytes`);
  const text = await c.req.text();
  if (Buffer.byteLength(text) > limitBytes) throw PayloadTooLarge(`request body exceeds ${limitBytes} bytes`);
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
