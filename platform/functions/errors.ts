/** Error codes of the function layer (deploy and invoke). Pinned by test/unit/errors.test.ts. */
import { defineError } from '../errors.ts';

export const FunctionNotFound = defineError('function_not_found', 404, 'Function not found');
export const VersionNotFound = defineError('version_not_found', 404, 'Version not found');
export const BuildFailed = defineError('build_failed', 400, 'Bundle failed to build', 'build');
export const NoEntry = defineError('no_entry', 400, 'No entry point', 'build');
export const FunctionLoadFailed = defineError('function_load_failed', 422, 'Function failed to load', 'load');
export const FunctionWarmupFailed = defineError('function_warmup_failed', 422, 'Function warm-up failed', 'warmup');
export const FunctionThrew = defineError('function_threw', 500, 'Function threw', 'handler');
export const FunctionInvalidResponse = defineError('function_invalid_response', 500, 'Function returned no Response', 'handler');
export const FunctionTimeout = defineError('function_timeout', 504, 'Function timed out', 'timeout');
export const FunctionCrashed = defineError('function_crashed', 502, 'Function instance crashed', 'handler');
/** The instance went past its memory limit (the sandbox's cgroup, or V8's heap limit) and was ended. */
export const FunctionOutOfMemory = defineError('function_out_of_memory', 502, 'Function ran out of memory', 'handler');
export const InstanceUnavailable = defineError('instance_unavailable', 503, 'No instance could be started', 'restore');
/**
 * What an invocation gets while the version's instance starts fail and are backed off (pool.ts):
 * one sentence and a Retry-After, never the failure itself (machine ids, agent output, stacks),
 * which goes to the daemon's log and the function's pool status in the admin API.
 */
export const FunctionUnavailable = defineError('function_unavailable', 503, 'Function unavailable', 'restore');
export const QueueFull = defineError('queue_full', 429, 'Too many requests', 'queue');
/**
 * The client's connection ended before its request body did. Nobody reads the answer; the code
 * tells the metrics' failures the client caused from the function's, and the instance serves on.
 */
export const ClientClosedRequest = defineError('client_closed_request', 400, 'Client closed the request', 'validate');
/** A deploy's `env` value that an environment variable cannot carry, or an env over the size limits. */
export const EnvInvalid = defineError('env_invalid', 400, 'Invalid environment', 'validate');
