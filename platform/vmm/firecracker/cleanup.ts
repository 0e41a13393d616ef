/**
 * Cleanups registered as resources are acquired, run once in reverse order, collecting errors
 * instead of stopping at the first. Boot and restore push one entry per resource (workspace, disk
 * clone, network slot, process); on failure the whole stack unwinds so nothing leaks, and on
 * success the stack is handed to the machine, whose `destroy()` runs it.
 */

export interface CleanupEntry {
  name: string;
  run: () => void | Promise<void>;
}

export class CleanupStack {
  #entries: CleanupEntry[] = [];
  #done: Promise<Error[]> | undefined;

  /** Registers a cleanup for a resource that was just acquired. */
  defer(name: string, run: () => void | Promise<void>): void {
    if (this.#done) throw new Error(`cleanup "${name}" registered after the stack already ran`);
    this.#entries.push({ name, run });
  }

  get size(): number {
    return this.#entries.length;
  }

  /** Runs every cleanup once, newest first. Idempotent: later calls return the first result. */
  run(): Promise<Error[]> {
    this.#done ??= (async () => {
      const errors: Error[] = [];
      for (const entry of this.#entries.reverse()) {
        try {
          await entry.run();
        } catch (err) {
          const e = err instanceof Error ? err : new Error(String(err));
          errors.push(new Error(`cleanup "${entry.name}" failed: ${e.message}`, { cause: e }));
        }
      }
      this.#entries = [];
      return errors;
    })();
    return this.#done;
  }
}
