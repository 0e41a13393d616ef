/**
 * Holds the driver's API types and the fake Firecracker to Firecracker 1.16.1's API, as recorded
 * in api-facts.ts, so that neither certifies itself:
 *  - platform/vmm/firecracker/api/types.ts is read with the TypeScript compiler: every body has
 *    the same fields, the same required ones, the same kinds and exactly the same string values;
 *  - the fake is driven with requests derived from the facts: a missing required field, a value of
 *    the wrong kind, an unknown string value (or one only another version takes) and, for closed
 *    bodies, an unknown key (or one only 1.17 has) are refused while parsing; every listed value
 *    and, for open bodies, an unknown key get past parsing;
 *    post-boot endpoints are refused before boot; its answers have the recorded shape; the fault
 *    texts and file behaviours recorded there hold.
 * A failure lists every disagreement at once.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import ts from 'typescript';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { startFake, type FakeOptions } from '../fakes/firecracker/server.ts';
import { BODIES, ENDPOINTS, FAULTS, FILES, FIRECRACKER_VERSION, type Body, type Endpoint, type Field, type Kind } from './api-facts.ts';
import { rawExchange, repoRoot, request, responses } from './support.ts';

const TYPES_FILE = path.join(repoRoot, 'platform/vmm/firecracker/api/types.ts');
const bodies: Record<string, Body> = BODIES;

// ---- api/types.ts, through the compiler ----

interface Seen {
  kind: Kind | string;
  required: boolean;
  values?: string[];
  /** The named type of an object field, or of an array field's elements. */
  ref?: string;
}

function describeType(checker: ts.TypeChecker, t: ts.Type, required: boolean): Seen {
  const literals = t.isUnion() ? t.types : [t];
  if (literals.every((u) => u.isStringLiteral())) {
    return { kind: 'string', required, values: literals.map((u) => (u as ts.StringLiteralType).value).sort() };
  }
  if (t.flags & ts.TypeFlags.String) return { kind: 'string', required };
  if (t.flags & ts.TypeFlags.BooleanLike) return { kind: 'boolean', required };
  // TypeScript has no integer type: a number stands for the description's integer.
  if (t.flags & ts.TypeFlags.NumberLike) return { kind: 'integer', required };
  if (checker.isArrayType(t)) {
    const item = checker.getTypeArguments(t as ts.TypeReference)[0];
    return { kind: 'array', required, ref: item?.aliasSymbol?.name ?? item?.getSymbol()?.name };
  }
  if (t.flags & ts.TypeFlags.Object) return { kind: 'object', required, ref: t.aliasSymbol?.name ?? t.getSymbol()?.name };
  return { kind: checker.typeToString(t), required };
}

/** Every exported interface and type alias of types.ts, as field name → what it declares. */
function readTypesFile(): Map<string, Map<string, Seen>> {
  const program = ts.createProgram([TYPES_FILE], { strict: true, noEmit: true, target: ts.ScriptTarget.ES2022, skipLibCheck: true, types: [] });
  const checker = program.getTypeChecker();
  const source = program.getSourceFile(TYPES_FILE)!;
  const out = new Map<string, Map<string, Seen>>();
  for (const sym of checker.getExportsOfModule(checker.getSymbolAtLocation(source)!)) {
    if (!(sym.flags & (ts.SymbolFlags.Interface | ts.SymbolFlags.TypeAlias))) continue;
    const fields = new Map<string, Seen>();
    for (const prop of checker.getPropertiesOfType(checker.getDeclaredTypeOfSymbol(sym))) {
      const type = checker.getNonNullableType(checker.getTypeOfSymbol(prop));
      fields.set(prop.name, describeType(checker, type, !(prop.flags & ts.SymbolFlags.Optional)));
    }
    out.set(sym.name, fields);
  }
  return out;
}

function compareBody(name: string, body: Body, declared: Map<string, Seen> | undefined): string[] {
  const where = `${body.ts} (${name})`;
  if (!declared) return [`${where}: not exported by api/types.ts`];
  const out: string[] = [];
  for (const key of declared.keys()) if (!(key in body.fields)) out.push(`${where}.${key}: not in Firecracker ${FIRECRACKER_VERSION}`);
  for (const [key, f] of Object.entries(body.fields)) {
    const seen = declared.get(key);
    if (!seen) {
      out.push(`${where}.${key}: missing`);
      continue;
    }
    if (seen.required !== f.required)
      out.push(`${where}.${key}: ${seen.required ? 'required' : 'optional'}, ${FIRECRACKER_VERSION} has it ${f.required ? 'required' : 'optional'}`);
    if (seen.kind !== f.kind) out.push(`${where}.${key}: ${seen.kind}, ${FIRECRACKER_VERSION} has ${f.kind}`);
    const want = f.oneOf ? [...f.oneOf].sort() : undefined;
    if (JSON.stringify(seen.values) !== JSON.stringify(want)) {
      out.push(`${where}.${key}: values ${seen.values?.join('|') ?? '(any string)'}, ${FIRECRACKER_VERSION} has ${want?.join('|') ?? '(any string)'}`);
    }
    if (f.body && seen.ref !== bodies[f.body]!.ts) out.push(`${where}.${key}: of type ${seen.ref}, expected ${bodies[f.body]!.ts}`);
  }
  return out;
}

test('the facts table is whole: every nested body it names is in it', () => {
  const dangling = Object.entries(bodies).flatMap(([name, b]) =>
    Object.entries(b.fields)
      .filter(([, f]) => f.body !== undefined && !(f.body in bodies))
      .map(([k, f]) => `${name}.${k} → ${f.body}`),
  );
  assert.equal(dangling, []);
});

test(`api/types.ts declares every body as Firecracker ${FIRECRACKER_VERSION} defines it`, () => {
  const declared = readTypesFile();
  const problems = Object.entries(bodies).flatMap(([name, body]) => compareBody(name, body, declared.get(body.ts)));
  assert.equal(problems, []);
});

// ---- the fake, through requests ----

interface Answer {
  status: number;
  fault?: string;
  json?: Record<string, unknown>;
}

/** One fake per exchange: no request's effects can reach another's. */
async function withFake<T>(
  fn: (ask: (method: string, p: string, body?: unknown) => Promise<Answer>, dir: string) => Promise<T>,
  extra: Partial<FakeOptions> = {},
): Promise<T> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'fcfacts-'));
  const sock = path.join(dir, 'api.sock');
  const fake = await startFake({ apiSock: sock, cwd: dir, exit: () => undefined, ...extra });
  const ask = async (method: string, p: string, body?: unknown): Promise<Answer> => {
    const raw = await rawExchange(sock, request(method, p, body === undefined ? undefined : JSON.stringify(body)), responses(1));
    const status = Number(/^HTTP\/1\.1 (\d+)/.exec(raw)?.[1]);
    const text = raw.slice(raw.indexOf('\r\n\r\n') + 4);
    const json = text ? (JSON.parse(text) as Record<string, unknown>) : undefined;
    return { status, json, fault: typeof json?.fault_message === 'string' ? json.fault_message : undefined };
  };
  try {
    return await fn(ask, dir);
  } finally {
    await fake.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Values the fake can act on where a field's name calls for one; anything else gets a plain value. */
const VALUES: Record<string, unknown> = {
  kernel_image_path: 'vmlinux',
  path_on_host: 'disk.img',
  drive_id: 'rootfs',
  iface_id: 'eth0',
  host_dev_name: 'tap0',
  uds_path: 'v.sock',
  metrics_path: 'metrics.json',
  snapshot_path: 'vmstate',
  mem_file_path: 'memory',
  backend_path: 'memory',
  guest_cid: 3,
  mem_size_mib: 128,
  size: 1024,
  refill_time: 100,
};
/** A load needs one memory source, a rule across fields that a per-field sample cannot know. */
const EXTRA: Record<string, () => Record<string, unknown>> = { SnapshotLoadParams: () => ({ mem_backend: sample('MemoryBackend') }) };
const PLAIN: Record<Kind, unknown> = { string: 'x', boolean: false, integer: 1, object: {}, array: [] };
const WRONG: Record<Kind, unknown> = { string: 7, boolean: 'yes', integer: 'many', object: 'x', array: 'x' };

function value(key: string, f: Field): unknown {
  if (key in VALUES) return VALUES[key];
  if (f.oneOf) return f.oneOf[0];
  if (f.body) return f.kind === 'array' ? [sample(f.body)] : sample(f.body);
  return PLAIN[f.kind];
}

/** The smallest body that parses: its required fields, plus what EXTRA adds. */
function sample(name: string): Record<string, unknown> {
  const fields = Object.entries(bodies[name]!.fields).filter(([, f]) => f.required);
  return { ...Object.fromEntries(fields.map(([k, f]) => [k, value(k, f)])), ...EXTRA[name]?.() };
}

const OMIT = Symbol('omit');

/** A copy of `base` with the value at `at` replaced (or removed). */
function setAt(base: Record<string, unknown>, at: (string | number)[], v: unknown): Record<string, unknown> {
  const copy = structuredClone(base);
  let node: any = copy;
  for (const step of at.slice(0, -1)) node = node[step];
  const last = at.at(-1)!;
  if (v === OMIT) delete node[last];
  else node[last] = v;
  return copy;
}

interface Case {
  what: string;
  body: Record<string, unknown>;
  parses: boolean;
}

/** Requests that must fail or pass parsing, for a body and every body nested in it. */
function cases(name: string, base = sample(name), at: (string | number)[] = []): Case[] {
  const body = bodies[name]!;
  const out: Case[] = [];
  const label = (key: string) => [...at, key].join('.');
  for (const [key, f] of Object.entries(body.fields)) {
    const p = [...at, key];
    if (f.required) out.push({ what: `${label(key)} missing`, body: setAt(base, p, OMIT), parses: false });
    out.push({ what: `${label(key)} of the wrong kind`, body: setAt(base, p, WRONG[f.kind]), parses: false });
    for (const v of [...(f.oneOf ?? []), ...(f.alsoAccepted ?? [])]) out.push({ what: `${label(key)} = ${v}`, body: setAt(base, p, v), parses: true });
    for (const v of f.oneOf ? ['Bogus', ...(f.refuses ?? [])] : []) out.push({ what: `${label(key)} = ${v}`, body: setAt(base, p, v), parses: false });
    if (f.body) {
      const inner = f.kind === 'array' ? [...p, 0] : p;
      out.push(...cases(f.body, setAt(base, p, value(key, { ...f, required: true })), inner));
    }
  }
  for (const [key, v] of Object.entries({ no_such_field: 1, ...body.later })) {
    out.push({ what: `${label(key)} (${body.closed ? 'closed' : 'open'} body)`, body: setAt(base, [...at, key], v), parses: !body.closed });
  }
  return out;
}

const pathOf = (ep: Endpoint) => (ep.id ? ep.path.replace('{id}', String(sample(ep.body)[ep.id])) : ep.path);
const refusedWhileParsing = (a: Answer) => a.status === 400 && (a.fault?.startsWith(FAULTS.parsePrefix) ?? false);

for (const ep of ENDPOINTS.filter((e) => e.method !== 'GET')) {
  test(`fake: ${ep.method} ${ep.path} parses its body as ${FIRECRACKER_VERSION} does`, async () => {
    const problems: string[] = [];
    for (const c of cases(ep.body)) {
      const a = await withFake((ask) => ask(ep.method, pathOf(ep), c.body));
      if (refusedWhileParsing(a) === c.parses) problems.push(`${c.what}: ${c.parses ? 'refused' : 'accepted'} (${a.status} ${a.fault ?? ''})`);
    }
    assert.equal(problems, []);
  });
}

test('fake: post-boot endpoints are refused before boot', async () => {
  const problems: string[] = [];
  for (const ep of ENDPOINTS.filter((e) => e.phase === 'after')) {
    const body = sample(ep.body);
    const a = await withFake((ask) => ask(ep.method, pathOf(ep), body));
    if (a.fault !== FAULTS.notBeforeBoot) problems.push(`${ep.method} ${ep.path}: ${a.status} ${a.fault ?? ''}`);
  }
  assert.equal(problems, []);
});

test('fake: answers have the recorded shape', async () => {
  const problems: string[] = [];
  await withFake(async (ask) => {
    for (const ep of ENDPOINTS.filter((e) => e.method === 'GET')) {
      const a = await ask('GET', ep.path);
      for (const [key, f] of Object.entries(bodies[ep.body]!.fields)) {
        const v = a.json?.[key];
        if (v === undefined) {
          if (f.required) problems.push(`${ep.path}: no ${key}`);
        } else if (f.oneOf && !f.oneOf.includes(String(v))) problems.push(`${ep.path}: ${key} = ${String(v)}`);
      }
      for (const key of Object.keys(a.json ?? {})) if (!(key in bodies[ep.body]!.fields)) problems.push(`${ep.path}: unexpected ${key}`);
    }
    const version = await ask('GET', '/version');
    if (version.json?.firecracker_version !== FIRECRACKER_VERSION) problems.push(`/version: ${String(version.json?.firecracker_version)}`);
  });
  assert.equal(problems, []);
});

test('fake: machine-config faults carry 1.16.1 texts', async () => {
  const faults = await withFake(async (ask) => [
    (await ask('PUT', '/machine-config', { vcpu_count: 0, mem_size_mib: 128 })).fault,
    (await ask('PUT', '/machine-config', { vcpu_count: 33, mem_size_mib: 128 })).fault,
    (await ask('PUT', '/machine-config', { vcpu_count: 3, mem_size_mib: 128, smt: true })).fault,
    (await ask('PUT', '/machine-config', { vcpu_count: 1, mem_size_mib: 0 })).fault,
    (await ask('PUT', '/machine-config', { vcpu_count: 1, mem_size_mib: 129, huge_pages: '2M' })).fault,
  ]);
  assert.equal(faults, [FAULTS.vcpuCount, FAULTS.vcpuCount, FAULTS.vcpuCount, FAULTS.memorySize, FAULTS.memorySize]);
});

test('fake: a load after a boot resource is refused with 1.16.1 text', async () => {
  const fault = await withFake(async (ask) => {
    await ask('PUT', '/machine-config', { vcpu_count: 1, mem_size_mib: 128 });
    return (await ask('PUT', '/snapshot/load', sample('SnapshotLoadParams'))).fault;
  });
  assert.is(fault, FAULTS.loadAfterBootResource);
});

test('fake: PUT /logger is repeatable and creates its file; one that cannot be opened is refused', async () => {
  assert.ok(FILES.logger.repeatable && FILES.logger.createsMissingFile);
  await withFake(async (ask, dir) => {
    assert.is((await ask('PUT', '/logger', { log_path: 'first.log', level: 'Info' })).status, 204);
    assert.ok(existsSync(path.join(dir, 'first.log')));
    assert.is((await ask('PUT', '/logger', { log_path: 'second.log', level: 'debug', show_level: true })).status, 204);
    // Lines now go to the second file only.
    await ask('GET', '/version');
    assert.match(readFileSync(path.join(dir, 'second.log'), 'utf8'), /:INFO\] The API server received a Get request on "\/version"/);
    assert.not.match(readFileSync(path.join(dir, 'first.log'), 'utf8'), /\/version/);
    const missing = await ask('PUT', '/logger', { log_path: 'no-such-dir/fc.log' });
    assert.is(missing.fault, `${FAULTS.loggerOpen}No such file or directory (os error 2)`);
  });
});

test('fake: --log-path and --metrics-path files are created at start-up', async () => {
  await withFake(
    async (_ask, dir) => {
      assert.ok(existsSync(path.join(dir, 'fc.log')));
      assert.ok(existsSync(path.join(dir, 'metrics.json')));
      assert.match(readFileSync(path.join(dir, 'fc.log'), 'utf8'), /Running Firecracker v1\.16\.1/);
    },
    { logPath: 'fc.log', metricsPath: 'metrics.json' },
  );
});

test('fake: PUT /metrics creates its file once; a second one is refused', async () => {
  assert.ok(!FILES.metrics.repeatable && FILES.metrics.createsMissingFile);
  await withFake(async (ask, dir) => {
    assert.is((await ask('PUT', '/metrics', { metrics_path: 'm.json' })).status, 204);
    assert.ok(existsSync(path.join(dir, 'm.json')));
    assert.is((await ask('PUT', '/metrics', { metrics_path: 'm2.json' })).fault, FAULTS.metricsAgain);
  });
});

test.run();
