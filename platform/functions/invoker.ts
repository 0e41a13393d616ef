/**
 * The invoke path: alias → version → an instance from its pool → the request over the agent
 * connection → the function's response, streamed back, the instance released when the body ends.
 *
 * Everything that can go wrong is typed with the phase that failed: `queue` (429), `restore`
 * (instance could not start), `connect`, `handler` (threw, crashed, returned no Response) and
 * `timeout` (504, the instance is recycled since its handler may be stuck).
 */
import { Transform, type Readable } from 'node:stream';
import { InvocationHeaders } from '../../agent/protocol.ts';
import { BadRequest, IgnitionError, PayloadTooLarge } from '../errors.ts';
import { newId } from '../ids.ts';
import {
  ClientClosedRequest,
  FunctionCrashed,
  FunctionOutOfMemory,
  FunctionInvalidResponse,
  FunctionThrew,
  FunctionTimeout,
  InstanceUnavailable,
} from './errors.ts';
import type { FunctionService } from './service.ts';
import type { Instance } from './instance.ts';
import type { VersionRecord } from './repository.ts';
import { Deadline } from '../deadline.ts';
import { carriesPlatformToken } from '../auth/tokens.ts';
import type { AgentResponse } from '../guest/agent-wire.ts';

export interface InvokeRequest {
  fn: string;
  alias?: string;
  method: string;
  /** Path and query as the function should see them, starting with `/`. */
  path: string;
  headers: Readonly<Record<string, string | string[] | undefined>>;
  /**
   * Leave out `authorization` whatever it holds (a token-protected function: the header is the
   * platform's). An Ignition token is left out in any case (auth/tokens.ts, carriesPlatformToken).
   */
  dropAuthorization?: boolean;
  body: Readable | null;
  contentLength?: number;
  remoteAddress?: string;
  invocationId?: string;
  /** The version to call, when the caller already picked it (to apply its auth and CORS first). */
  version?: VersionRecord;
  /**
   * The client sent `Expect: 100-continue` and waits for the daemon's go-ahead: called once, just
   * before the body is forwarded. A request refused before that (413, 429, timeout) never makes
   * the client upload its body.
   */
  sendContinue?: () => void;
  /**
   * The response was cut at the function's timeout after its status had been sent (the client
   * sees its connection end early): for the caller's metrics. The function's log is written here.
   */
  onStreamCut?: (fn: string, err: IgnitionError, invocationId: string) => void;
}

export interface InvokeResponse {
  /** True when the request waited for an instance to start (or for a busy pool at its maximum). */
  cold: boolean;
  status: number;
  headers: Record<string, string | string[]>;
  /**
   * The whole body, when it came in with the head (a small response): the instance is already
   * released. Write it and leave `body` unread, which is then never made.
   */
  whole: Buffer | null;
  /** The body as a stream; reading or destroying it when `whole` is set costs only the stream. */
  readonly body: Readable;
  invocationId: string;
  version: string;
}

/**
 * Hop-by-hop headers (RFC 9110 §7.6.1) never cross a proxy. `expect` is not hop-by-hop by the
 * letter, but it asks the daemon, not the function, for a 100 Continue: the daemon has answered
 * it by the time the body is forwarded. (The body's framing, `content-length` included, is
 * written by agent-wire.ts from what the daemon forwards.)
 */
const HOP = new Set([
  'expect',
  'connection',
  'keep-alive',
  'proxy-connection',
  'transfer-encoding',
  'upgrade',
  'te',
  'trailer',
  'proxy-authorization',
  'proxy-authenticate',
]);

/** Request headers that stay in the daemon: hop-by-hop ones, and an Ignition token in `authorization`. */
function omitHopByHop(name: string, value: string | string[]): boolean {
  return HOP.has(name) || (name === 'authorization' && carriesPlatformToken(value));
}

/** As omitHopByHop, and `authorization` whatever it holds (a token-protected function). */
function omitWithAuthorization(name: string): boolean {
  return HOP.has(name) || name === 'authorization';
}

export async function invoke(service: FunctionService, req: InvokeRequest): Promise<InvokeResponse> {
  const invocationId = req.invocationId ?? newId('inv');
  const version = req.version ?? service.pickVersion(req.fn, req.alias);
  const { timeoutMs, maxBodyBytes } = version.settings;
  const contentLength = Number.isSafeInteger(req.contentLength) ? req.contentLength : undefined;
  if (contentLength !== undefined && contentLength > maxBodyBytes) {
    req.body?.resume();
    throw PayloadTooLarge(`request body of ${contentLength} bytes exceeds the limit of ${maxBodyBytes} bytes for ${req.fn}`, {
      data: { limit: maxBodyBytes },
    });
  }
  const deadline = new Deadline(timeoutMs, () =>
    FunctionTimeout(`function ${req.fn} did not finish within its timeout of ${timeoutMs} ms`, { data: { timeoutMs, function: req.fn } }),
  );
  const pool = service.pool(version);
  let inst: Instance;
  let cold: boolean;
  try {
    ({ inst, cold } = await pool.acquire(deadline));
  } catch (err) {
    deadline.clear();
    req.body?.resume();
    if (deadline.aborted)
      throw FunctionTimeout(`function ${req.fn} found no free instance within its timeout of ${timeoutMs} ms`, { phase: 'queue', data: { timeoutMs } });
    if (err instanceof IgnitionError) throw err;
    throw InstanceUnavailable(`no instance of ${req.fn} could be started: ${(err as Error).message}`, { cause: err });
  }

  let tooLarge = false;
  let body: Readable | null = req.body;
  if (body && contentLength === undefined) body = body.pipe(limitBytes(maxBodyBytes, () => (tooLarge = true)));
  // The caller's own header object (Node's) is written out as it is, less what `omit` names:
  // no copy of it per request.
  const extra = req.remoteAddress ? [InvocationHeaders.id, invocationId, 'x-forwarded-for', req.remoteAddress] : [InvocationHeaders.id, invocationId];

  serving(service, inst, invocationId);
  let res: AgentResponse;
  try {
    if (body) req.sendContinue?.();
    res = await inst.client.invoke({
      path: req.path,
      method: req.method,
      headers: req.headers,
      omit: req.dropAuthorization ? omitWithAuthorization : omitHopByHop,
      extra,
      omitResponse: HOP,
      body,
      bodyLength: contentLength,
      signal: deadline,
    });
  } catch (err) {
    deadline.clear();
    if (deadline.aborted) {
      served(service, inst, invocationId);
      pool.release(inst, { retire: true });
      throw FunctionTimeout(`function ${req.fn} did not answer within its timeout of ${timeoutMs} ms`, { data: { timeoutMs, function: req.fn } });
    }
    // What the client sent or did is no fault of the instance, which serves on: anyone may send
    // a body over the limit, a request that cannot be written to the agent (bad_request, before
    // any byte is sent), or leave in the middle of the upload, and none of them may cost the
    // function an instance (a cold start for the next caller).
    const refused = BadRequest.is(err);
    if (tooLarge || refused || clientLeft(req.body)) {
      served(service, inst, invocationId);
      pool.release(inst);
      if (req.body && !req.body.destroyed) {
        // Read and drop what the client still sends, so it gets to read the answer.
        req.body.unpipe();
        req.body.resume();
      }
      if (tooLarge) throw PayloadTooLarge(`request body exceeds the limit of ${maxBodyBytes} bytes for ${req.fn}`, { data: { limit: maxBodyBytes } });
      if (refused) throw BadRequest(`the request cannot be passed to ${req.fn}: ${(err as Error).message}`, { cause: err });
      throw ClientClosedRequest(`the client closed the connection before its request to ${req.fn} was sent`);
    }
    pool.release(inst, { retire: true });
    // The invocation stays the instance's only one until its exit is known, so that the lines it
    // prints on its way out (V8's at the heap limit) are logged with the invocation's id.
    const crash = await crashError(req.fn, inst, invocationId, err, service);
    served(service, inst, invocationId);
    throw crash;
  }

  const runtimeError = res.headers[InvocationHeaders.error];
  if (runtimeError) {
    // The runtime answered for a failed function: surface it as the platform's typed error.
    const text = await readText(res.body).catch(() => '');
    deadline.clear();
    served(service, inst, invocationId);
    pool.release(inst);
    let detail = text;
    try {
      detail = (JSON.parse(text) as { detail?: string }).detail ?? text;
    } catch {
      // keep raw text
    }
    const make = runtimeError === 'function_invalid_response' ? FunctionInvalidResponse : FunctionThrew;
    throw make(`function ${req.fn}: ${detail}`, { data: { function: req.fn, invocation: invocationId } });
  }

  // Hop-by-hop headers were left out by the response's parser (omitResponse).
  const outHeaders = res.headers;
  outHeaders[InvocationHeaders.id] = invocationId;
  const status = res.statusCode;
  if (res.whole !== null) {
    // The function's answer is all in and its connection free: the instance serves on now.
    served(service, inst, invocationId);
    deadline.clear();
    pool.release(inst);
    const agent = res;
    return {
      cold,
      status,
      headers: outHeaders,
      whole: res.whole,
      get body() {
        return agent.body;
      },
      invocationId,
      version: version.id,
    };
  }
  let released = false;
  const done = () => {
    if (released) return;
    released = true;
    served(service, inst, invocationId);
    deadline.clear();
    pool.release(inst, { retire: deadline.aborted });
    if (deadline.aborted) {
      // Too late for a 504: the status is on its way. The client sees the connection end before
      // the body does; the function's log and the metrics have to say why.
      const message = `the response of ${req.fn} was cut at its timeout of ${timeoutMs} ms while its body streamed, after status ${status} (phase timeout)`;
      service.logs.system(req.fn, 'error', message, { version: version.id, machine: inst.id, invocation: invocationId });
      req.onStreamCut?.(req.fn, deadline.reason as IgnitionError, invocationId);
    }
  };
  res.body.once('close', done);
  res.body.once('error', done);
  return { cold, status, headers: outHeaders, whole: null, body: res.body, invocationId, version: version.id };
}

/**
 * The instance's invocations in flight, as the function's log sees them: a raw line from a
 * machine that serves exactly one (V8's at its heap limit) is logged with that one's id.
 */
function serving(service: FunctionService, inst: Instance, invocationId: string): void {
  inst.invocations.add(invocationId);
  service.logs.inFlight(inst.id, inst.invocations);
}

function served(service: FunctionService, inst: Instance, invocationId: string): void {
  inst.invocations.delete(invocationId);
  service.logs.inFlight(inst.id, inst.invocations);
}

async function readText(body: Readable): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of body) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

/** The client's request body broke off before its end: the client left, or its connection failed. */
function clientLeft(body: Readable | null): boolean {
  return !!body && (body.errored !== null || (body.destroyed && !body.readableEnded));
}

/** Passes bytes through until `limit`, then fails the stream (the upload is cut short). */
function limitBytes(limit: number, onExceeded: () => void): Transform {
  let seen = 0;
  return new Transform({
    transform(chunk: Buffer, _enc, cb) {
      seen += chunk.length;
      if (seen > limit) {
        onExceeded();
        cb(PayloadTooLarge(`request body exceeds ${limit} bytes`));
        return;
      }
      cb(null, chunk);
    },
  });
}

/**
 * What a request that lost its instance gets: `function_out_of_memory` naming the limit when the
 * machine was ended for its memory (its exit says so, within moments of the lost connection),
 * `function_crashed` otherwise. The function's log gets a line with the invocation id either way.
 */
async function crashError(fn: string, inst: Instance, invocationId: string, err: unknown, service: FunctionService) {
  let timer: NodeJS.Timeout | undefined;
  const exit = await Promise.race([inst.machine.exited, new Promise<undefined>((r) => (timer = setTimeout(() => r(undefined), 500)))]);
  clearTimeout(timer);
  const oom = exit?.outOfMemory;
  const message = oom
    ? `the instance of ${fn} went past its memory limit of ${oom.limitMiB} MiB and was ended`
    : `the instance of ${fn} failed while handling the request (${(err as Error).message})`;
  service.logs.system(fn, 'error', message, { version: inst.version.id, machine: inst.id, invocation: invocationId });
  if (oom) return FunctionOutOfMemory(message, { cause: err, data: { function: fn, limitMiB: oom.limitMiB, invocation: invocationId } });
  return FunctionCrashed(message, { cause: err, data: { instance: inst.id } });
}
