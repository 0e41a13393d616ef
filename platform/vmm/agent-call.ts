/**
 * One HTTP request from a driver to the guest agent: a fresh vsock stream through the handshake,
 * HTTP/1.1 on it with undici (the path every invocation takes), JSON in and out. The drivers use
 * it for the few calls they make themselves (loading a bundle, addressing a guest's network);
 * richer agent access belongs to platform/guest.
 */
import { Client } from 'undici';
import { connectVsock } from '../guest/vsock.ts';
import { AGENT_PORT, type Machine } from './port.ts';

/**
 * One HTTP request to the agent through a fresh vsock stream: by the machine's vsock socket path,
 * or through a machine (its `connect`, which checks that it runs).
 */
export async function agentRequest<T>(
  target: string | Pick<Machine, 'connect'>,
  method: string,
  path: string,
  body: unknown,
  timeoutMs: number,
): Promise<{ status: number; body: T }> {
  const client = new Client('http://agent', {
    connect: (_opts, callback) => {
      (typeof target === 'string' ? connectVsock(target, AGENT_PORT, { timeoutMs }) : target.connect(AGENT_PORT, { timeoutMs })).then(
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
