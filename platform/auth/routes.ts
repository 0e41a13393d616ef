/**
 * `/v1/tokens` (mounted by the composition root behind `adminAuth`):
 *   POST /        {name?, scope?: 'admin'|'invoke', function?}  → 201 {id, token, ...record}
 *   GET  /        → {tokens: [record…]}   (never a token, never a hash)
 *   DELETE /:id   → {revoked: record}
 * The token appears in exactly one response, the 201 of its creation.
 */
import { Hono } from 'hono';
import { readJson } from '../api/body.ts';
import { AuthInvalidRequest } from './errors.ts';
import type { TokenScope, TokenStore } from './tokens.ts';

function optionalString(body: Record<string, unknown>, key: string): string | undefined {
  const v = body[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'string') throw AuthInvalidRequest(`"${key}" must be a string`);
  return v;
}

/** The token routes as a Hono sub-app. */
export function authRoutes(store: TokenStore): Hono {
  const app = new Hono();

  app.post('/', async (c) => {
    const body = await readJson(c, 16 * 1024);
    const { id, token, record } = store.create({
      name: optionalString(body, 'name'),
      scope: optionalString(body, 'scope') as TokenScope | undefined,
      fn: optionalString(body, 'function'),
    });
    return c.json({ ...record, id, token }, 201);
  });

  app.get('/', (c) => c.json({ tokens: store.list() }));

  app.delete('/:id', (c) => c.json({ revoked: store.revoke(c.req.param('id')) }));

  return app;
}
