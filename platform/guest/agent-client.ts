/**
 * The host's typed client of the guest agent (agent/protocol.ts), over any Machine.
 *
 * HTTP/1.1 on connections opened through `machine.connect(52)`, i.e. Firecracker's vsock
 * handshake on the machine's Unix socket. Control calls go through undici; invocations, the data
 * plane, through `agent-wire.ts`, which forwards the daemon's parsed request without a second
 * HTTP client. Both keep their connections alive and reuse them, so the handshake is paid once per
 * connection, not per request. After a restore the client must be recreated: Firecracker resets
 * every vsock connection on snapshot and restore.
 */
import { Pool, type Dispatcher } from 'undici';
import type { Readable } from 'node:stream';
import type { AbortLike } from '../deadline.ts';
import { AgentConnections, type AgentRequest, type AgentResponse } from './agent-wire.ts';
import {
  AgentPaths,
  type ExecEvent,
  type ExecRequest,
  type HealthResponse,
  type LoadFunctionRequest,
  type LoadFunctionResponse,
  type RestoreRequest,
  type RestoreResponse,
} from '../../agent/protocol.ts';
import { defineError, type Phase } from '../errors.ts';
import { AGENT_PORT, type Machine } from '../vmm/port.ts';

export const AgentRequestFailed = defineError('agent_request_failed', 502, 'Agent request failed', 'agent');

/** An error the agent reported as a problem document, with its code kept. */
export class AgentProblemError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    readonly detail: string,
    readonly phase?: Phase,
  ) {
    super(detail);
    this.name = 'AgentProblemError';
  }
}

export interface AgentClientOptions {
  /** Upper bound of concurrent connections (an instance's concurrency). */
  connections?: number;
  /** Deadline of control calls. */
  timeoutMs?: number;
}

export class AgentClient {
  readonly dispatcher: Pool;
  private readonly wire: AgentConnections;
  private readonly timeoutMs: number;

  constructor(
    readonly machine: Machine,
    options: AgentClientOptions = {},
  ) {
    this.timeoutMs = options.timeoutMs ?? 10_000;
    this.wire = new AgentConnections(machine);
    this.dispatcher = new Pool('http://agent', {
      connections: options.connections ?? 64,
      keepAliveTimeout: 30_000,
      keepAliveMaxTimeout: 60_000,
      connect: (_opts, callback) => {
        machine.connect(AGENT_PORT, { timeoutMs: 2000 }).then(
          (socket) => callback(null, socket),
          (err) => callback(err as Error, null),
        );
      },
    });
  }

  health(): Promise<HealthResponse> {
    return this.json('GET', AgentPaths.health);
  }

  loadFunction(req: LoadFunctionRequest, timeoutMs?: number): Promise<LoadFunctionResponse> {
    return this.json('PUT', AgentPaths.function, req, timeoutMs);
  }

  restore(req: RestoreRequest): Promise<RestoreResponse> {
    return this.json('POST', AgentPaths.restore, req);
  }

  setEnv(env: Record<string, string>): Promise<{ keys: string[] }> {
    return this.json('PUT', AgentPaths.env, { env });
  }

  shutdown(): Promise<{ ok: true }> {
    return this.json('POST', AgentPaths.shutdown, {}, 2000);
  }

  /** Runs a command in the guest; yields its output events as they come. */
  async *exec(req: ExecRequest, signal?: AbortSignal): AsyncGenerator<ExecEvent> {
    const res = await this.dispatcher.request({
      path: AgentPaths.exec,
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(req),
      signal,
      bodyTimeout: 0,
    });
    if (res.statusCode !== 200) throw await problemFrom(res.statusCode, res.body);
    let partial = '';
    for await (const chunk of res.body) {
      const lines = (partial + chunk.toString('utf8')).split('\n');
      partial = lines.pop()!;
      for (const line of lines) if (line) yield JSON.parse(line) as ExecEvent;
    }
  }

  /**
   * Forwards an invocation; the caller consumes (or destroys) `body`. Rejects with `bad_request`
   * for a request that cannot be written, with an `AgentProtocolError` for an answer that is not
   * HTTP/1.1, or with the connection's error; the signal ends the exchange at any point.
   */
  invoke(options: AgentRequest & { path: string }): Promise<AgentResponse> {
    return this.wire.request(AgentPaths.invokePrefix + options.path, options);
  }

  close(): Promise<void> {
    this.wire.close();
    return this.dispatcher.destroy().catch(() => {});
  }

  private async json<T>(method: Dispatcher.HttpMethod, path: string, body?: unknown, timeoutMs = this.timeoutMs): Promise<T> {
    let res: Dispatcher.ResponseData;
    try {
      res = await this.dispatcher.request({
        path,
        method,
        headers: body === undefined ? {} : { 'content-type': 'application/json' },
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: AbortSignal.timeout(timeoutMs),
      });
    } catch (err) {
      throw AgentRequestFailed(`agent of ${this.machine.id}: ${method} ${path} failed: ${(err as Error).message}`, {
        cause: err,
        data: { vm: this.machine.id },
      });
    }
    if (res.statusCode >= 400) throw await problemFrom(res.statusCode, res.body);
    return (await res.body.json()) as T;
  }
}

async function problemFrom(status: number, body: Dispatcher.ResponseData['body']): Promise<AgentProblemError> {
  const text = await body.text();
  try {
    const p = JSON.parse(text) as { code?: string; detail?: string; phase?: Phase };
    return new AgentProblemError(status, p.code ?? 'agent_error', p.detail ?? text, p.phase);
  } catch {
    return new AgentProblemError(status, 'agent_error', text.slice(0, 500));
  }
}
