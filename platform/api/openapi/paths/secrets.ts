/**
 * `/v1/secrets`: per-function secrets (platform/secrets), encrypted at rest and handed to
 * instances after restore. No response ever contains a value.
 */
import { admin, arr, bool, int, json, jsonBody, obj, pathParam, ref, str } from '../build.ts';
import type { OperationObject, PathItem } from '../types.ts';

const fn = pathParam('fn', 'The function name.');
const secret = pathParam('name', 'The secret name (letters, digits and underscores; starts with a letter or underscore).');
const tags = ['secrets'];
const cap = (op: OperationObject): OperationObject => ({ ...op, 'x-ignition-capability': 'secrets' });
const stored = obj({ function: str(), name: str(), created: bool(), createdAt: int(), updatedAt: int() });

export const secretPaths: Record<string, PathItem> = {
  '/v1/secrets/_rotate-key': {
    post: cap(
      admin({
        operationId: 'rotateSecretsKey',
        summary: 'Re-encrypt every secret under a new key (crash-safe)',
        tags,
        responses: { '200': json('Rotated.', obj({ rotated: int('Secrets re-encrypted.'), keyId: str() })) },
      }),
    ),
  },
  '/v1/secrets/{fn}': {
    get: cap(
      admin({
        operationId: 'listSecrets',
        summary: 'Names of the secrets of a function (never values)',
        tags,
        parameters: [fn],
        errors: [400, 404],
        responses: { '200': json('The secrets.', obj({ function: str(), secrets: arr(ref('Secret')) })) },
      }),
    ),
  },
  '/v1/secrets/{fn}/{name}': {
    put: cap(
      admin({
        operationId: 'setSecret',
        summary: 'Set a secret',
        tags,
        parameters: [fn, secret],
        requestBody: jsonBody(obj({ value: str('At most 64 KiB.') })),
        errors: [400, 404, 413],
        responses: { '201': json('Created.', stored), '200': json('Replaced.', stored) },
      }),
    ),
    delete: cap(
      admin({
        operationId: 'deleteSecret',
        summary: 'Remove a secret',
        tags,
        parameters: [fn, secret],
        errors: [400, 404],
        responses: { '200': json('Removed.', obj({ function: str(), removed: str() })) },
      }),
    ),
  },
};
