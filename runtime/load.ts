/**
 * Loads a function bundle and finds its handler.
 *
 * The contract (README, "Deploy, invoke, inspect"): the module's default export is `{ fetch(request, env, ctx) }` or a
 * function `(request, env, ctx) => Response`; a Hono app works as is (it has `fetch`). Optional
 * `warmup()` runs before the golden snapshot, optional `onRestore()` after each restore; both may be
 * named exports or methods of the default export.
 */
import { pathToFileURL } from 'node:url';

export interface FunctionContext {
  invocationId: string;
  /** Keeps work alive after the response is sent (like Workers' waitUntil). */
  waitUntil(promise: Promise<unknown>): void;
}

export type FetchHandler = (request: Request, env: Record<string, string>, ctx: FunctionContext) => unknown;

export interface LoadedFunction {
  path: string;
  fetch: FetchHandler;
  warmup?: () => unknown;
  onRestore?: () => unknown;
}

export class FunctionLoadError extends Error {
  constructor(
    readonly code: 'function_load_failed' | 'function_no_handler',
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'FunctionLoadError';
  }
}

type Fn = (...args: unknown[]) => unknown;
const isFn = (v: unknown): v is Fn => typeof v === 'function';

export async function loadFunction(path: string): Promise<LoadedFunction> {
  let mod: Record<string, unknown>;
  try {
    mod = (await import(pathToFileURL(path).href)) as Record<string, unknown>;
  } catch (err) {
    const e = err as Error;
    throw new FunctionLoadError('function_load_failed', `the function threw while loading: ${e?.stack ?? String(err)}`, { cause: err });
  }
  const def = mod.default as Record<string, unknown> | Fn | undefined;
  let fetch: FetchHandler | undefined;
  if (def && typeof def === 'object' && isFn(def.fetch)) fetch = (def.fetch as Fn).bind(def) as FetchHandler;
  else if (isFn(def) && isFn((def as unknown as Record<string, unknown>).fetch)) {
    // A Hono app is callable-less but some frameworks export a function with a fetch property.
    const f = (def as unknown as Record<string, Fn>).fetch;
    fetch = f.bind(def) as FetchHandler;
  } else if (isFn(def)) fetch = def as FetchHandler;
  else if (isFn(mod.fetch)) fetch = mod.fetch as FetchHandler;
  if (!fetch) {
    throw new FunctionLoadError(
      'function_no_handler',
      'the module exports no handler: export default { fetch(request, env, ctx) { … } } or a function (request) => Response',
    );
  }
  const pick = (name: 'warmup' | 'onRestore'): (() => unknown) | undefined => {
    if (def && typeof def === 'object' && isFn(def[name])) return (def[name] as Fn).bind(def);
    if (isFn(mod[name])) return mod[name] as Fn;
    return undefined;
  };
  return { path, fetch, warmup: pick('warmup'), onRestore: pick('onRestore') };
}
