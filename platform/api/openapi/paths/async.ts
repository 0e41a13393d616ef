/**
 * Async invocations and cron triggers (platform/async, mounted at `/v1`). Accepted work is
 * durable: a daemon restart loses none of it.
 */
import { admin, arr, bool, int, json, jsonBody, map, obj, pathParam, queryParam, ref, str } from '../build.ts';
import type { OperationObject, PathItem } from '../types.ts';

const name = pathParam('name', 'The function name.');
const tags = ['async'];
const limit = queryParam('limit', 'At most this many (1–1000, default 100).', int(undefined, { minimum: 1, maximum: 1000 }));
const accepted = obj(
  { id: str(), status: str(), statusUrl: str('Poll it: GET /v1/invocations/{id}.') },
  { duplicate: bool('The idempotency key matched an earlier invocation; this is that one.') },
);
const location = { location: { description: 'The status URL.', required: true, schema: str() } };
const cap = (op: OperationObject): OperationObject => ({ ...op, 'x-ignition-capability': 'async' });

export const asyncPaths: Record<string, PathItem> = {
  '/v1/functions/{name}/invocations': {
    post: cap(
      admin({
        operationId: 'invokeFunction',
        summary: 'Invoke a function through the API: `async: true` queues it (202), otherwise it runs now (200)',
        tags,
        parameters: [name],
        requestBody: jsonBody(
          obj(
            {},
            {
              async: bool('Queue it and answer at once with an id.'),
              method: str('Default POST.'),
              path: str('Default `/`.'),
              headers: map(str()),
              body: str('The request body as text.'),
              bodyBase64: str('Or as base64 (not both).'),
              maxAttempts: int('Retries with back-off up to this many attempts, then a dead letter.', { minimum: 1 }),
              idempotencyKey: str('A second request with the same key returns the first invocation.'),
            },
          ),
        ),
        errors: [400, 404, 413, 422, 429, 502, 503, 504],
        responses: {
          '202': json('Queued.', accepted, location),
          '200': json(
            "Ran now; the function's response as JSON.",
            obj({ id: str(), status: str(), response: obj({ status: int(), headers: map(str()) }, { body: str(), bodyBase64: str() }) }),
          ),
        },
      }),
    ),
    get: cap(
      admin({
        operationId: 'listInvocations',
        summary: 'Recent invocations of a function',
        tags,
        parameters: [name, queryParam('status', 'Only this status.', { type: 'string', enum: ['queued', 'running', 'succeeded', 'failed', 'dead'] }), limit],
        errors: [400, 404],
        responses: { '200': json('The invocations, newest first.', obj({ invocations: arr(ref('Invocation')) })) },
      }),
    ),
  },
  '/v1/functions/{name}/dead-letters': {
    get: cap(
      admin({
        operationId: 'listDeadLetters',
        summary: 'Invocations that ran out of attempts',
        tags,
        parameters: [name, limit],
        errors: [400, 404],
        responses: { '200': json('The dead letters.', obj({ deadLetters: arr(ref('Invocation')) })) },
      }),
    ),
  },
  '/v1/invocations/{id}': {
    get: cap(
      admin({
        operationId: 'getInvocation',
        summary: 'Status, attempts, last error and result of an invocation',
        tags,
        parameters: [pathParam('id', 'Invocation id.')],
        errors: [404],
        responses: { '200': json('The invocation.', ref('Invocation')) },
      }),
    ),
  },
  '/v1/invocations/{id}/retry': {
    post: cap(
      admin({
        operationId: 'retryInvocation',
        summary: 'Queue a dead invocation again',
        tags,
        parameters: [pathParam('id', 'Invocation id.')],
        errors: [404, 409],
        responses: { '202': json('Queued again.', accepted, location) },
      }),
    ),
  },
  '/v1/functions/{name}/crons': {
    post: cap(
      admin({
        operationId: 'addCron',
        summary: 'Add a cron trigger',
        tags,
        parameters: [name],
        requestBody: jsonBody(
          obj({ schedule: str('Five fields (Vixie cron rules, names and @macros).') }, { path: str(), method: str(), body: str(), bodyBase64: str() }),
        ),
        errors: [400, 404, 413],
        responses: { '201': json('The trigger.', ref('Cron'), { location: { description: 'Its URL.', required: true, schema: str() } }) },
      }),
    ),
    get: cap(
      admin({
        operationId: 'listCrons',
        summary: 'Cron triggers of a function',
        tags,
        parameters: [name],
        errors: [400, 404],
        responses: { '200': json('The triggers.', obj({ crons: arr(ref('Cron')) })) },
      }),
    ),
  },
  '/v1/crons/{id}': {
    get: cap(
      admin({
        operationId: 'getCron',
        summary: 'A cron trigger',
        tags,
        parameters: [pathParam('id', 'Cron id.')],
        errors: [404],
        responses: { '200': json('The trigger.', ref('Cron')) },
      }),
    ),
    delete: cap(
      admin({
        operationId: 'deleteCron',
        summary: 'Remove a cron trigger',
        tags,
        parameters: [pathParam('id', 'Cron id.')],
        errors: [404],
        responses: { '200': json('Removed.', obj({ removed: str() })) },
      }),
    ),
  },
  '/v1/crons/{id}/pause': {
    post: cap(
      admin({
        operationId: 'pauseCron',
        summary: 'Pause a cron trigger: it does not fire until resumed (idempotent; runs already queued still run)',
        tags,
        parameters: [pathParam('id', 'Cron id.')],
        errors: [404],
        responses: { '200': json('The trigger, `enabled: false` and `nextAt: null`.', ref('Cron')) },
      }),
    ),
  },
  '/v1/crons/{id}/resume': {
    post: cap(
      admin({
        operationId: 'resumeCron',
        summary: 'Resume a paused cron trigger from the first slot after now (slots missed while paused are skipped; idempotent)',
        tags,
        parameters: [pathParam('id', 'Cron id.')],
        errors: [404],
        responses: { '200': json('The trigger, `enabled: true` with its next run.', ref('Cron')) },
      }),
    ),
  },
};
