/** Polling for what a test waits on: no timing is asserted, only a generous bound. */

/** Resolves once `re` matches `get()` (checked every 100 ms, up to 30 s); throws with the text otherwise. */
export async function waitForText(get: () => string, re: RegExp, what: string): Promise<void> {
  for (let i = 0; i < 300; i++) {
    if (re.test(get())) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`timed out waiting for ${what}; output:\n${get()}`);
}
