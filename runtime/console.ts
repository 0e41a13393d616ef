/**
 * Function console capture. Every `console.*` call of the function becomes one JSON line on the
 * process's stdout carrying the invocation it belongs to (tracked with AsyncLocalStorage, so
 * concurrent invocations never mix their lines). The host reads these lines from the machine's
 * output (process stdout or the microVM's serial console) and stores them per function.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { format } from 'node:util';

export interface InvocationContext {
  invocationId: string;
}

export const invocationStore = new AsyncLocalStorage<InvocationContext>();

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';

/** A structured output line. `src` tells the function's lines from the agent's own. */
export interface LogRecord {
  t: number;
  src: 'fn' | 'agent';
  lvl: LogLevel;
  inv?: string;
  msg: string;
}

const write = (record: LogRecord) => {
  process.stdout.write(JSON.stringify(record) + '\n');
};

export function agentLog(lvl: LogLevel, msg: string): void {
  write({ t: Date.now(), src: 'agent', lvl, msg });
}

let installed = false;

/** Replaces console methods once; idempotent. */
export function captureConsole(): void {
  if (installed) return;
  installed = true;
  const bind =
    (lvl: LogLevel) =>
    (...args: unknown[]) => {
      const inv = invocationStore.getStore()?.invocationId;
      write({ t: Date.now(), src: 'fn', lvl, ...(inv ? { inv } : {}), msg: format(...args) });
    };
  console.log = bind('info');
  console.info = bind('info');
  console.debug = bind('debug');
  console.warn = bind('warn');
  console.error = bind('error');
  console.trace = (...args: unknown[]) => bind('debug')(format(...args), new Error().stack);
}
