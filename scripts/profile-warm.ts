/**
 * Where the daemon's share of a warm invocation goes: the warm benchmark's load (scripts/bench/
 * warm.ts: the hello fixture, minWarm 1, a closed loop of 32 keep-alive connections) against a
 * daemon started with `--cpu-prof` and `--trace-gc`, then
 *  - CPU per request of the daemon and of the instance, apart (from /proc, as the benchmark does);
 *  - the bytes the daemon allocates per request (heap growth between collections, from --trace-gc);
 *  - the daemon's CPU profile: self time by function and by part of the path (Node's HTTP server,
 *    undici, each platform source file through the build's source maps, GC);
 *  - with --perf, perf's on-CPU samples instead of V8's profiler; with --strace, the daemon's
 *    system calls per request instead of a profile.
 *
 *   npm run build && node --import tsx scripts/profile-warm.ts [--seconds=10] [--connections=32] [--perf [--instance] | --strace | --plain] [--out=<dir>]
 *
 * The .cpuprofile is kept in the output directory (open it in Chrome's DevTools) next to a JSON
 * summary. One daemon, one run: the figures spread from run to run on a shared host, so compare
 * runs made back to back.
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { SourceMap, type SourceMapPayload } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { closedLoop } from './bench/lib/load.ts';
import { cpuMsOf, processTree } from './bench/lib/procs.ts';
import { bundleHello, deployCode, fnTarget, instances } from './bench/lib/servers.ts';
import { CLI, ROOT } from '../test/support/daemon.ts';

const arg = (name: string, dflt: string) => process.argv.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3) ?? dflt;
const seconds = Number(arg('seconds', '10'));
const connections = Number(arg('connections', '32'));
/**
 * Samples the daemon with `perf record -e cpu-clock` instead of V8's profiler: on-CPU time only,
 * kernel included (V8's profiler samples wall time, so a thread preempted inside a syscall is
 * charged to that syscall).
 */
const usePerf = process.argv.includes('--perf');
/** Also counts the daemon's system calls per request (`strace -c`; slows the daemon, not the counts). */
const useStrace = process.argv.includes('--strace');
/**
 * No profiler at all: the CPU and allocation per request alone, as the benchmark would see them,
 * for comparing two builds run back to back (a profiler's own cost would blur the difference).
 */
const plain = process.argv.includes('--plain');
/**
 * With --perf: samples the instance (the agent's Node process) instead of the daemon. Its JIT
 * frames stay unnamed (the driver starts the agent without a perf map); the split between the
 * kernel, Node's C++, V8's builtins and JIT code is what it shows.
 */
const perfInstance = process.argv.includes('--instance');
const outDir = path.resolve(arg('out', mkdtempSync(path.join(os.tmpdir(), 'ignition-profile-'))));
mkdirSync(outDir, { recursive: true });

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number; columnNumber: number };
  children?: number[];
}
interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
  startTime: number;
}

/** The part of the path a frame belongs to, by its script. */
function partOf(url: string, fn: string): string {
  if (fn === '(garbage collector)') return 'GC';
  if (fn === '(idle)' || fn === '(program)') return fn;
  if (url.includes('undici')) return 'undici (agent connection)';
  if (url.startsWith('node:internal/http') || url === 'node:_http_server' || url.startsWith('node:_http')) return 'node:http';
  if (url.startsWith('node:internal/streams') || url === 'node:stream') return 'node streams';
  if (url.startsWith('node:net') || url === 'node:net' || url.startsWith('node:internal/stream_base')) return 'node:net, sockets';
  if (url.startsWith('node:')) return 'node, other';
  if (url === '') return fn.startsWith('(') ? fn : 'native';
  return 'other';
}

const maps = new Map<string, SourceMap | null>();

/** The source file a frame of the built daemon (dist/) comes from, by the chunk's source map. */
function sourceOf(url: string, line: number, column: number): string | undefined {
  if (!url.includes('/dist/')) return undefined;
  let map = maps.get(url);
  if (map === undefined) {
    try {
      map = new SourceMap(JSON.parse(readFileSync(`${fileURLToPath(url)}.map`, 'utf8')) as SourceMapPayload);
    } catch {
      map = null;
    }
    maps.set(url, map);
  }
  const entry = map?.findEntry(line, column) as { originalSource?: string } | undefined;
  const src = entry?.originalSource;
  if (!src) return undefined;
  const nm = src.lastIndexOf('node_modules/');
  if (nm !== -1) return src.slice(nm + 'node_modules/'.length).split('/')[0];
  return src.replace(/^.*?\/(platform|agent|runtime)\//, '$1/');
}

async function main() {
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'ignition-profile-data-'));
  const profDir = path.join(outDir, 'cpuprofile');
  mkdirSync(profDir, { recursive: true });
  // NODE_OPTIONS is not passed on: only the daemon's own process is profiled.
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    IGNITION_DATA_DIR: dataDir,
    IGNITION_LISTEN: '127.0.0.1:0',
    IGNITION_LOG_LEVEL: 'warn',
    IGNITION_NETWORK: 'off',
  };
  delete env.NODE_OPTIONS;
  const child = spawn(
    process.execPath,
    [
      ...(usePerf ? ['--perf-basic-prof-only-functions'] : useStrace || plain ? [] : ['--cpu-prof', '--cpu-prof-interval=250', `--cpu-prof-dir=${profDir}`]),
      '--trace-gc',
      CLI,
      'daemon',
    ],
    { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let out = '';
  child.stdout.on('data', (d) => (out += d));
  child.stderr.on('data', (d) => (out += d));
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  const url = await new Promise<string>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`daemon did not start:\n${out}`)), 30_000);
    const poll = setInterval(() => {
      const m = /Ignition daemon on (http:\/\/[^\s]+)/.exec(out);
      if (m) {
        clearTimeout(t);
        clearInterval(poll);
        resolve(m[1]);
      }
    }, 20);
  });
  const d = { url, auth: () => ({ authorization: `Bearer ${readFileSync(path.join(dataDir, 'admin.token'), 'utf8').trim()}` }) };
  try {
    const bundle = await bundleHello();
    await deployCode(d, 'bench-warm', bundle.code, bundle.map, { minWarm: 1 });
    const target = fnTarget(url, 'bench-warm');
    await closedLoop(target, { connections, durationMs: 2000, warmupMs: 0 });
    const inst = await instances(d, 'bench-warm');
    const instPids = inst.flatMap((i) => (i.pid ? processTree(i.pid) : []));
    const daemonPid = child.pid!;
    const cpu0 = { daemon: cpuMsOf([daemonPid]), instance: cpuMsOf(instPids) };
    const gcFrom = out.length;
    // The profile's clock is the monotonic one (µs), as hrtime's: only the measured window counts.
    const windowUs = { from: Number(process.hrtime.bigint() / 1000n), to: 0 };
    const perfData = path.join(outDir, 'perf.data');
    const perf = usePerf
      ? spawn('perf', ['record', '-q', '-e', 'cpu-clock', '-F', '4000', '-o', perfData, '-p', String(perfInstance ? instPids.at(-1) : daemonPid)], {
          stdio: 'ignore',
        })
      : undefined;
    const perfDone = perf ? new Promise<void>((r) => perf.once('exit', () => r())) : undefined;
    const straceOut = path.join(outDir, 'strace.txt');
    const strace = useStrace ? spawn('strace', ['-c', '-f', '-o', straceOut, '-p', String(daemonPid)], { stdio: 'ignore' }) : undefined;
    const straceDone = strace ? new Promise<void>((r) => strace.once('exit', () => r())) : undefined;
    const res = await closedLoop(target, { connections, durationMs: seconds * 1000, warmupMs: 0 });
    windowUs.to = Number(process.hrtime.bigint() / 1000n);
    perf?.kill('SIGINT');
    await perfDone;
    strace?.kill('SIGINT');
    await straceDone;
    const gcLog = out.slice(gcFrom);
    const cpu = { daemon: cpuMsOf([daemonPid]) - cpu0.daemon, instance: cpuMsOf(instPids) - cpu0.instance };
    const perReq = (ms: number) => (ms * 1000) / (res.requests + res.errors);
    const allocated = allocatedBytes(gcLog);
    const summary = {
      requests: res.requests,
      errors: res.errors,
      rps: Math.round(res.rps),
      cpuUsPerRequest: { daemon: Math.round(perReq(cpu.daemon)), instance: Math.round(perReq(cpu.instance)) },
      daemonAllocatedBytesPerRequest: Math.round(allocated.bytes / (res.requests + res.errors)),
      daemonCollections: allocated.collections,
    };
    child.kill('SIGTERM');
    await exited;
    console.log(JSON.stringify(summary));
    if (useStrace) {
      console.log('\ndaemon system calls per request (strace -c, all threads):');
      for (const m of readFileSync(straceOut, 'utf8').matchAll(/^\s*[\d.]+\s+[\d.]+\s+\d+\s+(\d+)\s+(?:\d+\s+)?(\w+)$/gm)) {
        const per = Number(m[1]) / (res.requests + res.errors);
        if (per >= 0.05) console.log(`  ${per.toFixed(2).padStart(6)}  ${m[2]}`);
      }
    }
    if (plain) writeFileSync(path.join(outDir, 'summary.json'), JSON.stringify(summary, null, 2));
    if (useStrace || plain) return;
    const parts = usePerf ? perfParts(perfData) : profileParts(profDir, daemonPid, windowUs);
    writeFileSync(path.join(outDir, 'summary.json'), JSON.stringify({ ...summary, ...parts }, null, 2));
    console.log(`\n${perfInstance ? 'instance' : 'daemon'} self time by part (% of ${usePerf ? 'on-CPU' : 'busy'} samples):`);
    for (const [k, v] of parts.parts) console.log(`  ${v.toFixed(1).padStart(5)}%  ${k}`);
    console.log(`\n${perfInstance ? 'instance' : 'daemon'} self time by function (top 40):`);
    for (const [k, v] of parts.functions.slice(0, 40)) console.log(`  ${v.toFixed(1).padStart(5)}%  ${k}`);
    console.log(`\nprofile and summary in ${outDir}`);
  } finally {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    await exited;
    rmSync(dataDir, { recursive: true, force: true });
  }
}

function profileParts(profDir: string, pid: number, window: { from: number; to: number }) {
  const file = readdirSync(profDir).find((f) => f.includes(`.${pid}.`) && f.endsWith('.cpuprofile'));
  if (!file) throw new Error(`no CPU profile of the daemon in ${profDir}`);
  return selfTimes(JSON.parse(readFileSync(path.join(profDir, file), 'utf8')) as Profile, window);
}

/** perf's samples by symbol, grouped: the kernel, node's C++ and V8's builtins, and JIT code by source file. */
function perfParts(perfData: string): { parts: Array<[string, number]>; functions: Array<[string, number]> } {
  const r = spawnSync('perf', ['report', '-i', perfData, '--stdio', '--no-children', '-g', 'none', '--percent-limit', '0', '--sort', 'dso,sym'], {
    encoding: 'utf8',
    maxBuffer: 256 << 20,
  });
  const parts = new Map<string, number>();
  const functions: Array<[string, number]> = [];
  for (const line of r.stdout.split('\n')) {
    const m = /^\s+([\d.]+)%\s+(\S+(?: tid \d+)?)\s+\[(.)\] (.*)$/.exec(line);
    if (!m) continue;
    const pct = Number(m[1]);
    const [dso, sym] = [m[2], m[4].trim()];
    let part: string;
    if (dso.startsWith('[kernel')) part = 'kernel';
    else if (dso === 'node') part = sym.startsWith('Builtins_') ? 'V8 builtins' : 'node C++ and V8 runtime';
    else if (dso.startsWith('[JIT]')) {
      const js = /(?:JS|Function):[*~^+]?\S* (file:\/\/\S+|node:\S+):(\d+):(\d+)/.exec(sym);
      if (sym.includes('wasm')) part = 'undici';
      else if (js?.[1].startsWith('node:'))
        part = js[1].startsWith('node:internal/streams') ? 'node streams' : js[1].includes('http') ? 'node:http' : 'node, other';
      else if (js) part = sourceOf(js[1], Number(js[2]) - 1, Number(js[3]) - 1) ?? 'JIT, other';
      else part = 'JIT, other';
    } else part = dso;
    parts.set(part, (parts.get(part) ?? 0) + pct);
    functions.push([`${sym.replace(/file:\/\/\S*\/(dist|node_modules)\//, '$1/')} (${dso})`, pct]);
  }
  return { parts: [...parts].sort((a, b) => b[1] - a[1]), functions: functions.sort((a, b) => b[1] - a[1]) };
}

/** Heap growth between collections, summed: what the program allocated while the log ran. */
function allocatedBytes(log: string): { bytes: number; collections: number } {
  const re = /(Scavenge|Mark-Compact|Mark-sweep)[^\d]*([\d.]+) \(([\d.]+)\) -> ([\d.]+) \(([\d.]+)\) MB/g;
  let bytes = 0;
  let last: number | undefined;
  let collections = 0;
  for (const m of log.matchAll(re)) {
    const before = Number(m[2]);
    const after = Number(m[4]);
    if (last !== undefined && before > last) bytes += (before - last) * 1024 * 1024;
    last = after;
    collections++;
  }
  return { bytes, collections };
}

/** Self time per function and per part of the path, as shares of the samples that were not idle. */
function selfTimes(prof: Profile, window: { from: number; to: number }): { parts: Array<[string, number]>; functions: Array<[string, number]> } {
  const byId = new Map(prof.nodes.map((n) => [n.id, n]));
  const fns = new Map<string, number>();
  const parts = new Map<string, number>();
  let busy = 0;
  let t = prof.startTime;
  for (let i = 0; i < prof.samples.length; i++) {
    t += prof.timeDeltas[i];
    if (t < window.from || t > window.to) continue;
    const n = byId.get(prof.samples[i])!;
    const { functionName, url, lineNumber } = n.callFrame;
    if (functionName === '(idle)') continue;
    busy++;
    const key = `${functionName || '(anonymous)'} ${url.replace(/^.*\/(dist|node_modules)\//, '$1/')}:${lineNumber + 1}`;
    fns.set(key, (fns.get(key) ?? 0) + 1);
    const part = sourceOf(url, lineNumber, n.callFrame.columnNumber) ?? partOf(url, functionName);
    parts.set(part, (parts.get(part) ?? 0) + 1);
  }
  const pct = (m: Map<string, number>) => [...m].map(([k, v]): [string, number] => [k, (100 * v) / busy]).sort((a, b) => b[1] - a[1]);
  return { parts: pct(parts), functions: pct(fns) };
}

await main();
