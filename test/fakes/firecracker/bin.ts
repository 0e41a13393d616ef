/**
 * The fake Firecracker as a process, started exactly like the real binary (through the executable
 * wrapper `./firecracker`): `firecracker --api-sock <path> [--id <id>] [--log-path <file>]
 * [--level <lvl>] [--metrics-path <file>] [--http-api-max-payload-size <n>] …`. Unknown flags are
 * tolerated, so the driver's command line can be the real one. A stale API socket makes start-up
 * fail (exit 1), as Firecracker's `FailedToBindSocket` does. SIGTERM and SIGINT end it; the guest
 * agent dies with it.
 */
import { readlinkSync } from 'node:fs';
import { startFake, delaysFromEnv, StartupError } from './server.ts';

const FLAGS_WITH_VALUE = new Set([
  'api-sock',
  'id',
  'log-path',
  'level',
  'metrics-path',
  'http-api-max-payload-size',
  'mmds-size-limit',
  'config-file',
  'metadata',
  'module',
  'seccomp-filter',
  'start-time-us',
  'start-time-cpu-us',
  'parent-cpu-time-us',
  'describe-snapshot',
]);

function parseArgs(argv: string[]): Map<string, string> {
  const out = new Map<string, string>();
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (!a.startsWith('--')) continue;
    const eq = a.indexOf('=');
    const name = eq === -1 ? a.slice(2) : a.slice(2, eq);
    if (eq !== -1) out.set(name, a.slice(eq + 1));
    else if (FLAGS_WITH_VALUE.has(name) && i + 1 < argv.length) out.set(name, argv[++i]);
    else out.set(name, 'true');
  }
  return out;
}

const args = parseArgs(process.argv.slice(2));
if (args.has('version')) {
  process.stdout.write('Firecracker v1.16.1 (ignition fake)\n');
  process.exit(0);
}
const fault = process.env.IGNITION_FC_FAKE_FAULT;
if (fault === 'no-socket') {
  // Never binds: the launcher's readiness deadline must fire. Stays alive until killed.
  setInterval(() => undefined, 1 << 30);
} else {
  const apiSock = args.get('api-sock') ?? '/run/firecracker.socket';
  try {
    const fake = await startFake({
      apiSock,
      id: args.get('id'),
      logPath: args.get('log-path'),
      level: args.get('level'),
      metricsPath: args.get('metrics-path'),
      maxPayload: args.has('http-api-max-payload-size') ? Number(args.get('http-api-max-payload-size')) : undefined,
      traceFile: process.env.IGNITION_FC_TRACE,
      // Which network namespace this VMM runs in (a clone slot's, or the host's).
      netns: readlinkSync('/proc/self/ns/net'),
      delays: delaysFromEnv(),
      fault,
      exit: (code) => process.exit(code),
    });
    // The guest agent starts with the process (see Guest.prestart); IGNITION_FC_FAKE_PRESTART=0
    // keeps the old behaviour of starting it at InstanceStart or load.
    if (process.env.IGNITION_FC_FAKE_PRESTART !== '0') fake.vmm.guest.prestart();
    const stop = () => {
      fake.vmm.shutdown();
      fake.vmm.cleanup();
      process.exit(0);
    };
    process.on('SIGTERM', stop);
    process.on('SIGINT', stop);
    // Whatever ends the process, the guest must not outlive its VMM.
    process.on('exit', () => {
      fake.vmm.shutdown();
      fake.vmm.cleanup();
    });
  } catch (err) {
    // Firecracker exits with the generic error code (1) for either failure.
    if (err instanceof StartupError) process.stderr.write(`Error: ${err.message}\n`);
    else process.stderr.write(`Error: FailedToBindSocket(${(err as NodeJS.ErrnoException).code ?? err}) on ${apiSock}\n`);
    process.exit(1);
  }
}
