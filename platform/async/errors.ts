/** Error codes of async invocations and cron triggers. To be pinned in test/unit/errors.test.ts. */
import { defineError } from '../errors.ts';

/** A cron expression that does not parse, or can never fire; the message names the field. */
export const CronInvalid = defineError('cron_invalid', 400, 'Invalid cron expression', 'validate');
export const CronNotFound = defineError('cron_not_found', 404, 'Cron trigger not found');
export const InvocationNotFound = defineError('invocation_not_found', 404, 'Invocation not found');
/** `POST /v1/invocations/:id/retry` on an invocation that is not dead. */
export const InvocationNotRetryable = defineError('invocation_not_retryable', 409, 'Invocation is not dead');
/** Recorded as an attempt's error when the daemon stopped while the attempt was running. */
export const InvocationInterrupted = defineError('invocation_interrupted', 503, 'Invocation interrupted by a daemon stop', 'queue');
/** Recorded as the final error of an async job whose function answered 4xx (never retried). */
export const InvocationRejected = defineError('invocation_rejected', 422, 'Function rejected the invocation', 'handler');
