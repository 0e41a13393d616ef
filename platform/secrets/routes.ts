/**
 * `/v1/secrets` (mounted by the composition root behind `adminAuth`):
 *   GET    /:fn          → {function, secrets: [{name, createdAt, updatedAt}]}   (never values)
 *   PUT    /:fn/:name    {value} → {function, name, created, createdAt, updatedAt}: 201 new, 200 replaced
 *   DELETE /:fn/:name    → {function, removed}
 *   POST   /_rotate-key  → {rotated, keyId}   ("_" cannot start a function name, so no clash)
 *
 * The body is parsed here rather than with api/body.ts's readJson: a JSON syntax error message
 * quotes the text around the fault, which here would be the secret value, and that must not reach
 * a problem document or a log line. It is read with the same counted reader (readText).
 */
import { Hono, type Context } from 'hono';
import { BadRequest } from '../errors.ts';
import { readText } from '../api/body.ts';
import { FunctionNotFound } from '../functions/errors.ts';
import { assertFunctionName } from '../functions/names.ts';
import type { SecretStore } from './store.ts';
import { SECRET_VALUE_MAX_BYTES } from './store.ts';

export interface SecretRouteDeps {
  /** Whether a function of this name is deployed. */
  exists(fn: string): boolean;
  /** Called after a set or remove, so the daemon can refresh the function's instances. */
  onChange(fn: string): void;
}

// JSON escapes can make a 64 KiB value up to six times longer on the wire.
const BODY_LIMIT = SECRET_VALUE_MAX_BYTES * 6 + 1024;

async function readValue(c: Context): Promise<unknown> {
  const text = await readText(c, BODY_LIMIT);
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    throw BadRequest('the request body must be a JSON object {"value": "..."}; it is not valid JSON');
  }
  if (typeof body !== 'object' || body === null || Array.isArray(body) || !('value' in body)) {
    throw BadRequest('the request body must be a JSON object {"value": "..."}');
  }
  return (body as { value: unknown }).value;
}

/** The secret routes as a Hono sub-app. */
export function secretRoutes(store: SecretStore, deps: SecretRouteDeps): Hono {
  const app = new Hono();

  const known = (raw: string) => {
    const fn = assertFunctionName(raw);
    if (!deps.exists(fn)) throw FunctionNotFound(`no function named "${fn}"`, { data: { function: fn } });
    return fn;
  };

  app.post('/_rotate-key', (c) => c.json(store.rotateKey()));

  app.get('/:fn', (c) => {
    const fn = known(c.req.param('fn'));
    return c.json({ function: fn, secrets: store.list(fn) });
  });

  app.put('/:fn/:name', async (c) => {
    const fn = known(c.req.param('fn'));
    const value = await readValue(c);
    const info = store.set(fn, c.req.param('name'), value as string);
    deps.onChange(fn);
    return c.json({ function: fn, ...info }, info.created ? 201 : 200);
  });

  app.delete('/:fn/:name', (c) => {
    const fn = known(c.req.param('fn'));
    const name = c.req.param('name');
    store.remove(fn, name);
    deps.onChange(fn);
    return c.json({ function: fn, removed: name });
  });

  return app;
}
