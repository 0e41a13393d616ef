/**
 * The agent protocol: HTTP/1.1 on guest port 52 (vsock in a microVM, a Unix socket with the same
 * handshake for the process driver). This file is the one definition both sides import: the agent
 * (agent/server.ts) and the host's typed client (platform/guest/agent-client.ts).
 *
 * Versioned by path prefix (`/v1`). Control endpoints speak JSON; `invoke` passes the function's
 * HTTP request and response through untouched, streaming both ways.
 */

export const AGENT_PROTOCOL_VERSION = 1;

export const AgentPaths = {
  health: '/v1/health',
  function: '/v1/function',
  invokePrefix: '/v1/invoke',
  exec: '/v1/exec',
  env: '/v1/env',
  restore: '/v1/restore',
  network: '/v1/network',
  shutdown: '/v1/shutdown',
} as const;

/** Headers the host adds to an invocation; stripped before the function sees the request. */
export const InvocationHeaders = {
  id: 'x-ignition-invocation-id',
  /** Set by the runtime on a response it produced itself because the function failed. */
  error: 'x-ignition-error',
} as const;

/** The line the agent prints on stdout once it listens (image smoke tests wait for it). */
export const READY_LINE = 'ignition-agent ready';

export interface HealthResponse {
  status: 'ok';
  protocol: number;
  /** True once a function is loaded and warmed (or when none is expected). */
  ready: boolean;
  pid: number;
  uptimeMs: number;
  function: { loaded: boolean; path?: string; loadMs?: number; warmupMs?: number };
  /** Times `POST /v1/restore` ran in this process's memory image (0 before any restore). */
  restores: number;
}

export interface LoadFunctionRequest {
  /** The bundle's source (ESM). */
  code?: string;
  /** Its source map (JSON text), so stack traces name the user's TypeScript lines. */
  map?: string;
  /** File name for stack traces and the map link; default `function.mjs`. */
  filename?: string;
  /** Instead of code: a path the agent can read (process driver, or a drive in the guest). */
  path?: string;
  env?: Record<string, string>;
  /** Run the function's `warmup()` export (default true). */
  warmup?: boolean;
}

export interface LoadFunctionResponse {
  ready: true;
  path: string;
  loadMs: number;
  warmupMs: number;
}

export interface ExecRequest {
  cmd: string;
  args?: string[];
  env?: Record<string, string>;
  cwd?: string;
  timeoutMs?: number;
  /** Text written to the command's stdin, which is then closed. */
  stdin?: string;
}

/** One line of the ndjson stream `POST /v1/exec` answers with. */
export type ExecEvent =
  | { type: 'stdout' | 'stderr'; data: string }
  | { type: 'exit'; code: number | null; signal: string | null; timedOut: boolean; durationMs: number }
  | { type: 'error'; code: string; message: string };

export interface RestoreRequest {
  /** Host wall clock, ms since the epoch; the guest sets its clock to it. */
  timeMs: number;
  /** Fresh host entropy (base64) mixed into the guest kernel's pool. */
  entropy?: string;
  /** Environment (secrets included) handed to the function after restore, never snapshotted. */
  env?: Record<string, string>;
}

export interface RestoreResponse {
  clockSet: boolean;
  entropyAdded: number;
  onRestoreMs: number | null;
  restores: number;
}

/**
 * `POST /v1/network` after a restore (agent/network.ts). Without `address`: a clone in its own
 * network slot keeps its address and only flushes its neighbour table (and sets `mtu` if given).
 * With `address`: a clone on a TAP of its own takes this address, MAC, MTU and default route.
 */
export interface NetworkRequest {
  /** The guest interface, `eth0`. */
  iface: string;
  /** Address with prefix length, e.g. `10.203.0.5/24`. */
  address?: string;
  /** Default route; only with `address`. */
  gateway?: string;
  /** Only with `address`: the guest's MAC on a shared bridge must be its own, not the snapshot's. */
  mac?: string;
  mtu?: number;
  /**
   * The name servers the guest's /etc/resolv.conf lists from now on (one or two IPv4 addresses):
   * a clone's snapshot holds those of its golden's boot, which may have changed since.
   */
  dns?: string[];
}

export interface NetworkResponse {
  ok: true;
  /** The `ip -batch` lines the agent ran. */
  applied: string[];
  ms: number;
}

/** Error body of a control endpoint (RFC 9457 problem document with a stable code). */
export interface AgentProblem {
  type: string;
  title: string;
  status: number;
  code: string;
  detail: string;
  phase?: string;
  stack?: string;
}
