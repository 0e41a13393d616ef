/**
 * The web console in a real browser (chromium through playwright-core) against a real daemon:
 * sign in through the link `ignition console --url` prints, see a deployed function and its
 * version, follow its logs while invoking it, see the chart count the requests, roll back through
 * the confirmation, sign out, and be refused without a session. Along the way: the cookie's
 * attributes, a spent link, a change without the CSRF token, an invoke token asking for a link,
 * and that no page or script holds the admin token and nothing is put in web storage.
 * Screenshots of each page go to docs/console/.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { request } from 'undici';
import type { Browser, BrowserContext, Page } from 'playwright-core';
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

test.before(async () => {
  if (!existsSync(CHROMIUM)) return;
  d = await startTestDaemon();
  adminToken = readFileSync(path.join(d.dataDir, 'admin.token'), 'utf8').trim();
  await deploy(d, path.join(FIXTURES, 'echo'), ['--name', 'hello', '--env', 'GREETING=one']);
  await deploy(d, path.join(FIXTURES, 'echo'), ['--name', 'hello', '--env', 'GREETING=two']);
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
function recordBodies(page: Page): string[] {
  const bodies: string[] = [];
  page.on('response', (res) => {
    if (!res.url().startsWith(`${d.url}/console`) || res.url().includes('/logs')) return;
    res
      .text()
      .then((t) => bodies.push(t))
      .catch(() => {});
  });
  return bodies;
}

async function noStorage(page: Page): Promise<void> {
  const n = await page.evaluate(() => localStorage.length + sessionStorage.length);
  assert.is(n, 0, `nothing is put in web storage (${page.url()})`);
}

it('without a session every console route is refused, and invoke tokens get no link', async () => {
  const page = await request(`${d.url}/console/`);
  assert.is(page.statusCode, 401);
  assert.match(await page.body.text(), /console_session_required/);
  const data = await request(`${d.url}/console/api/functions`);
  assert.is(data.statusCode, 401);
  assert.is(((await data.body.json()) as { code: string }).code, 'console_session_required');
  const forged = await request(`${d.url}/console/api/functions`, { headers: { cookie: 'ignition_console=not-a-session' } });
  assert.is(forged.statusCode, 401);
  await forged.body.dump();
  const change = await request(`${d.url}/console/functions/hello/rollback`, { method: 'POST', body: 'to=v1' });
  assert.is(change.statusCode, 401);
  await change.body.dump();

  const made = await d.cli(['token', 'create', '--scope', 'invoke', '--json']);
  assert.is(made.code, 0, made.stderr);
  const invoke = (JSON.parse(made.stdout) as { token: string }).token;
  const refused = await request(`${d.url}/v1/console/login-links`, { method: 'POST', headers: { authorization: `Bearer ${invoke}` } });
  assert.is(refused.statusCode, 403);
  assert.is(((await refused.body.json()) as { code: string }).code, 'forbidden');
  const none = await request(`${d.url}/v1/console/login-links`, { method: 'POST' });
  assert.is(none.statusCode, 401);
  await none.body.dump();
});

it('sign in, see the function, follow its logs, watch the chart, roll back, sign out', async () => {
  const context: BrowserContext = await browser.newContext({ viewport: { width: 1280, height: 900 }, colorScheme: 'light' });
  const page = await context.newPage();
  const bodies = recordBodies(page);
  const link = await loginLink();

  // The link: exchanged for a cookie and a redirect to the functions page.
  await page.goto(link);
  assert.is(page.url(), `${d.url}/console/`);
  const [cookie] = await context.cookies(d.url + '/console/');
  assert.ok(cookie, 'a session cookie was set');
  assert.is(cookie.name, 'ignition_console');
  assert.is(cookie.httpOnly, true);
  assert.is(cookie.sameSite, 'Strict');
  assert.is(cookie.path, '/console');
  assert.is(cookie.secure, false, 'plain HTTP here: Secure only over TLS');
  // The link is spent.
  const again = await request(link, { maxRedirections: 0 } as object);
  assert.is(again.statusCode, 401);
  assert.match(await again.body.text(), /console_link_invalid/);

  // Functions: the deployed function with its version.
  const row = page.locator('tr[data-function="hello"]');
  await row.waitFor();
  assert.match(await row.innerText(), /hello\s+v2\s+latest/);
  await noStorage(page);

  // The chart counts requests: invoke, and the polled figure rises.
  const chart = page.locator('#chart');
  await page.waitForFunction(() => document.querySelector('#chart canvas') !== null);
  const before = Number(await chart.getAttribute('data-total'));
  for (let i = 0; i < 3; i++) await (await request(`${d.url}/fn/hello/chart-${i}`)).body.dump();
  await page.waitForFunction((n) => Number(document.getElementById('chart')!.dataset.total) >= n + 3, before, { timeout: 15_000 });
  await page.waitForFunction(() => Number(document.querySelector('tr[data-function="hello"] [data-field="requests"]')!.textContent) >= 3);
  await page.screenshot({ path: path.join(SHOTS, 'functions.png'), fullPage: true });

  // The function page: versions, env names only, logs followed live.
  // By keyboard: the link is focusable and Enter follows it.
  await page.focus('tr[data-function="hello"] th a');
  await page.keyboard.press('Enter');
  await page.waitForURL(`${d.url}/console/functions/hello`);
  const versions = await page.locator('tr[data-version]').allInnerTexts();
  assert.is(versions.length, 2);
  assert.match(
    versions.find((v) => v.startsWith('v2'))!,
    /serving/,
  );
  assert.match(await page.locator('.facts').innerText(), /GREETING/);
  assert.not.match(await page.content(), /GREETING=|two/, 'env values never reach the page');
  await page.click('#follow');
  await page.locator('#follow[aria-pressed="true"]').waitFor();
  const res = await request(`${d.url}/fn/hello/followed-live`);
  const { invocationId } = (await res.body.json()) as { invocationId: string };
  await page.locator('#logs li', { hasText: 'echo GET /followed-live' }).waitFor({ timeout: 10_000 });
  await page.click('#follow');
  await page.screenshot({ path: path.join(SHOTS, 'function.png'), fullPage: true });

  // The invocation filter: only that invocation's lines.
  await page.fill('#invocation', invocationId);
  await page.press('#invocation', 'Enter');
  await page.waitForURL(/invocation=/);
  const filtered = await page.locator('#logs li').allInnerTexts();
  assert.ok(filtered.length >= 1);
  for (const l of filtered) assert.ok(l.includes(invocationId), `a line of another invocation: ${l}`);

  // A change without the session's CSRF token is refused, though the cookie goes along.
  const forged = await context.request.post(`${d.url}/console/functions/hello/rollback`, { form: { to: 'v1' }, maxRedirects: 0 });
  assert.is(forged.status(), 403);
  assert.match(await forged.text(), /console_csrf_invalid/);

  // Roll back through the confirmation page.
  await page.goto(`${d.url}/console/functions/hello`);
  await page.click('a:has-text("Roll back to v1")');
  await page.waitForURL(/rollback\?to=v1/);
  assert.match(await page.locator('h1').innerText(), /Roll back hello to v1\?/);
  await page.screenshot({ path: path.join(SHOTS, 'rollback.png'), fullPage: true });
  await page.click('button:has-text("Roll back to v1")');
  await page.waitForURL(`${d.url}/console/functions/hello`);
  assert.is(await page.locator('[data-field="latest"]').innerText(), 'v1');
  const api = await request(`${d.url}/v1/functions/hello`, { headers: d.auth() });
  assert.is(((await api.body.json()) as { latest: { seq: number } }).latest.seq, 1);
  await noStorage(page);

  // A phone's width, and the dark theme the system asks for.
  const phone = await browser.newContext({ viewport: { width: 390, height: 844 }, colorScheme: 'dark', storageState: await context.storageState() });
  const small = await phone.newPage();
  await small.goto(`${d.url}/console/`);
  await small.locator('tr[data-function="hello"]').waitFor();
  await small.waitForFunction(() => document.querySelector('#chart canvas') !== null);
  await small.screenshot({ path: path.join(SHOTS, 'functions-phone-dark.png'), fullPage: true });
  await phone.close();

  // Sign out: the session ends on the server, so even the old cookie value is refused.
  await page.click('button:has-text("Sign out")');
  await page.locator('h1', { hasText: 'Signed out' }).waitFor();
  await page.screenshot({ path: path.join(SHOTS, 'signed-out.png') });
  const replay = await request(`${d.url}/console/api/functions`, { headers: { cookie: `ignition_console=${cookie.value}` } });
  assert.is(replay.statusCode, 401);
  await replay.body.dump();
  const refused = await page.goto(`${d.url}/console/`);
  assert.is(refused!.status(), 401);
  assert.match(await page.locator('main').innerText(), /ignition console/);
  await page.screenshot({ path: path.join(SHOTS, 'refused.png') });

  // No page, script or data answer held the admin token.
  assert.ok(bodies.length >= 8, `saw ${bodies.length} console responses`);
  for (const b of bodies) assert.not.ok(b.includes(adminToken), 'the admin token reached the browser');
  await context.close();
});

test.run();
