/**
 * The one error type of the platform.
 *
 * Every failure that can reach a user is an `IgnitionError` with a stable machine `code`, the HTTP
 * `status` it maps to, a short `title` for the class of problem and a sentence `message` naming
 * the resource. Capability folders declare their own codes in a small `errors.ts` built with
 * `defineError`; the API edge (platform/api/problem.ts) is the only place that turns them into
 * RFC 9457 problem+json, and the CLI the only place that turns them into one-line messages.
 *
 * Why a factory instead of one class per error: the catalogue stays a table (one line per code,
 * pinned by a test), and `instanceof IgnitionError` plus `code` is all callers ever branch on.
 */

/** Where in a flow a failure happened; reported to users so they know whose fault it is. */
export type Phase =
  | 'config'
  | 'validate'
  | 'build'
  | 'load'
  | 'warmup'
  | 'snapshot'
  | 'restore'
  | 'connect'
  | 'handler'
  | 'timeout'
  | 'queue'
  | 'store'
  | 'registry'
  | 'network'
  | 'vmm'
  | 'agent';

export interface IgnitionErrorOptions {
  /** Extra fields that go into the problem document (never secrets). */
  data?: Record<string, unknown>;
  phase?: Phase;
  cause?: unknown;
}

export class IgnitionError extends Error {
  readonly code: string;
  readonly status: number;
  readonly title: string;
  readonly phase: Phase | undefined;
  readonly data: Record<string, unknown>;

  constructor(code: string, status: number, title: string, message: string, options: IgnitionErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'IgnitionError';
    this.code = code;
    this.status = status;
    this.title = title;
    this.phase = options.phase;
    this.data = options.data ?? {};
  }
}

/** A constructor for one catalogue entry: `throw FunctionNotFound('no function "x"')`. */
export interface ErrorFactory {
  (message: string, options?: IgnitionErrorOptions): IgnitionError;
  readonly code: string;
  readonly status: number;
  readonly title: string;
  /** True when `err` is an IgnitionError of this code. */
  is(err: unknown): err is IgnitionError;
}

const catalogue = new Map<string, ErrorFactory>();

/** Declares a stable error code. Codes are unique across the platform; a duplicate is a bug. */
export function defineError(code: string, status: number, title: string, defaultPhase?: Phase): ErrorFactory {
  if (catalogue.has(code)) throw new Error(`error code "${code}" is defined twice`);
  const factory = ((message: string, options: IgnitionErrorOptions = {}) =>
    new IgnitionError(code, status, title, message, { phase: defaultPhase, ...options })) as ErrorFactory;
  Object.defineProperties(factory, {
    code: { value: code },
    status: { value: status },
    title: { value: title },
    is: { value: (err: unknown) => err instanceof IgnitionError && err.code === code },
  });
  catalogue.set(code, factory);
  return factory;
}

/** Every code declared so far (the catalogue test imports all capability error files first). */
export function errorCatalogue(): ReadonlyMap<string, ErrorFactory> {
  return catalogue;
}

export function isIgnitionError(err: unknown): err is IgnitionError {
  return err instanceof IgnitionError;
}

/** Shared, capability-neutral codes. */
export const BadRequest = defineError('bad_request', 400, 'Bad request', 'validate');
export const InvalidName = defineError('invalid_name', 400, 'Invalid name', 'validate');
export const NotFound = defineError('not_found', 404, 'Not found');
export const Conflict = defineError('conflict', 409, 'Conflict');
export const PayloadTooLarge = defineError('payload_too_large', 413, 'Payload too large', 'validate');
export const Unsupported = defineError('unsupported', 501, 'Not supported by this driver');
/** A method Node's HTTP parser does not know (or CONNECT, which the daemon does not tunnel). */
export const MethodNotImplemented = defineError('method_not_implemented', 501, 'Method not implemented', 'validate');
export const HeadersTooLarge = defineError('headers_too_large', 431, 'Request headers too large', 'validate');
/** The client did not send its request (headers, or body) within the server's time limits. */
export const RequestTimeout = defineError('request_timeout', 408, 'Request timeout', 'validate');
export const Internal = defineError('internal', 500, 'Internal error');
export const ShuttingDown = defineError('shutting_down', 503, 'Daemon is shutting down');

/** Renders any thrown value as a message, for logs (never for API bodies of unknown errors). */
export function describe(err: unknown): string {
  if (err instanceof Error) return err.message;
  return String(err);
}
