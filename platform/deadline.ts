/**
 * An invocation's deadline, as the abort signal the pool's queue and undici listen to.
 *
 * Why not an AbortController: one per request means a controller, its AbortSignal (a full
 * EventTarget) and its listener records on the daemon's heap, and every byte allocated per
 * request brings the next garbage collection pause nearer. Both consumers accept any object with `aborted`, `reason` and
 * `addEventListener`/`removeEventListener` for 'abort' (undici checks for `addEventListener`), and
 * a request has at most two listeners at a time, so a plain array does.
 */
export interface AbortLike {
  readonly aborted: boolean;
  readonly reason: unknown;
  addEventListener(type: 'abort', listener: () => void, options?: { once?: boolean }): void;
  removeEventListener(type: 'abort', listener: () => void): void;
}

export class Deadline implements AbortLike {
  aborted = false;
  reason: unknown = undefined;
  private listeners: Array<() => void> | null = null;
  private readonly timer: NodeJS.Timeout;

  /** Aborts with `reason()` after `ms`, unless cleared first. */
  constructor(ms: number, reason: () => Error) {
    this.timer = setTimeout(() => this.abort(reason()), ms);
  }

  /** The request is done: the deadline no longer applies. */
  clear(): void {
    clearTimeout(this.timer);
    this.listeners = null;
  }

  addEventListener(_type: 'abort', listener: () => void): void {
    // Every listener runs once (an abort happens once), as with `{ once: true }`.
    if (!this.aborted) (this.listeners ??= []).push(listener);
  }

  removeEventListener(_type: 'abort', listener: () => void): void {
    const i = this.listeners ? this.listeners.indexOf(listener) : -1;
    if (i !== -1) this.listeners!.splice(i, 1);
  }

  private abort(reason: Error): void {
    this.aborted = true;
    this.reason = reason;
    const listeners = this.listeners;
    this.listeners = null;
    for (const l of listeners ?? []) l();
  }
}
