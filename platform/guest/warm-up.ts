/**
 * Warms an agent that has no function yet (the host's side of agent/warm.ts).
 *
 * A deploy's new version on the process driver is an adopted spare, a Node process whose JIT is
 * cold: its first ~2,000 requests cost 3-5x the CPU of later ones, and that landed on the host
 * while traffic shifted to it. So a spare is sent requests before it is kept: the agent answers
 * them with a built-in function, through the path every function's requests take.
 *
 * What made a warm-up stick, measured (agent CPU over the first 3,000 requests of a newly loaded
 * function: 0.63-0.84 s cold):
 *  - Requests from another process, on connections through the agent's real listener and vsock
 *    handshake. The agent sending itself requests (an in-process client over a side socket) left
 *    0.53-0.60 s: V8 optimises for the object shapes it sees, the client's own use of Node's
 *    stream code made that code generic, and the host's first real requests threw much of it
 *    away ("wrong map" deoptimisations).
 *  - Connections that open and close during the warm-up, not once at its end. A warm-up on one set
 *    of connections closed afterwards left 0.72 s (worse than none): the first closes changed the
 *    shapes of Node's socket objects and deoptimised what depended on them. Over three rounds of
 *    fresh connections, 0.44-0.46 s.
 *  - This client, as below, with 2,400 requests: 0.36-0.38 s (1,200: 0.57-0.58 s). The first 250
 *    requests then cost about 200 us each instead of 560-830, the following ones 1-2.5x of an
 *    agent's warm cost.
 *
 * The host's side is a minimal HTTP/1.1 client on raw sockets (requests written as undici writes
 * them, answers only counted). It costs the daemon about 90 us of CPU per request, mostly the
 * wake-up for each answer: about 0.2 s per warm-up, spread over it.
 */
import type net from 'node:net';
import { AgentPaths, InvocationHeaders } from '../../agent/protocol.ts';
import { defineError, type IgnitionError } from '../errors.ts';
import { AGENT_PORT, type Machine } from '../vmm/port.ts';
import { agentRequest } from '../vmm/agent-call.ts';

/**
 * The warm-up did not complete. `data.ended`: the agent was told to end it and did, so it has no
 * function, as before (the machine is usable, only cold); false: its state is unknown.
 */
export const WarmUpFailed = defineError('agent_warm_up_failed', 502, 'Agent warm-up failed', 'agent');

export interface WarmUpOptions {
  /** Invocations to send in all. */
  requests: number;
  /** Rounds, each on fresh connections closed at its end (default 3). */
  rounds?: number;
  /** Connections per round, each one request at a time (default 4). */
  connections?: number;
  /** Stops between requests (the warm-up then ends early, without failing). */
  signal?: { readonly aborted: boolean };
  timeoutMs?: number;
}

export interface WarmUpResult {
  /** Invocations answered (fewer than asked when stopped). */
  requests: number;
  ms: number;
}

/**
 * Sends `requests` invocations to the agent of `machine`, then ends the warm-up (the agent has no
 * function again). Rejects with WarmUpFailed when the agent refuses or fails; the warm-up is ended
 * whenever it can be, and `data.ended` says whether it was.
 */
export async function warmUpAgent(machine: Pick<Machine, 'connect'>, opts: WarmUpOptions): Promise<WarmUpResult> {
  const t0 = performance.now();
  const rounds = Math.max(1, opts.rounds ?? 3);
  const connections = Math.max(1, opts.connections ?? 4);
  const timeoutMs = opts.timeoutMs ?? 10_000;
  let sent = 0;
  let answered = 0;
  let failure: Error | undefined;
  // Every connection of the round stops at the first failure, before the warm-up is ended: no
  // warm-up request may still be on its way once the agent can take a function.
  const open = new Set<net.Socket>();
  try {
    await control(machine, 'PUT', timeoutMs);
    for (let r = 0; r < rounds && !opts.signal?.aborted; r++) {
      const end = Math.round(((r + 1) * opts.requests) / rounds);
      const take = () => (sent < end && !opts.signal?.aborted && !failure ? sent++ : -1);
      const one = async () => {
        const socket = await machine.connect(AGENT_PORT, { timeoutMs });
        open.add(socket);
        try {
          return await runConnection(socket, take, timeoutMs);
        } finally {
          open.delete(socket);
        }
      };
      const counts = await Promise.all(
        Array.from({ length: connections }, () =>
          one().catch((err: Error) => {
            failure ??= err;
            for (const s of open) s.destroy();
            return 0;
          }),
        ),
      );
      answered += counts.reduce((a, b) => a + b, 0);
      if (failure) break;
    }
  } catch (err) {
    failure = err as Error;
  }
  try {
    await control(machine, 'DELETE', timeoutMs);
  } catch (err) {
    throw WarmUpFailed(`the warm-up could not be ended: ${(err as Error).message}${failure ? ` (it failed first: ${failure.message})` : ''}`, { cause: err, data: { ended: false } });
  }
  if (failure) throw WarmUpFailed(`the warm-up failed after ${answered} answers: ${failure.message}`, { cause: failure, data: { ended: true } });
  return { requests: answered, ms: performance.now() - t0 };
}

/**
 * warmUpAgent for a caller that can use a cold agent: a warm-up that failed but was ended left the
 * agent as it was (no function), and resolves with why it failed; only one that could not be ended
 * rejects, and that machine must not be kept (a function must never share an agent with the
 * built-in one).
 */
export async function warmUpOrCold(machine: Pick<Machine, 'connect'>, opts: WarmUpOptions): Promise<WarmUpResult | { failed: string }> {
  try {
    return await warmUpAgent(machine, opts);
  } catch (err) {
    if (WarmUpFailed.is(err) && (err as IgnitionError).data.ended === true) return { failed: (err as Error).message };
    throw err;
  }
}

/** `PUT` or `DELETE /v1/warm-up`, on a connection of its own; throws unless the agent answered 200. */
async function control(machine: Pick<Machine, 'connect'>, method: 'PUT' | 'DELETE', timeoutMs: number): Promise<void> {
  const res = await agentRequest(machine, method, AgentPaths.warmUp, undefined, timeoutMs);
  if (res.status !== 200) {
    const body = res.body as { code?: string; detail?: string } | undefined;
    throw new Error(`${method} ${AgentPaths.warmUp} answered ${res.status}${body?.code ? ` ${body.code}` : ''}${body?.detail ? `: ${body.detail}` : ''}`);
  }
}

/**
 * Request i of a warm-up, as the daemon's client (undici) writes an invocation: `host` and
 * `connection` first, then the caller's headers, then the two the invoker adds. Mostly GETs, with a
 * POST with a body in five.
 */
export function warmUpRequest(i: number): string {
  const path = `${AgentPaths.invokePrefix}/warm-up/${i % 7}?n=${i}`;
  const head = `host: 127.0.0.1\r\nconnection: keep-alive\r\nuser-agent: ignition-warm-up\r\naccept: */*\r\n`;
  const added = `${InvocationHeaders.id}: inv_warmup${i}\r\nx-forwarded-for: 127.0.0.1\r\n`;
  if (i % 5 !== 4) return `GET ${path} HTTP/1.1\r\n${head}${added}\r\n`;
  const body = JSON.stringify({ n: i, text: 'warm-up' });
  return `POST ${path} HTTP/1.1\r\n${head}content-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\n${added}\r\n${body}`;
}

/** One connection: a request, its answer, the next, until `take` runs out; then it is closed. */
function runConnection(socket: net.Socket, take: () => number, timeoutMs: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const counter = new ResponseCounter();
    let expected = 0;
    let settled = false;
    const finish = (err?: Error) => {
      if (settled) return;
      settled = true;
      socket.setTimeout(0);
      socket.destroy();
      if (err) reject(err);
      else resolve(counter.count);
    };
    // One request at a time: pipelined batches cost the host less per request, but the agent
    // then runs Node's pipelining path, and a warm-up with batches of 4-8 left 0.44-0.46 s of the
    // first 3,000 requests' CPU instead of 0.36-0.38 s.
    const next = () => {
      const i = take();
      if (i < 0) return finish();
      expected++;
      socket.write(warmUpRequest(i));
    };
    socket.setTimeout(timeoutMs, () => finish(new Error(`the agent did not answer a warm-up request within ${timeoutMs} ms`)));
    socket.on('data', (chunk: Buffer) => {
      try {
        counter.push(chunk);
      } catch (err) {
        return finish(err as Error);
      }
      if (counter.failed) return finish(new Error(`the agent answered a warm-up request with ${counter.failed}`));
      if (counter.count === expected) next();
    });
    socket.on('error', (err) => finish(err));
    // connectVsock hands the stream over paused (the next reader may be undici).
    socket.resume();
    socket.on('close', () => finish(counter.count < expected ? new Error(`the agent closed a warm-up connection after ${counter.count} of ${expected} answers`) : undefined));
    next();
  });
}

/**
 * Counts complete HTTP/1.1 responses in a byte stream: the head up to its blank line, then a body
 * of content-length bytes, or chunks up to the last one (no trailers). Remembers the first status
 * that is not 2xx. Enough for the built-in function's answers, which only this reads.
 */
export class ResponseCounter {
  private buf: Buffer = Buffer.alloc(0);
  /** Body bytes still to skip; -1 while reading a head or a chunk-size line. */
  private bodyLeft = -1;
  private chunked = false;
  /** The chunk being skipped is the last one (size 0: only the final CRLF). */
  private last = false;
  count = 0;
  /** The first status line that was not 2xx. */
  failed: string | undefined;

  push(chunk: Buffer): void {
    this.buf = this.buf.length ? Buffer.concat([this.buf, chunk]) : chunk;
    while (this.step());
  }

  /** Consumes one part (a head, a body, a chunk); false when more bytes are needed. */
  private step(): boolean {
    if (this.bodyLeft >= 0) {
      if (this.buf.length < this.bodyLeft) return false;
      this.buf = this.buf.subarray(this.bodyLeft);
      this.bodyLeft = -1;
      if (this.chunked && !this.last) return true;
      this.chunked = this.last = false;
      this.count++;
      return true;
    }
    const end = this.buf.indexOf(this.chunked ? '\r\n' : '\r\n\r\n');
    if (end === -1) return false;
    const text = this.buf.subarray(0, end).toString('latin1');
    if (this.chunked) {
      const size = parseInt(text, 16);
      if (Number.isNaN(size)) throw new Error(`bad chunk size line ${JSON.stringify(text.slice(0, 40))}`);
      this.buf = this.buf.subarray(end + 2);
      this.bodyLeft = size + 2;
      this.last = size === 0;
      return true;
    }
    this.buf = this.buf.subarray(end + 4);
    const status = /^HTTP\/1\.1 (\d{3})/.exec(text);
    if (!status) throw new Error(`not an HTTP/1.1 response: ${JSON.stringify(text.slice(0, 40))}`);
    if (status[1][0] !== '2') this.failed ??= text.split('\r\n', 1)[0];
    const length = /\r\ncontent-length:\s*(\d+)/i.exec(text);
    this.chunked = !length && /\r\ntransfer-encoding:[^\r]*chunked/i.test(text);
    if (!this.chunked) this.bodyLeft = length ? Number(length[1]) : 0;
    return true;
  }
}
