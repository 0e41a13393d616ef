/**
 * `/fn/{target}/{path}`: invocation. Every method is one operation here (OpenAPI has no "any
 * method"); each passes method, path, query, headers and body through to the function and
 * streams its response back unchanged, whatever its status and content type.
 */
import { OPTIONAL_BEARER, pathParam, problems } from '../build.ts';
import type { HttpMethod, OperationObject, PathItem, ResponseObject } from '../types.ts';

const target = pathParam('target', 'The function, optionally with an alias: `name` or `name@alias` (default alias `latest`).', {
  type: 'string',
  pattern: '^[^/]+$',
});
const rest = pathParam('path', 'The path the function sees (may contain slashes; may be empty). The query string passes through as well.');

// Platform errors are problem documents; anything else is the function's own answer.
const functionResponse: ResponseObject = { description: "The function's response, passed through: any status, headers and body.", content: { '*/*': {} } };
const platformErrors = problems(400, 401, 403, 404, 413, 429, 502, 503, 504);
const responses: Record<string, ResponseObject> = { default: functionResponse };
for (const [status, r] of Object.entries(platformErrors))
  responses[status] = { description: `${r.description} Or the function's own answer with this status.`, content: { ...r.content, '*/*': {} } };

const METHODS: HttpMethod[] = ['get', 'head', 'post', 'put', 'patch', 'delete', 'options'];

function operations(suffix: string, withPath: boolean): PathItem {
  const item: PathItem = {};
  for (const method of METHODS) {
    const op: OperationObject = {
      operationId: `invoke${method[0].toUpperCase()}${method.slice(1)}${suffix}`,
      summary: `Invoke a function with ${method.toUpperCase()}${withPath ? ' on a path' : ' at its root'}`,
      description:
        'The request passes through to the function unchanged (body streamed, size limited by the function\'s `maxBodyBytes`); the response streams back. Public unless the function sets `auth: "token"`; then a Bearer token (admin, or invoke scope for this function) is needed and is removed before the function sees the request. CORS preflights are answered by the platform when the function configures CORS. Platform failures are problem documents (`function_timeout` 504 names the limit, `queue_full` 429 with Retry-After, `payload_too_large` 413 with the `limit` in bytes, declared or counted as the body arrives). `payload_too_large` is the code every route answers a body over its limit with; `/fn` used to say `body_too_large`, which is no longer sent: match on the status or on `payload_too_large`.',
      tags: ['invoke'],
      security: OPTIONAL_BEARER,
      parameters: withPath ? [target, rest] : [target],
      responses,
    };
    if (!['get', 'head', 'options'].includes(method))
      op.requestBody = { required: false, description: 'Any body, passed through as is.', content: { '*/*': {} } };
    item[method] = op;
  }
  return item;
}

export const invokePaths: Record<string, PathItem> = {
  '/fn/{target}': operations('Root', false),
  '/fn/{target}/{path}': operations('', true),
};
