/**
 * Entry point of the guest agent (bundled to dist/agent.mjs).
 *
 *   node agent.mjs --uds <path>     listen on a Unix socket with the vsock handshake (fake Firecracker)
 *   node agent.mjs --listen-fd <n>  the same on a socket the host bound and passed as fd n (process
 *                                   driver: the sandbox cannot write where the socket lives)
 *   node agent.mjs --vsock <port>   listen on AF_VSOCK (inside a microVM)
 *
 * With IGNITION_BUNDLE=<path> in the environment the function is loaded (and warmed) before the
 * agent reports ready, which saves the host a round trip when it starts instances from a bundle on
 * the host's disk. Prints READY_LINE on stdout once listening.
 */
import { AGENT_PORT } from '../platform/vmm/port.ts';
import { READY_LINE } from './protocol.ts';
import { listenHandshake } from './listener.ts';
import { createAgentServer, defaultWorkDir } from './server.ts';
import { agentLog, captureConsole } from '../runtime/console.ts';
import { listenVsock, selfTestVsock } from './vsock/index.ts';

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i === -1 ? undefined : process.argv[i + 1];
}

async function main() {
  const listenFd = arg('--listen-fd');
  const uds = listenFd !== undefined ? { fd: Number(listenFd) } : arg('--uds');
  const vsockPort = arg('--vsock');
  if (!uds && !vsockPort) {
    process.stderr.write('usage: agent.mjs --uds <path> | --listen-fd <n> | --vsock <port>\n');
    process.exit(2);
  }
  // Stack traces of the function name its TypeScript lines through the bundle's source map.
  process.setSourceMapsEnabled(true);
  captureConsole();

  const { server, load } = createAgentServer({
    guest: Boolean(vsockPort),
    workDir: process.env.IGNITION_WORK_DIR ?? defaultWorkDir(),
    onShutdown: () => process.exit(0),
  });

  const bundle = process.env.IGNITION_BUNDLE;
  if (bundle) {
    let env: Record<string, string> = {};
    if (process.env.IGNITION_FUNCTION_ENV) env = JSON.parse(process.env.IGNITION_FUNCTION_ENV);
    try {
      await load({ path: bundle, env, warmup: process.env.IGNITION_WARMUP !== '0' });
    } catch (err) {
      // Report why on stdout (the host reads it) and exit non-zero: a broken bundle is fatal here.
      const body = (err as { body?: { code: string; detail: string } }).body;
      process.stdout.write(
        JSON.stringify({ t: Date.now(), src: 'agent', lvl: 'error', code: body?.code ?? 'function_load_failed', msg: body?.detail ?? String(err) }) + '\n',
      );
      process.exit(3);
    }
  }

  if (uds) {
    await listenHandshake(uds, new Map([[AGENT_PORT, server]]));
  } else {
    // Fail loudly at boot (not at the first request) if the addon or Node version is wrong.
    await selfTestVsock();
    listenVsock(Number(vsockPort), server);
  }
  agentLog('info', `${READY_LINE} pid=${process.pid} port=${AGENT_PORT}`);

  const stop = () => server.close(() => process.exit(0));
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

main().catch((err) => {
  process.stderr.write(`agent failed to start: ${err?.stack ?? err}\n`);
  process.exit(1);
});
