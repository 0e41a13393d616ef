/**
 * `/v1/console`: login links of the web console (platform/console/, docs/CONSOLE.md). The
 * console's own pages under `/console` are HTML for a browser session, not part of this API.
 */
import { admin, dateTime, int, json, obj, str } from '../build.ts';
import type { PathItem } from '../types.ts';

export const consolePaths: Record<string, PathItem> = {
  '/v1/console/login-links': {
    post: {
      ...admin({
        operationId: 'createConsoleLoginLink',
        summary: 'A one-time login link to the web console (admin tokens only), valid for about a minute',
        tags: ['auth'],
        responses: {
          '201': json(
            'The link: opening it once signs a browser in.',
            obj({ url: str('`<origin>/console/login?t=<secret>`.'), expiresAt: dateTime(), ttlSeconds: int('Seconds the link stays valid.') }),
          ),
        },
      }),
      // Served where /v1 has tokens, as the rest of `auth`.
      'x-ignition-capability': 'auth',
    },
  },
};
