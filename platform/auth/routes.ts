/**
 * `/v1/tokens` (mounted by the composition root behind `adminAuth`):
 *   POST /        {name?, scope?: 'admin'|'invoke', function?}  → 201 {id, token, ...record}
 *   GET  /        → {tokens: [record…]}   (never a token, never a hash)
 *   DELETE /:id   → {revoked: record}
 * The token appears in exactly one response, the 201 of its creation. An invoke token limited to a
 * function that does not exist is refused (`function_not_found`), as `secret set` refuses one: a
 * typo would otherwise give a token that answers 403 on every call.
 */
import { Hono } from 'hono';
import { readJson } from '../api/body.ts';
import { AuthInvalidRequest } from './errors.ts';
import { FunctionNotFound } from '../functions/errors.ts';
import { assertFunctionName } from '../functions/names.ts';
import type { TokenScope, TokenStore } from './tokens.ts';

function optionalString(body: Record<string, unknown>, key: string): string | undefined {
  const v = body[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'string') throw AuthInvalidRequest(`"${key}" must be a string`);
  return v;
}

export interface AuthRouteDeps {
  /** Whether a function of this name is deployed; without it, any valid name is accepted. */
  exists?: (fn: string) => boolean;
}

function validName(fn: string): boolean {
  try {
    assertFunctionName(fn);
    return true;
  } catch {
    return false;
  }
}

/** The token routes as a Hono sub-app. */
export function authRoutes(store: TokenStore, deps: AuthRouteDeps = {}): Hono {
  const app = new Hono();

  app.post('/', async (c) => {
    const body = await readJson(c, 16 * 1024);
    const scope = optionalString(body, 'scope') as TokenScope | undefined;
    const fn = optionalString(body, 'function');
    // A malformed name or a function on an admin token is the store's auth_invalid_request.
    if (fn !== undefined && scope !== 'admin' && deps.exists && validName(fn) && !deps.exists(fn)) {
      throw FunctionNotFound(`no function named "${fn}": deploy it before creating a token for it`, { data: { function: fn } });
    }
    const { id, token, record } = store.create({ name: optionalString(body, 'name'), scope, fn });
    return c.json({ ...record, id, token }, 201);
  });

  app.get('/', (c) => c.json({ tokens: store.list() }));

  app.delete('/:id', (c) => c.json({ revoked: store.revoke(c.req.param('id')) }));

  return app;
}
