/**
 * A buffered invocation, for callers that need the whole response at once (async jobs, cron,
 * `POST /v1/functions/<name>/invoke`): the streaming invoker's response read into memory, bounded
 * so a huge body cannot exhaust the daemon (the job records a truncated result and the rest is
 * drained). Its outcome is counted as a `/fn` request's is (outcomes.ts), to its response head.
 */
import { Readable } from 'node:stream';
import type { FunctionService } from './service.ts';
import { invoke } from './invoker.ts';
import { FunctionNotFound } from './errors.ts';
import { UNKNOWN_FUNCTION, type InvocationOutcomes } from './outcomes.ts';

const MAX_BUFFERED = 8 * 1024 * 1024;

export async function invokeBuffered(
  functions: FunctionService,
  job: { fn: string; method: string; path: string; headers: Record<string, string>; body: Buffer; invocationId: string },
  outcomes?: InvocationOutcomes,
): Promise<{ status: number; headers: Record<string, string>; body: Buffer }> {
  const hasBody = job.method !== 'GET' && job.method !== 'HEAD';
  const started = performance.now();
  let res: Awaited<ReturnType<typeof invoke>>;
  try {
    res = await invoke(functions, {
      fn: job.fn,
      method: job.method,
      path: job.path,
      headers: job.headers,
      body: hasBody ? Readable.from([job.body]) : null,
      contentLength: hasBody ? job.body.length : undefined,
      invocationId: job.invocationId,
      onStreamCut: outcomes?.cut,
    });
  } catch (err) {
    // A job outlives nothing: its function existed when it was queued, unless removed since.
    outcomes?.failed(FunctionNotFound.is(err) ? UNKNOWN_FUNCTION : job.fn, null, job.invocationId, err, performance.now() - started);
    throw err;
  }
  outcomes?.answered(job.fn, res.version, res.invocationId, res.status, performance.now() - started, res.cold);
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of res.body) {
    if (size < MAX_BUFFERED) chunks.push(chunk as Buffer);
    size += (chunk as Buffer).length;
  }
  const headers: Record<string, string> = {};
  for (const [k, v] of Object.entries(res.headers)) headers[k] = Array.isArray(v) ? v.join(', ') : v;
  return { status: res.status, headers, body: Buffer.concat(chunks).subarray(0, MAX_BUFFERED) };
}
