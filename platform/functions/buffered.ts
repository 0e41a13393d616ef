/**
 * A buffered invocation, for callers that need the whole response at once (async jobs, cron):
 * the streaming invoker's response read into memory, bounded so a huge body cannot exhaust the
 * daemon (the job records a truncated result and the rest is drained).
 */
import { Readable } from 'node:stream';
import type { FunctionService } from './service.ts';
import { invoke } from './invoker.ts';

const MAX_BUFFERED = 8 * 1024 * 1024;

export async function invokeBuffered(
  functions: FunctionService,
  job: { fn: string; method: string; path: string; headers: Record<string, string>; body: Buffer; invocationId: string },
): Promise<{ status: number; headers: Record<string, string>; body: Buffer }> {
  const hasBody = job.method !== 'GET' && job.method !== 'HEAD';
  const res = await invoke(functions, {
    fn: job.fn,
    method: job.method,
    path: job.path,
    headers: job.headers,
    body: hasBody ? Readable.from([job.body]) : null,
    contentLength: hasBody ? job.body.length : undefined,
    invocationId: job.invocationId,
  });
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
