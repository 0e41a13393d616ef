/**
 * The OpenAPI 3.1 document of the daemon's HTTP API, written by hand as a typed object and served
 * at `/v1/openapi.json`. One module per capability under paths/, shared schemas in
 * components.ts. test/api/openapi.test.ts keeps it true: every route the daemon registers is
 * here, every operation here is registered, and every response of a walk over the whole API
 * matches its operation (status, content type, body schema).
 *
 * Security: the document-wide requirement is the admin bearer token; /healthz, /metrics and the
 * document itself are public, /fn is public unless a function asks for a token.
 */
import { VERSION } from '../../version.ts';
import { schemas } from './components.ts';
import { asyncPaths } from './paths/async.ts';
import { authPaths } from './paths/auth.ts';
import { consolePaths } from './paths/console.ts';
import { functionPaths } from './paths/functions.ts';
import { invokePaths } from './paths/invoke.ts';
import { networkPaths } from './paths/network.ts';
import { platformPaths } from './paths/platform.ts';
import { secretPaths } from './paths/secrets.ts';
import { snapshotPaths } from './paths/snapshots.ts';
import { vmPaths } from './paths/vms.ts';
import type { OpenApiDocument, PathItem } from './types.ts';

/** Merges path maps; two capabilities documenting the same template merge their methods. */
function mergePaths(...groups: Array<Record<string, PathItem>>): Record<string, PathItem> {
  const out: Record<string, PathItem> = {};
  for (const group of groups) {
    for (const [template, item] of Object.entries(group)) {
      for (const method of Object.keys(item) as Array<keyof PathItem>) {
        if (out[template]?.[method]) throw new Error(`the API document describes ${String(method).toUpperCase()} ${template} twice`);
      }
      out[template] = { ...out[template], ...item };
    }
  }
  return out;
}

export const apiDocument: OpenApiDocument = {
  openapi: '3.1.0',
  info: {
    title: 'Ignition',
    version: VERSION,
    description:
      'Self-hosted serverless functions on Firecracker microVM snapshots. The admin API lives under `/v1` and needs `Authorization: Bearer <token>` (the first admin token is in `<dataDir>/admin.token`); functions are invoked under `/fn`. Every response carries `x-request-id`; every error is `application/problem+json` with a stable `code`. See docs/API.md.',
  },
  servers: [{ url: 'http://127.0.0.1:7777', description: 'The default listen address (config `listen`, IGNITION_LISTEN).' }],
  tags: [
    { name: 'platform', description: 'Health, info, metrics, this document.' },
    { name: 'functions', description: 'Deploys, versions, aliases, rollback, instances, logs.' },
    { name: 'invoke', description: 'Calling functions.' },
    { name: 'async', description: 'Queued invocations and cron triggers.' },
    { name: 'vms', description: 'User-managed microVMs.' },
    { name: 'snapshots', description: 'The snapshot registry.' },
    { name: 'images', description: 'Base images.' },
    { name: 'network', description: 'Host networking views.' },
    { name: 'auth', description: 'API tokens.' },
    { name: 'secrets', description: 'Per-function secrets.' },
  ],
  security: [{ bearer: [] }],
  paths: mergePaths(platformPaths, functionPaths, asyncPaths, invokePaths, vmPaths, snapshotPaths, networkPaths, authPaths, consolePaths, secretPaths),
  components: {
    schemas,
    securitySchemes: {
      bearer: { type: 'http', scheme: 'bearer', description: 'An API token (`ign_…`). Admin tokens open `/v1`; invoke tokens open token-protected functions.' },
    },
  },
};
