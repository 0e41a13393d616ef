/**
 * The few agent calls the driver itself makes, over vsock: health (readiness is proven by a real
 * `GET /v1/health`, never slept for) and, through the shared `agentRequest` (../agent-call.ts),
 * loading a function bundle after a cold boot. Each call opens its own stream through the vsock
 * handshake. Richer agent access belongs to platform/guest.
 */
import { connectVsock } from '../../guest/vsock.ts';
import { AGENT_PORT } from '../port.ts';
import { FcAgentUnhealthy, FcProcessExited } from './errors.ts';
import type { ExitInfo } from '../port.ts';

export { agentRequest } from '../agent-call.ts';

export interface AgentHealth {
  status: string;
  ready: boolean;
  pid?: number;
  function?: { loaded: boolean; path?: string };
  [key: string]: unknown;
}

/**
 * Polls the agent's health through vsock until it answers ready, the VMM exits, or the deadline
 * passes. Refusals (nothing listening yet: the guest is still booting) are retried.
 */
export async function waitForAgent(udsPath: string, deadlineMs: number, exited: Promise<ExitInfo>, vmId: string): Promise<AgentHealth> {
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
      const res = await probeHealth(udsPath, Math.min(2000, remaining));
      if (res.status === 200 && res.body?.status === 'ok' && res.body.ready) return res.body;
      lastError = new Error(`health answered ${res.status} ready=${res.body?.ready}`);
    } catch (err) {
      lastError = err;
    }
    // Short first retries: a restored guest's agent answers within milliseconds.
    await new Promise((r) => setTimeout(r, Math.min(5 * (attempt + 1), 50)));
  }
}

const HEALTH_REQUEST = 'GET /v1/health HTTP/1.1\r\nHost: agent\r\nConnection: close\r\n\r\n';

/**
 * One health check on a fresh vsock stream, without an HTTP client: the request is fixed and the
 * agent frames its JSON answers with Content-Length, so the answer is complete once that many body
 * bytes are in. It sits on every restore's path, where building an undici client per attempt
 * cost about twice the CPU of the check itself.
 */
export async function probeHealth(udsPath: string, timeoutMs: number): Promise<{ status: number; body: AgentHealth | undefined }> {
  const socket = await connectVsock(udsPath, AGENT_PORT, { timeoutMs });
  return new Promise((resolve, reject) => {
    let buf: Buffer = Buffer.alloc(0);
    const timer = setTimeout(() => done(new Error(`no health answer from ${udsPath} within ${timeoutMs} ms`)), timeoutMs);
    const done = (err: Error | null, value?: { status: number; body: AgentHealth | undefined }) => {
      clearTimeout(timer);
      socket.destroy();
      if (err) reject(err);
      else resolve(value!);
    };
    socket.on('error', (err) => done(err));
    socket.on('end', () => done(new Error(`the agent behind ${udsPath} closed the health check without a complete answer`)));
    socket.on('data', (chunk: Buffer) => {
      buf = buf.length ? Buffer.concat([buf, chunk]) : chunk;
      const head = buf.indexOf('\r\n\r\n');
      if (head === -1) return;
      const headers = buf.subarray(0, head).toString('latin1');
      const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(headers)?.[1]);
      const length = Number(/\r\ncontent-length: *(\d+)/i.exec(headers)?.[1]);
      if (!status || !Number.isInteger(length)) return done(new Error(`unexpected health answer from ${udsPath}: ${JSON.stringify(headers.slice(0, 200))}`));
      if (buf.length - head - 4 < length) return;
      const text = buf.subarray(head + 4, head + 4 + length).toString('utf8');
      try {
        done(null, { status, body: text ? (JSON.parse(text) as AgentHealth) : undefined });
      } catch (err) {
        done(err as Error);
      }
    });
    socket.resume();
    socket.write(HEALTH_REQUEST);
  });
}
