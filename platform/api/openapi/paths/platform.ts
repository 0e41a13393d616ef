/** `/healthz`, `/v1/info`, `/metrics` and `/v1/openapi.json`: what runs, and how it is doing. */
import { PUBLIC, admin, anyObject, bool, int, json, nullable, obj, problems, str } from '../build.ts';
import type { PathItem } from '../types.ts';

export const platformPaths: Record<string, PathItem> = {
  '/healthz': {
    get: {
      operationId: 'getHealth',
      summary: 'Liveness: 200 while serving, 503 while draining',
      tags: ['platform'],
      security: PUBLIC,
      responses: {
        '200': json('Serving.', obj({ status: { const: 'ok' } })),
        '503': json('Draining: finishing in-flight requests before it stops.', obj({ status: { const: 'draining' } })),
        ...problems(),
      },
    },
  },
  '/v1/info': {
    get: admin({
      operationId: 'getInfo',
      summary: 'Version, driver (and why it was chosen), its capabilities, network state',
      tags: ['platform'],
      responses: {
        '200': json(
          'What runs.',
          obj({
            name: str(),
            version: str(),
            node: str(),
            uptimeMs: int(),
            driver: obj(
              { name: str(), reason: str(), capabilities: anyObject('snapshot, pause, fork, exec, isolation.') },
              {
                isolation: anyObject(
                  "The process driver's sandbox: mode, reason, layers and limits in force (true/false each), and what is missing with its fix.",
                ),
              },
            ),
            network: obj({ enabled: bool(), reason: str() }),
            dataDir: str(),
          }),
        ),
      },
    }),
  },
  '/metrics': {
    get: {
      operationId: 'getMetrics',
      summary: 'Prometheus metrics (text exposition format 0.0.4)',
      description:
        'Invocations, errors and durations per function and version, cold versus warm starts, restore step timings, queue depth and instances by state.',
      tags: ['platform'],
      security: PUBLIC,
      responses: { '200': { description: 'The metrics.', content: { 'text/plain': { schema: str() } } }, ...problems() },
    },
  },
  '/v1/openapi.json': {
    get: {
      operationId: 'getOpenApi',
      summary: 'This document',
      tags: ['platform'],
      'x-ignition-capability': 'openapi',
      security: PUBLIC,
      responses: {
        '200': json(
          'The OpenAPI 3.1 document of this daemon.',
          obj({ openapi: str(), info: anyObject(), paths: anyObject(), components: nullable(anyObject()) }),
        ),
        ...problems(),
      },
    },
  },
};
