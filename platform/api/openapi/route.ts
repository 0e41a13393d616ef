/**
 * Serves the API document. Mount it where clients look for it:
 *
 *   app.route('/v1/openapi.json', openapiRoutes())
 *
 * and list `/v1/openapi.json` in `adminAuth`'s `publicPaths`, since a client needs the contract
 * before it has a token. The sub-app answers on its own `/`, which is the mount path itself.
 */
import { Hono } from 'hono';
import { apiDocument } from './document.ts';
import type { OpenApiDocument } from './types.ts';

/** `GET /` → the OpenAPI document as JSON (serialised once; it never changes while running). */
export function openapiRoutes(doc: OpenApiDocument = apiDocument): Hono {
  const app = new Hono();
  const body = JSON.stringify(doc);
  app.get('/', (c) => c.body(body, 200, { 'content-type': 'application/json', 'cache-control': 'no-cache' }));
  return app;
}
