/**
 * The web console in a real browser (chromium through playwright-core) against a real daemon,
 * one signed-in session walked through every page:
 *   - sign in through the link `ignition console --url` prints (the cookie's attributes, a spent
 *     link), and be refused without a session; invoke tokens get no link;
 *   - functions: a deployed function with its version, aliases and weights, instances, rates,
 *     latencies, cold starts, and charts of requests, errors and latency that follow invocations;
 *   - a function: versions with settings, env and secret names (never values), cron triggers,
 *     async invocations, logs followed live and filtered by invocation and level;
 *   - alias weights edited through a confirmation, weights that do not sum to 100 refused with
 *     the REST API's code, a rollback through its confirmation, a change without the CSRF token
 *     or with another session's refused;
 *   - three clicks from the functions page to a failing invocation's log lines;
 *   - machines: `vm ps`, inspect, stop through a confirmation; snapshots: lineage, GC, verify;
 *   - error pages with codes, keyboard use, a phone's width and the dark theme, sign out.
 * Along the way: no page or script holds the admin token and nothing is put in web storage.
 * Screenshots of each page go to docs/console/ with CONSOLE_SCREENSHOTS=1.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { request } from 'undici';
import type { Browser, BrowserContext, Page, Response as PageResponse } from 'playwright-core';
import { deploy, FIXTURES, ROOT, startTestDaemon, type TestDaemon } from '../support/daemon.ts';
import { lack, skipUnless } from '../support/skip.ts';

const CHROMIUM = '/usr/bin/chromium';
// The screenshots in docs/console are this test's: written there with CONSOLE_SCREENSHOTS=1
// (CONSOLE_SCREENSHOTS=1 node --import tsx test/e2e/console.test.ts), to a scratch directory
// otherwise, so an ordinary run leaves the checkout as it was.
const SHOTS = process.env.CONSOLE_SCREENSHOTS === '1' ? path.join(ROOT, 'docs', 'console') : mkdtempSync(path.join(os.tmpdir(), 'ign-console-shots-'));
const it = skipUnless(existsSync(CHROMIUM) ? null : lack(`no browser at ${CHROMIUM}`, 'apt-get install -y chromium'));

let d: TestDaemon;
let browser: Browser;
let adminToken: string;
let vmId: string;
// The signed-in session the tests after the sign-in share, in order.
let context: BrowserContext;
let page: Page;
let bodies: string[];
let cookieValue: string;

test.before(async () => {
  if (!existsSync(CHROMIUM)) return;
  d = await startTestDaemon();
  adminToken = readFileSync(path.join(d.dataDir, 'admin.token'), 'utf8').trim();
  await deploy(d, path.join(FIXTURES, 'echo'), ['--name', 'hello', '--env', 'GREETING=one']);
  await deploy(d, path.join(FIXTURES, 'echo'), ['--name', 'hello', '--env', 'GREETING=two']);
  await deploy(d, path.join(FIXTURES, 'fails-on-path'), ['--name', 'shop']);
  for (const args of [
    ['secret', 'set', 'hello', 'API_KEY', 'sekrit-value'],
    ['cron', 'add', 'hello', '*/5 * * * *', '--path', '/tick'],
  ]) {
    const r = await d.cli(args);
    assert.is(r.code, 0, r.stderr);
  }
  const vm = await d.cli(['vm', 'run', '--name', 'box', '--memory', '192']);
  assert.is(vm.code, 0, vm.stderr);
  vmId = vm.stdout.trim();
  const { chromium } = await import('playwright-core');
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
  mkdirSync(SHOTS, { recursive: true });
});
test.after(async () => {
  await browser?.close();
  await d?.stop();
  if (process.env.CONSOLE_SCREENSHOTS !== '1') rmSync(SHOTS, { recursive: true, force: true });
});

async function loginLink(): Promise<string> {
  const r = await d.cli(['console', '--url']);
  assert.is(r.code, 0, r.stderr);
  const url = r.stdout.trim();
  assert.match(url, new RegExp(`^${d.url}/console/login\\?t=[A-Za-z0-9_-]{43}$`));
  return url;
}

/** Every console response body the browser received, to look for the admin token in. */
function recordBodies(p: Page): string[] {
  const out: string[] = [];
  p.on('response', (res) => {
    if (!res.url().startsWith(`${d.url}/console`) || res.url().includes('/logs')) return;
    res
      .text()
      .then((t) => out.push(t))
      .catch(() => {});
  });
  return out;
}

async function noStorage(p: Page): Promise<void> {
  const n = await p.evaluate(() => localStorage.length + sessionStorage.length);
  assert.is(n, 0, `nothing is put in web storage (${p.url()})`);
}

const shot = (p: Page, name: string, fullPage = true) => p.screenshot({ path: path.join(SHOTS, `${name}.png`), fullPage });

/** Invokes a function and returns the request id its answer carries (its log lines' invocation id). */
async function invoke(target: string): Promise<{ status: number; id: string }> {
  const res = await request(`${d.url}/fn/${target}`);
  await res.body.dump();
  return { status: res.statusCode, id: String(res.headers['x-request-id']) };
}

/**
 * Waits until an invocation's log lines hold one with `text`. A function's lines reach the daemon on
 * its output stream, which can trail the HTTP answer by a moment: a page rendered before they are
 * stored would not show them (without Follow), and that lag is not what these tests are about.
 */
async function logged(fn: string, invocation: string, text: string): Promise<void> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const res = await request(`${d.url}/v1/functions/${fn}/logs?invocation=${invocation}`, { headers: d.auth() });
    const { logs } = (await res.body.json()) as { logs: Array<{ message: string }> };
    if (logs.some((l) => l.message.includes(text))) return;
    if (Date.now() > deadline) assert.unreachable(`no log line of ${invocation} with ${JSON.stringify(text)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Clicks and waits for the navigation it starts; returns its response. */
async function follow(p: Page, click: () => Promise<void>): Promise<PageResponse> {
  const [res] = await Promise.all([p.waitForNavigation(), click()]);
  assert.ok(res, `a navigation from ${p.url()}`);
  return res;
}

/** The code an HTML error page names. */
const codeOn = (p: Page) => p.locator('main [data-code]').first().innerText();

it('without a session every console route is refused, and invoke tokens get no link', async () => {
  for (const route of ['/console/', '/console/invocations', '/console/machines', '/console/snapshots', '/console/functions/hello']) {
    const res = await request(`${d.url}${route}`);
    assert.is(res.statusCode, 401, route);
    assert.match(await res.body.text(), /console_session_required/);
  }
  const data = await request(`${d.url}/console/api/functions`);
  assert.is(data.statusCode, 401);
  assert.is(((await data.body.json()) as { code: string }).code, 'console_session_required');
  const forged = await request(`${d.url}/console/api/functions`, { headers: { cookie: 'ignition_console=not-a-session' } });
  assert.is(forged.statusCode, 401);
  await forged.body.dump();
  for (const change of ['/console/functions/hello/rollback', `/console/machines/${vmId}/stop`, '/console/snapshots/gc']) {
    const res = await request(`${d.url}${change}`, { method: 'POST', body: 'to=v1' });
    assert.is(res.statusCode, 401, change);
    await res.body.dump();
  }

  const made = await d.cli(['token', 'create', '--scope', 'invoke', '--json']);
  assert.is(made.code, 0, made.stderr);
  const invokeToken = (JSON.parse(made.stdout) as { token: string }).token;
  const refused = await request(`${d.url}/v1/console/login-links`, { method: 'POST', headers: { authorization: `Bearer ${invokeToken}` } });
  assert.is(refused.statusCode, 403);
  assert.is(((await refused.body.json()) as { code: string }).code, 'forbidden');
  const none = await request(`${d.url}/v1/console/login-links`, { method: 'POST' });
  assert.is(none.statusCode, 401);
  await none.body.dump();
});

it('signs in through the one-time link: an HttpOnly, SameSite=Strict cookie, the link spent', async () => {
  context = await browser.newContext({ viewport: { width: 1280, height: 900 }, colorScheme: 'light' });
  page = await context.newPage();
  bodies = recordBodies(page);
  const link = await loginLink();
  await page.goto(link);
  assert.is(page.url(), `${d.url}/console/`);
  const [cookie] = await context.cookies(d.url + '/console/');
  assert.ok(cookie, 'a session cookie was set');
  assert.is(cookie.name, 'ignition_console');
  assert.is(cookie.httpOnly, true);
  assert.is(cookie.sameSite, 'Strict');
  assert.is(cookie.path, '/console');
  assert.is(cookie.secure, false, 'plain HTTP here: Secure only over TLS');
  cookieValue = cookie.value;
  const again = await request(link, { maxRedirections: 0 } as object);
  assert.is(again.statusCode, 401);
  assert.match(await again.body.text(), /console_link_invalid/);
});

it('functions: versions, aliases and weights, instances, and charts of requests, errors and latency', async () => {
  const row = page.locator('tr[data-function="hello"]');
  await row.waitFor();
  const text = await row.innerText();
  assert.match(text, /hello\s+v2\s+latest → v2/);
  assert.match(text, /\d+ ready · \d+ busy · \d+ starting/);
  assert.match(text, new RegExp(`${d.url}/fn/hello/`));
  await noStorage(page);

  await page.waitForFunction(() => document.querySelectorAll('.chart canvas').length === 3);
  const total = (id: string) => page.locator(`#${id}`).getAttribute('data-total').then(Number);
  const before = { requests: await total('chart'), errors: await total('chart-errors') };
  for (let i = 0; i < 3; i++) assert.is((await invoke(`hello/chart-${i}`)).status, 200);
  assert.is((await invoke('shop/checkout')).status, 500);
  // The polled figures rise: requests and errors counted, a latency drawn, the rates in the row.
  await page.waitForFunction((n) => Number(document.getElementById('chart')!.dataset.total) >= n + 4, before.requests, { timeout: 15_000 });
  await page.waitForFunction((n) => Number(document.getElementById('chart-errors')!.dataset.total) >= n + 1, before.errors, { timeout: 15_000 });
  await page.waitForFunction(() => Number(document.getElementById('chart-latency')!.dataset.points) >= 1, undefined, { timeout: 15_000 });
  await page.waitForFunction(() => /ms|s$/.test(document.querySelector('tr[data-function="hello"] [data-field="p99"]')!.textContent!), undefined, {
    timeout: 15_000,
  });
  assert.match(await page.locator('tr[data-function="shop"] [data-field="errorRate"]').innerText(), /^[1-9]\d* %$/, 'shop failed one of its requests');
  assert.is.not(await page.locator('tr[data-function="hello"] [data-field="rps"]').innerText(), '0');
  await shot(page, 'functions');
});

it('a function: versions with settings, env and secret names, crons, async jobs, logs followed and filtered', async () => {
  const async = await request(`${d.url}/v1/functions/hello/invocations`, {
    method: 'POST',
    headers: { ...d.auth(), 'content-type': 'application/json' },
    body: JSON.stringify({ async: true, path: '/queued' }),
  });
  assert.is(async.statusCode, 202);
  const job = (await async.body.json()) as { id: string };

  // By keyboard: the function's link is focusable and Enter follows it.
  await page.goto(`${d.url}/console/`);
  await page.focus('tr[data-function="hello"] th a');
  await page.keyboard.press('Enter');
  await page.waitForURL(`${d.url}/console/functions/hello`);
  const versions = await page.locator('tr[data-version]').allInnerTexts();
  assert.is(versions.length, 2);
  assert.match(
    versions.find((v) => v.startsWith('v2'))!,
    /serving latest/,
  );
  assert.match(versions[0], /MiB · 2 s timeout/, 'settings: the echo fixture sets timeoutMs 2000');
  await page.locator('tr[data-version="2"] details summary').click();
  assert.match(await page.locator('tr[data-version="2"] details').innerText(), /maxBodyBytes\s+1024/);
  assert.match(await page.locator('[data-field="env"]').innerText(), /GREETING/);
  assert.match(await page.locator('[data-field="secrets"]').innerText(), /API_KEY/);
  const html = await page.content();
  assert.not.match(html, /GREETING=|"two"|sekrit-value/, 'env and secret values never reach the page');
  assert.match(await page.locator('tr[data-cron]').innerText(), /\*\/5 \* \* \* \*\s+GET \/tick\s+active/);
  await page.reload();
  await page.locator(`tr[data-job="${job.id}"]`).waitFor();
  assert.match(await page.locator(`tr[data-job="${job.id}"]`).innerText(), /async/);
  await page.waitForFunction(() => Number(document.getElementById('chart')!.dataset.total) >= 3, undefined, { timeout: 15_000 });

  await page.click('#follow');
  await page.locator('#follow[aria-pressed="true"]').waitFor();
  const live = await invoke('hello/followed-live');
  await page.locator('#logs li', { hasText: 'echo GET /followed-live' }).waitFor({ timeout: 10_000 });
  await page.click('#follow');
  await shot(page, 'function');

  // The invocation filter: only that invocation's lines.
  await page.fill('#invocation', live.id);
  await page.press('#invocation', 'Enter');
  await page.waitForURL(/invocation=/);
  const filtered = await page.locator('#logs li').allInnerTexts();
  assert.ok(filtered.length >= 1);
  for (const l of filtered) assert.ok(l.includes(live.id), `a line of another invocation: ${l}`);

  // The level filter: info lines go at "warnings and errors"; shop's warning and its error stay.
  const cart = await invoke('shop/cart');
  assert.is(cart.status, 200);
  await logged('shop', cart.id, 'served /cart');
  await page.goto(`${d.url}/console/functions/shop`);
  const all = await page.locator('#logs li .lvl').allInnerTexts();
  assert.ok(all.includes('info') && all.includes('warn'), `levels before filtering: ${all}`);
  await page.selectOption('#level', 'warn');
  await follow(page, () => page.click('#log-filter button[type="submit"]'));
  assert.match(page.url(), /level=warn/);
  const levels = await page.locator('#logs li .lvl').allInnerTexts();
  assert.ok(levels.length >= 2, `warn and error lines: ${levels}`);
  for (const l of levels) assert.ok(l === 'warn' || l === 'error', `a ${l} line at warn and above`);
  await noStorage(page);
});

it('alias weights: a sum other than 100 refused with the REST code, a split applied through the confirmation', async () => {
  await page.goto(`${d.url}/console/functions/hello`);
  await page.fill('#new-alias', 'canary');
  await follow(page, () => page.press('#new-alias', 'Enter'));
  assert.is(page.url(), `${d.url}/console/functions/hello/aliases/canary`);
  assert.match(await page.locator('h1').innerText(), /Set up the alias canary of hello/);
  await page.selectOption('#version-0', 'v2');
  await page.fill('#weight-0', '90');
  await page.selectOption('#version-1', 'v1');
  await page.fill('#weight-1', '20');
  const bad = await follow(page, () => page.click('button:has-text("Review")'));
  assert.is(bad.status(), 400);
  assert.match(await page.locator('#form-error').innerText(), /sum to 100 \(they sum to 110\)/);
  // The REST API's code for the same mistake.
  const rest = await request(`${d.url}/v1/functions/hello/aliases/canary`, {
    method: 'PUT',
    headers: { ...d.auth(), 'content-type': 'application/json' },
    body: JSON.stringify({
      routes: [
        { version: 2, weight: 90 },
        { version: 1, weight: 20 },
      ],
    }),
  });
  const restCode = ((await rest.body.json()) as { code: string }).code;
  assert.is(rest.statusCode, 400);
  assert.is(await codeOn(page), restCode);
  await shot(page, 'alias-edit');

  await page.fill('#weight-1', '10');
  await follow(page, () => page.click('button:has-text("Review")'));
  assert.match(await page.locator('h1').innerText(), /Route canary of hello to v2 90 % · v1 10 %\?/);
  await shot(page, 'alias-confirm');
  await follow(page, () => page.click('button:has-text("Apply")'));
  assert.match(page.url(), /\/console\/functions\/hello#aliases-title$/);
  assert.is(await page.locator('tr[data-alias="canary"] [data-field="routes"]').innerText(), 'v2 90 % · v1 10 %');
  const aliases = await request(`${d.url}/v1/functions/hello/aliases`, { headers: d.auth() });
  const canary = ((await aliases.body.json()) as { aliases: Array<{ name: string; routes: Array<{ weight: number }> }> }).aliases.find(
    (a) => a.name === 'canary',
  );
  assert.equal(
    canary?.routes.map((r) => r.weight),
    [90, 10],
  );
  // The functions page shows the split too.
  await page.goto(`${d.url}/console/`);
  assert.match(await page.locator('tr[data-function="hello"] [data-alias="canary"]').innerText(), /canary → v2 90 % · v1 10 %/);

  // A forged post with the session's own token but bad weights: the service's refusal, same code.
  const csrf = (await page.locator('meta[name="ignition-csrf"]').getAttribute('content'))!;
  const forged = await context.request.post(`${d.url}/console/functions/hello/aliases/canary`, {
    form: { csrf, routes: 'v1:50,v2:40' },
    headers: { origin: d.url },
    maxRedirects: 0,
  });
  assert.is(forged.status(), 400);
  assert.match(await forged.text(), new RegExp(`data-code="${restCode}"`));
});

it('roll back through the confirmation; a change without the CSRF token, or with another session’s, is refused', async () => {
  const forged = await context.request.post(`${d.url}/console/functions/hello/rollback`, { form: { to: 'v1' }, maxRedirects: 0 });
  assert.is(forged.status(), 403);
  assert.match(await forged.text(), /console_csrf_invalid/);
  // A token from another session (a page left open across a sign-in elsewhere): refused too.
  const other = await browser.newContext();
  const otherPage = await other.newPage();
  await otherPage.goto(await loginLink());
  const stale = (await otherPage.locator('meta[name="ignition-csrf"]').getAttribute('content'))!;
  await other.close();
  const staleRes = await context.request.post(`${d.url}/console/functions/hello/rollback`, { form: { to: 'v1', csrf: stale }, maxRedirects: 0 });
  assert.is(staleRes.status(), 403);
  assert.match(await staleRes.text(), /data-code="console_csrf_invalid"/);

  await page.goto(`${d.url}/console/functions/hello`);
  await follow(page, () => page.click('a:has-text("Roll back to v1")'));
  assert.match(page.url(), /rollback\?to=v1/);
  assert.match(await page.locator('h1').innerText(), /Roll back hello to v1\?/);
  await shot(page, 'rollback');
  await follow(page, () => page.click('button:has-text("Roll back to v1")'));
  assert.is(page.url(), `${d.url}/console/functions/hello`);
  assert.is(await page.locator('[data-field="latest"]').innerText(), 'v1');
  const api = await request(`${d.url}/v1/functions/hello`, { headers: d.auth() });
  assert.is(((await api.body.json()) as { latest: { seq: number } }).latest.seq, 1);
});

it("three clicks from the functions page to a failing invocation's log lines", async () => {
  const ok = await invoke('shop/cart');
  assert.is(ok.status, 200);
  const failing = await invoke('shop/checkout');
  assert.is(failing.status, 500);
  await logged('shop', failing.id, 'payment service said no');
  await page.goto(`${d.url}/console/`);
  // 1: Invocations. 2: Failures. 3: the failing invocation.
  await follow(page, () => page.click('nav[aria-label="Console"] a:has-text("Invocations")'));
  const row = page.locator(`tr[data-invocation="${failing.id}"]`);
  assert.match(await row.innerText(), /shop\s+v1\s+500\s+[\d.]+ m?s\s+–\s+handler function_threw/);
  assert.match(await page.locator(`tr[data-invocation="${ok.id}"]`).innerText(), /shop\s+v1\s+200/);
  await shot(page, 'invocations');
  await follow(page, () => page.click('nav[aria-label="Status"] a:has-text("Failures")'));
  assert.is(await page.locator(`tr[data-invocation="${ok.id}"]`).count(), 0, 'only failures');
  await follow(page, () => page.click(`tr[data-invocation="${failing.id}"] th a`));
  assert.match(page.url(), new RegExp(`/console/functions/shop\\?invocation=${failing.id}`));
  const line = page.locator('#logs li', { hasText: 'card declined for order 42' });
  assert.ok(await line.isVisible(), "the failing invocation's log line is on screen");
  assert.ok(await page.locator('#logs li', { hasText: 'payment service said no' }).first().isVisible(), 'and the error it threw');
  for (const l of await page.locator('#logs li').allInnerTexts()) assert.ok(l.includes(failing.id), `only that invocation's lines: ${l}`);
  await shot(page, 'invocation-logs');
});

it('machines: the VMs of vm ps with state, driver and memory, inspect, and a stop through the confirmation', async () => {
  await follow(page, () => page.click('nav[aria-label="Console"] a:has-text("Machines")'));
  const row = page.locator(`tr[data-vm="${vmId}"]`);
  assert.match(await row.innerText(), /box\s+running\s+process\s+192 MiB\s+1/);
  assert.ok((await page.locator('tr[data-instance]').count()) >= 1, 'function instances are listed');
  await shot(page, 'machines');
  await follow(page, () => page.click(`tr[data-vm="${vmId}"] th a`));
  assert.is(page.url(), `${d.url}/console/machines/${vmId}`);
  assert.is(await page.locator('[data-field="state"]').innerText(), 'running');
  assert.ok((await page.locator('#timings-title + .scroll tr').count()) > 1, 'start-up steps');
  await shot(page, 'machine');
  await follow(page, () => page.click('a:has-text("Stop this VM")'));
  assert.match(await page.locator('h1').innerText(), /Stop the VM box\?/);
  await shot(page, 'machine-stop');
  await follow(page, () => page.click('button:has-text("Stop box")'));
  assert.is(page.url(), `${d.url}/console/machines/${vmId}`);
  assert.is(await page.locator('[data-field="state"]').innerText(), 'stopped');
  const ps = JSON.parse((await d.cli(['vm', 'ps', '--json'])).stdout) as Array<{ id: string; state: string }>;
  assert.is(ps.find((v) => v.id === vmId)?.state, 'stopped');
  assert.is(await page.locator('a:has-text("Stop this VM")').count(), 0, 'nothing left to stop');
  const again = await page.goto(`${d.url}/console/machines/${vmId}/stop`);
  assert.is(again!.status(), 409);
  const unknown = await page.goto(`${d.url}/console/machines/vm_nothing`);
  assert.is(unknown!.status(), 404);
  assert.is(await codeOn(page), 'not_found');
});

it('snapshots: the lineage with sizes, reference counts and users; GC and verify through confirmations', async () => {
  await page.goto(`${d.url}/console/`);
  await follow(page, () => page.click('nav[aria-label="Console"] a:has-text("Snapshots")'));
  const nodes = page.locator('li[data-snapshot][data-kind="golden"]');
  assert.ok((await nodes.count()) >= 3, 'a golden snapshot per version');
  const hello = page.locator('li[data-snapshot]', { hasText: 'used by hello v2' });
  assert.match(await hello.innerText(), /golden .* process · [\d.]+ (B|KiB|MiB) · own/);
  assert.match(await page.locator('#gc-result').innerText(), /None since the daemon started/);

  await follow(page, () => page.click('a:has-text("Collect garbage…")'));
  assert.match(await page.locator('main').innerText(), /A dry run finds \d+ blobs? no snapshot refers to/);
  await shot(page, 'gc-confirm');
  await follow(page, () => page.click('button:has-text("Collect garbage")'));
  assert.match(page.url(), /\/console\/snapshots#gc-result$/);
  assert.match(await page.locator('#gc-result').innerText(), /removed \d+ blobs?, freed/);

  await follow(page, () => page.click('a:has-text("Verify…")'));
  assert.match(await page.locator('main').innerText(), /re-hashes \d+ blobs/);
  await follow(page, () => page.click('button:has-text("Verify")'));
  // Verification runs in the background; the page reloads itself until the result is in.
  await page.locator('[data-verify-ok="true"]').waitFor({ timeout: 20_000 });
  assert.match(await page.locator('#verify-result').innerText(), /all blobs intact, \d+ blobs/);
  await shot(page, 'snapshots');
});

it('bad input gets a clear error: HTML pages and problem+json, each with its code', async () => {
  const missing = await page.goto(`${d.url}/console/functions/nope`);
  assert.is(missing!.status(), 404);
  assert.is(await codeOn(page), 'function_not_found');
  assert.match(await page.locator('main').innerText(), /no function named "nope"/);
  await shot(page, 'not-found');
  const level = await page.goto(`${d.url}/console/functions/hello?level=loud`);
  assert.is(level!.status(), 400);
  assert.is(await codeOn(page), 'bad_request');
  const version = await page.goto(`${d.url}/console/functions/hello/rollback?to=v9`);
  assert.is(version!.status(), 404);
  assert.is(await codeOn(page), 'version_not_found');
  const status = await page.goto(`${d.url}/console/invocations?status=weird`);
  assert.is(status!.status(), 400);
  const alias = await page.goto(`${d.url}/console/functions/hello/aliases/Not_An_Alias`);
  assert.is(alias!.status(), 400);
  assert.is(await codeOn(page), 'invalid_name');
  const nowhere = await page.goto(`${d.url}/console/nowhere`);
  assert.is(nowhere!.status(), 404);
  const api = await context.request.get(`${d.url}/console/api/functions?names=nope`);
  assert.is(api.status(), 404);
  assert.match(api.headers()['content-type'], /application\/problem\+json/);
  assert.is(((await api.json()) as { code: string }).code, 'function_not_found');
});

it('keyboard, a phone’s width and the dark theme', async () => {
  // The skip link comes first and moves focus past the navigation; focus is visible.
  await page.goto(`${d.url}/console/`);
  await page.keyboard.press('Tab');
  assert.is(await page.evaluate(() => document.activeElement?.className), 'skip');
  const skip = await page.locator('.skip').boundingBox();
  assert.ok(skip && skip.x >= 0 && skip.y >= 0, 'the focused skip link is on screen');
  await page.keyboard.press('Enter');
  assert.is(await page.evaluate(() => document.activeElement?.id), 'main');
  await page.keyboard.press('Tab');
  const outline = await page.evaluate(() => getComputedStyle(document.activeElement!).outlineStyle);
  assert.is(outline, 'solid', 'a focus ring on the next element');
  const light = await page.evaluate(() => getComputedStyle(document.body).backgroundColor);
  const fits = () => page.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth);
  assert.ok(await fits(), 'nothing wider than 1280 px');

  const phone = await browser.newContext({ viewport: { width: 390, height: 844 }, colorScheme: 'dark', storageState: await context.storageState() });
  const small = await phone.newPage();
  for (const [route, name] of [
    ['/console/', 'functions-phone-dark'],
    ['/console/functions/hello', 'function-phone-dark'],
    ['/console/invocations', 'invocations-phone-dark'],
    ['/console/snapshots', 'snapshots-phone-dark'],
  ]) {
    await small.goto(`${d.url}${route}`);
    if (route !== '/console/invocations' && route !== '/console/snapshots') await small.waitForFunction(() => document.querySelector('.chart canvas') !== null);
    // Tables scroll inside their boxes; the page itself never needs sideways scrolling.
    assert.ok(await small.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth), `${route} fits 390 px`);
    await shot(small, name);
  }
  const dark = await small.evaluate(() => getComputedStyle(document.body).backgroundColor);
  assert.is.not(dark, light, 'the dark theme follows the system');
  await phone.close();
});

it('sign out ends the session on the server: the old cookie and no cookie are refused', async () => {
  await page.goto(`${d.url}/console/`);
  await page.click('button:has-text("Sign out")');
  await page.locator('h1', { hasText: 'Signed out' }).waitFor();
  await shot(page, 'signed-out', false);
  const replay = await request(`${d.url}/console/api/functions`, { headers: { cookie: `ignition_console=${cookieValue}` } });
  assert.is(replay.statusCode, 401);
  await replay.body.dump();
  const refused = await page.goto(`${d.url}/console/`);
  assert.is(refused!.status(), 401);
  assert.match(await page.locator('main').innerText(), /ignition console/);
  await shot(page, 'refused', false);
  await noStorage(page);

  // No page, script or data answer held the admin token.
  assert.ok(bodies.length >= 30, `saw ${bodies.length} console responses`);
  for (const b of bodies) assert.not.ok(b.includes(adminToken), 'the admin token reached the browser');
  await context.close();
});

test.run();
