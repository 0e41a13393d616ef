/**
 * The fake's guest console is as quiet as a real one: a Firecracker process with no guest yet
 * prints nothing, and a restored guest prints nothing about its restore (its agent started and
 * loaded its function before the snapshot). The fake starts its stand-in agent with the process, so
 * what that agent prints before a load is held back (test/fakes/firecracker/guest.ts); a boot shows
 * it, as a booting guest's console does. Without this, each restore handed the driver console lines
 * no real Firecracker prints, and the control-plane benchmark counted the CPU to read them.
 */
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { FirecrackerDriver } from '../../platform/vmm/firecracker/driver.ts';
import type { OutputLine } from '../../platform/vmm/port.ts';
import { lack, skipUnless } from '../support/skip.ts';
import { AGENT_BUILT, AGENT_FIX, agentCall, bootSpec, FAKE_BINARY, makeAssets } from './support.ts';

const it = skipUnless(AGENT_BUILT ? null : lack('the fake runs the built agent as its guest', AGENT_FIX));
const slow = { startTimeoutMs: 60_000, bootAgentTimeoutMs: 60_000, restoreAgentTimeoutMs: 60_000, apiTimeoutMs: 30_000 };

async function until(what: string, cond: () => boolean, ms = 60_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

it('a boot shows the agent starting; a restore shows only what the function prints', async () => {
  const a = makeAssets();
  const bundle = path.join(a.root, 'says.mjs');
  writeFileSync(bundle, 'export default { fetch() { console.log("marker from the function"); return new Response("ok"); } };\n');
  const driver = new FirecrackerDriver({ binary: FAKE_BINARY, kernel: a.kernel, rootfs: a.rootfs, ...slow, workspacesDir: path.join(a.root, 'ws') });
  try {
    const booted: string[] = [];
    const source = await driver.boot({ ...bootSpec(a.root, 'vm_src', bundle), onOutput: (l: OutputLine) => booted.push(l.line) });
    await until('the booted agent to print that it is ready', () => booted.some((l) => /ignition-agent ready/.test(l)));
    const snapshot = await source.snapshot(path.join(a.root, 'snap'));

    const restored: string[] = [];
    const clone = await driver.restore({ ...bootSpec(a.root, 'vm_clone'), snapshot, onOutput: (l: OutputLine) => restored.push(l.line) });
    assert.is((await agentCall(clone, 'GET', '/v1/invoke/')).status, 200);
    // The agent's lines come down one pipe in order: once the function's line is in, anything the
    // agent printed before it is too.
    await until('the function to print', () => restored.some((l) => /marker from the function/.test(l)));
    const before = restored.slice(
      0,
      restored.findIndex((l) => /marker from the function/.test(l)),
    );
    assert.equal(before, [], 'a restored guest prints nothing before the function does');
    await Promise.all([clone.destroy(), source.destroy()]);
  } finally {
    await driver.close();
    a.cleanup();
  }
});

test.run();
