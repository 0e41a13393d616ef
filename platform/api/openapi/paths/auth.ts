/** `/v1/tokens`: API tokens (platform/auth). A token's secret appears only in the 201 that creates it. */
import { admin, arr, json, jsonBody, obj, pathParam, ref, str } from '../build.ts';
import type { OperationObject, PathItem } from '../types.ts';

const tags = ['auth'];
const cap = (op: OperationObject): OperationObject => ({ ...op, 'x-ignition-capability': 'auth' });

export const authPaths: Record<string, PathItem> = {
  '/v1/tokens': {
    post: cap(
      admin({
        operationId: 'createToken',
        summary: 'Create a token: `admin` (the whole API) or `invoke` (one function, or all)',
        tags,
        requestBody: jsonBody(
          obj({}, { name: str(), scope: str(undefined, { enum: ['admin', 'invoke'] }), function: str('Invoke tokens: the one function it may call.') }),
          undefined,
          false,
        ),
        errors: [400, 404, 413],
        responses: {
          '201': json('The token record and, this once, the token.', { allOf: [ref('Token'), obj({ token: str('The secret. Not shown again.') })] }),
        },
      }),
    ),
    get: cap(
      admin({
        operationId: 'listTokens',
        summary: 'List tokens (never a secret, never a hash)',
        tags,
        responses: { '200': json('The tokens.', obj({ tokens: arr(ref('Token')) })) },
      }),
    ),
  },
  '/v1/tokens/{id}': {
    delete: cap(
      admin({
        operationId: 'revokeToken',
        summary: 'Revoke a token',
        tags,
        parameters: [pathParam('id', 'Token id (`tok_…`).')],
        errors: [404],
        responses: { '200': json('Revoked.', obj({ revoked: ref('Token') })) },
      }),
    ),
  },
};
