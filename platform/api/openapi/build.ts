/**
 * Small builders the path modules write the document with: schema shorthands, JSON and
 * problem+json responses, path and query parameters, and the security requirements. They keep
 * each operation to a few readable lines; the output is plain OpenAPI (see types.ts).
 */
import type { JsonSchema, OperationObject, ParameterObject, RequestBodyObject, ResponseObject, SecurityRequirement } from './types.ts';

export const ref = (name: string): JsonSchema => ({ $ref: `#/components/schemas/${name}` });
export const str = (description?: string, extra: JsonSchema = {}): JsonSchema => ({ type: 'string', ...(description ? { description } : {}), ...extra });
export const int = (description?: string, extra: JsonSchema = {}): JsonSchema => ({ type: 'integer', ...(description ? { description } : {}), ...extra });
export const num = (description?: string): JsonSchema => ({ type: 'number', ...(description ? { description } : {}) });
export const bool = (description?: string): JsonSchema => ({ type: 'boolean', ...(description ? { description } : {}) });
export const dateTime = (description?: string): JsonSchema => ({ type: 'string', format: 'date-time', ...(description ? { description } : {}) });
export const arr = (items: JsonSchema, description?: string): JsonSchema => ({ type: 'array', items, ...(description ? { description } : {}) });
export const nullable = (s: JsonSchema): JsonSchema =>
  s.$ref ? { anyOf: [s, { type: 'null' }] } : { ...s, type: [...(Array.isArray(s.type) ? s.type : [s.type!]), 'null'] };
export const map = (values: JsonSchema, description?: string): JsonSchema => ({
  type: 'object',
  additionalProperties: values,
  ...(description ? { description } : {}),
});
export const anyObject = (description?: string): JsonSchema => ({ type: 'object', ...(description ? { description } : {}) });

/**
 * An object whose `required` properties must be present and whose `optional` ones may be.
 * Undocumented properties are allowed: the API may grow fields without breaking clients, and the
 * contract test still checks every documented one.
 */
export function obj(required: Record<string, JsonSchema>, optional: Record<string, JsonSchema> = {}, description?: string): JsonSchema {
  return { type: 'object', properties: { ...required, ...optional }, required: Object.keys(required), ...(description ? { description } : {}) };
}

/** A JSON response. */
export function json(description: string, schema: JsonSchema, headers?: ResponseObject['headers']): ResponseObject {
  return { description, content: { 'application/json': { schema } }, ...(headers ? { headers } : {}) };
}

const PROBLEM_TEXT: Record<number, string> = {
  400: 'The request is malformed or names something invalid (`bad_request` and capability codes).',
  401: 'No valid admin token (`unauthorized`); the answer is the same for every reason and carries `WWW-Authenticate: Bearer`.',
  403: 'The token is valid but may not do this (`forbidden`).',
  404: 'What the path names does not exist.',
  409: 'The request conflicts with the current state (`conflict` and capability codes).',
  413: 'The request body is larger than the limit (`payload_too_large`, with the limit in bytes as `limit`).',
  422: 'The request is well formed but cannot be carried out (build or validation failure).',
  429: 'Too many requests queued; retry after `Retry-After` seconds.',
  500: 'The daemon failed (`internal`); the detail leaks nothing, the logs have the rest.',
  501: 'This driver cannot do that (`unsupported`).',
  502: 'An upstream (a function instance, a remote registry, the VMM) failed.',
  503: 'The daemon is draining or the capability is unavailable; retry after `Retry-After` seconds.',
  504: 'A limit ran out (the problem names it).',
};

/** problem+json responses for the given statuses (500 is always added: any request can meet a bug). */
export function problems(...statuses: number[]): Record<string, ResponseObject> {
  const out: Record<string, ResponseObject> = {};
  for (const status of [...new Set([...statuses, 500])].sort()) {
    const r: ResponseObject = {
      description: PROBLEM_TEXT[status] ?? 'An error, as a problem document.',
      content: { 'application/problem+json': { schema: ref('Problem') } },
    };
    if (status === 429 || status === 503)
      r.headers = { 'retry-after': { description: 'Seconds to wait before retrying.', required: true, schema: { type: 'string', pattern: '^[0-9]+$' } } };
    out[String(status)] = r;
  }
  return out;
}

export function pathParam(name: string, description: string, schema: JsonSchema = { type: 'string' }): ParameterObject {
  return { name, in: 'path', required: true, description, schema };
}

export function queryParam(name: string, description: string, schema: JsonSchema = { type: 'string' }): ParameterObject {
  return { name, in: 'query', required: false, description, schema };
}

export function jsonBody(schema: JsonSchema, description?: string, required = true): RequestBodyObject {
  return { required, ...(description ? { description } : {}), content: { 'application/json': { schema } } };
}

/** No token needed (the document-level default is the admin bearer token). */
export const PUBLIC: SecurityRequirement[] = [];
/** A token may be needed: functions are public by default, or token-protected per function. */
export const OPTIONAL_BEARER: SecurityRequirement[] = [{}, { bearer: [] }];

/**
 * An admin operation: adds 401 and 403 to its problems, since the `/v1` guard answers those
 * before the handler runs.
 */
export function admin(op: Omit<OperationObject, 'responses'> & { responses: Record<string, ResponseObject>; errors?: number[] }): OperationObject {
  const { errors = [], responses, ...rest } = op;
  const all = { ...responses, ...problems(...errors, 401, 403) };
  all['401'] = {
    ...all['401'],
    headers: { 'www-authenticate': { description: 'The Bearer challenge (RFC 6750).', required: true, schema: { type: 'string', pattern: '^Bearer ' } } },
  };
  return { ...rest, responses: all };
}
