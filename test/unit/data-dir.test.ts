/**
 * The data directory the daemon uses (loadConfig) and the one the CLI takes the admin token from
 * (credentials.ts) are found the same way, and neither depends on the working directory unless
 * an old `./.ignition` is there. The user is passed in, so the paths of root and of an ordinary
 * user are both checked whoever runs the test.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { defaultDataDir, findDataDir, loadConfig } from '../../platform/config/load.ts';
import { findToken } from '../../platform/cli/credentials.ts';
import { tempDir } from '../support/tmp.ts';

const USER = 1000;

test('the default: /var/lib/ignition for root, $XDG_DATA_HOME/ignition or ~/.local/share/ignition for a user', () => {
  assert.is(defaultDataDir({ HOME: '/home/ada', XDG_DATA_HOME: '/data' }, 0), '/var/lib/ignition');
  assert.is(defaultDataDir({ HOME: '/home/ada', XDG_DATA_HOME: '/data' }, USER), '/data/ignition');
  assert.is(defaultDataDir({ HOME: '/home/ada' }, USER), '/home/ada/.local/share/ignition');
  assert.is(defaultDataDir({ HOME: '/home/ada', XDG_DATA_HOME: 'relative' }, USER), '/home/ada/.local/share/ignition', 'a relative XDG_DATA_HOME is ignored');
});

/** The daemon's data directory and the directory of the CLI's token file, for one set-up. */
async function both(cwd: string, env: NodeJS.ProcessEnv, uid: number) {
  const notices: string[] = [];
  const { config } = await loadConfig({ cwd, env, uid, notice: (line) => notices.push(line) });
  const token = findToken(env, cwd, uid);
  return { daemon: config.dataDir, cli: path.dirname(token.file!), notices, cliNotice: token.notice };
}

test('the daemon and the CLI agree, from any working directory', async () => {
  const home = tempDir('ign-home-');
  const env = { HOME: home };
  const a = await both(tempDir('ign-cwd-'), env, USER);
  const b = await both(tempDir('ign-cwd-'), env, USER);
  assert.is(a.daemon, path.join(home, '.local', 'share', 'ignition'));
  assert.equal([a.cli, b.daemon, b.cli], [a.daemon, a.daemon, a.daemon]);
  assert.equal(a.notices, []);

  const xdg = await both(tempDir('ign-cwd-'), { HOME: home, XDG_DATA_HOME: path.join(home, 'xdg') }, USER);
  assert.is(xdg.daemon, path.join(home, 'xdg', 'ignition'));
  assert.is(xdg.cli, xdg.daemon);

  const root = await both(tempDir('ign-cwd-'), env, 0);
  assert.equal([root.daemon, root.cli], ['/var/lib/ignition', '/var/lib/ignition']);
});

test('IGNITION_DATA_DIR wins, relative to the working directory, for both', async () => {
  const cwd = tempDir('ign-cwd-');
  // An old ./.ignition does not override the variable.
  mkdirSync(path.join(cwd, '.ignition'));
  writeFileSync(path.join(cwd, '.ignition', 'admin.token'), 'ign_old\n');
  const r = await both(cwd, { HOME: cwd, IGNITION_DATA_DIR: 'mine' }, USER);
  assert.equal([r.daemon, r.cli], [path.join(cwd, 'mine'), path.join(cwd, 'mine')]);
  assert.equal(r.notices, []);
});

test('an old ./.ignition a daemon used is still read, with a notice; one holding only images is not', async () => {
  const cwd = tempDir('ign-cwd-');
  const home = tempDir('ign-home-');
  mkdirSync(path.join(cwd, '.ignition', 'images'), { recursive: true });
  const images = await both(cwd, { HOME: home }, USER);
  assert.is(images.daemon, path.join(home, '.local', 'share', 'ignition'));
  assert.is(images.cli, images.daemon);

  writeFileSync(path.join(cwd, '.ignition', 'ignition.db'), '');
  const old = await both(cwd, { HOME: home }, USER);
  assert.equal([old.daemon, old.cli], [path.join(cwd, '.ignition'), path.join(cwd, '.ignition')]);
  assert.is(old.notices.length, 1);
  assert.is(old.cliNotice, old.notices[0]);
  assert.match(old.notices[0], `notice: using ${path.join(cwd, '.ignition')}, the old default data directory`);
  assert.match(old.notices[0], `move it to ${path.join(home, '.local', 'share', 'ignition')}`);
  assert.equal(findDataDir({ HOME: home }, cwd, USER).dir, path.join(cwd, '.ignition'));
});

test("a config file's dataDir is the daemon's, relative to the file, and no old ./.ignition overrides it", async () => {
  const cwd = tempDir('ign-cfg-');
  mkdirSync(path.join(cwd, '.ignition'));
  writeFileSync(path.join(cwd, '.ignition', 'ignition.db'), '');
  writeFileSync(path.join(cwd, 'ignition.config.ts'), `export default { dataDir: 'state' };`);
  const notices: string[] = [];
  const { config } = await loadConfig({ cwd, env: { HOME: cwd }, uid: USER, notice: (l) => notices.push(l) });
  assert.is(config.dataDir, path.join(cwd, 'state'));
  assert.equal(notices, []);
});

test.run();
