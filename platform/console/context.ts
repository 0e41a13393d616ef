/**
 * What the console's route modules share: the Hono environment the session middleware fills
 * (routes.ts), the services the pages read, and how a page is answered.
 */
import type { Context, Hono } from 'hono';
import type { FunctionService } from '../functions/service.ts';
import type { LogSink } from '../functions/logs.ts';
import type { Logger } from '../log.ts';
import type { PlatformMetrics } from '../metrics.ts';
import type { VmService } from '../vms/service.ts';
import type { Registry } from '../registry/registry.ts';
import type { AsyncService } from '../async/service.ts';
import type { SecretStore } from '../secrets/store.ts';
import type { ConsoleSession, ConsoleSessions } from './sessions.ts';

/**
 * The capabilities the console shows besides functions. Each is optional so that an app built
 * without one (tests, a daemon without async) still serves the console: its page says what is
 * missing instead of failing.
 */
export interface ConsoleSources {
  vms?: VmService;
  registry?: Registry;
  async?: AsyncService;
  secrets?: SecretStore;
}

export interface ConsoleDeps extends ConsoleSources {
  functions: FunctionService;
  logs: LogSink;
  logger: Logger;
  metrics?: PlatformMetrics;
  sessions: ConsoleSessions;
}

export type ConsoleEnv = { Variables: { requestId: string; session: ConsoleSession; sessionId: string; form: URLSearchParams } };
export type ConsoleApp = Hono<ConsoleEnv>;
export type ConsoleContext = Context<ConsoleEnv>;

/** A page as the answer: complete HTML with its doctype. */
export function page(c: ConsoleContext, node: unknown, status = 200): Response {
  return c.html(`<!doctype html>${String(node)}`, status as 200);
}

/** The session's CSRF token, for the forms a page renders. */
export const csrfOf = (c: ConsoleContext): string => c.get('session').csrf;

export const originOf = (c: ConsoleContext): string => new URL(c.req.url).origin;
