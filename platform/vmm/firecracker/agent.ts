/**
 * The few agent calls the driver itself makes, over vsock: health (readiness is proven by a real
 * `GET /v1/health`, never slept for) and loading a function bundle after a cold boot. Each call
 * opens its own stream through the vsock handshake and speaks HTTP/1.1 on it with undici, so the
 * path is the one every invocation takes. Richer agent access belongs to platform/guest.
 */
import { Client } from 'undici';
import { connectVsock } from '../../guest/vsock.ts';
import { AGENT_PORT } from '../port.ts';
import { FcAgentUnhealthy, FcProcessExited } from './errors.ts';
import type { ExitInfo } from '../port.ts';

export interface AgentHealth {
  status: string;
  ready: boolean;
  pid?: number;
  function?: { loaded: boolean; path?: string };
  [key: string]: unknown;
}

/** One HTTP request to the agent through a fresh vsock stream. */
export async function agentRequest<T>(
  udsPath: string,
  method: string,
  path: string,
  body: unknown,
  timeoutMs: number,
): Promise<{ status: number; body: T }> {
  const client = new Client('http://agent', {
    connect: (_opts, callback) => {
      connectVsock(udsPath, AGENT_PORT, { timeoutMs }).then(
        (socket) => callback(null, socket),
        (err) => callback(err, null),
      );
    },
    pipelining: 0,
  });
  try {
    const payload = body === undefined ? undefined : JSON.stringify(body);
    const res = await client.request({
      method: method as 'GET',
      path,
      headers: payload ? { 'content-type': 'application/json' } : {},
      body: payload,
      headersTimeout: timeoutMs,
      bodyTimeout: timeoutMs,
    });
    const text = await res.body.text();
    return { status: res.statusCode, body: (text ? JSON.parse(text) : undefined) as T };
  } finally {
    await client.destroy().catch(() => undefined);
  }
}

/**
 * Polls the agent's health through vsock until it answers ready, the VMM exits, or the deadline
 * passes. Refusals (nothing listening yet: the guest is still booting) are retried.
 */
export async function waitForAgent(
  udsPath: string,
  deadlineMs: number,
  exited: Promise<ExitInfo>,
  vmId: string,
): Promise<AgentHealth> {
  const deadline = Date.now() + deadlineMs;
  let lastError: unknown;
  let gone: ExitInfo | undefined;
  void exited.then((info) => (gone = info));
  for (let attempt = 0; ; attempt++) {
    if (gone) {
      throw FcProcessExited(`Firecracker of ${vmId} exited (code ${gone.code}, signal ${gone.signal}) before the agent answered`, {
        data: { ...gone },
      });
    }
    const remaining = deadline - Date.now();
    if (remaining <= 0) {
      const why = lastError instanceof Error ? lastError.message : 'no answer';
      throw FcAgentUnhealthy(`agent of ${vmId} did not become healthy within ${deadlineMs} ms (${why})`, { cause: lastError });
    }
    try {
      const res = await agentRequest<AgentHealth>(udsPath, 'GET', '/v1/health', undefined, Math.min(2000, remaining));
      if (res.status === 200 && res.body?.status === 'ok' && res.body.ready) return res.body;
      lastError = new Error(`health answered ${res.status} ready=${res.body?.ready}`);
    } catch (err) {
      lastError = err;
    }
    // Short first retries: a restored guest's agent answers within milliseconds.
    await new Promise((r) => setTimeout(r, Math.min(5 * (attempt + 1), 50)));
  }
}
