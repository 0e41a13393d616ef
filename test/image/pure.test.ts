/**
 * The pure parts of image building, on captured or constructed input: ldd and debugfs output
 * parsing, the derived UUIDs, the mke2fs and QEMU command lines, and the cpio newc header.
 */
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { derivedUuid, mke2fsArgs } from '../../platform/image/ext4.ts';
import { parseDebugfsStat } from '../../platform/image/inspect.ts';
import { newcHeader } from '../../platform/image/initramfs.ts';
import { parseLdd } from '../../platform/image/ldd.ts';
import { qemuArgs } from '../../platform/image/qemu.ts';

const LDD = `	linux-vdso.so.1 (0x00007ffd3b9f2000)
	libdl.so.2 => /lib/x86_64-linux-gnu/libdl.so.2 (0x00007f5b4704b000)
	libstdc++.so.6 => /lib/x86_64-linux-gnu/libstdc++.so.6 (0x00007f5b46e00000)
	libc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x00007f5b46b3e000)
	/lib64/ld-linux-x86-64.so.2 (0x00007f5b47063000)
`;

test('parseLdd keeps libraries and the loader, skips the vDSO', () => {
  assert.equal(parseLdd(LDD), {
    paths: ['/lib/x86_64-linux-gnu/libdl.so.2', '/lib/x86_64-linux-gnu/libstdc++.so.6', '/lib/x86_64-linux-gnu/libc.so.6', '/lib64/ld-linux-x86-64.so.2'],
    missing: [],
    isStatic: false,
  });
});

test('parseLdd reports unresolved libraries and static binaries', () => {
  assert.equal(parseLdd('\tlibfoo.so.1 => not found\n').missing, ['libfoo.so.1']);
  assert.ok(parseLdd('\tnot a dynamic executable\n').isStatic);
  assert.ok(parseLdd('\tstatically linked\n').isStatic);
});

test('parseDebugfsStat reads type, mode, owner and size; absent files are null', () => {
  const text = `Inode: 40   Type: regular    Mode:  0755   Flags: 0x80000
Generation: 0    Version: 0x00000000:00000000
User:     0   Group:     0   Project:     0   Size: 699112
`;
  assert.equal(parseDebugfsStat(text), { type: 'regular', mode: 0o755, uid: 0, gid: 0, size: 699112 });
  assert.is(parseDebugfsStat(''), null);
});

test('derived UUIDs are stable, distinct per salt, and well formed', () => {
  const a = derivedUuid('abc', 'uuid');
  assert.is(a, derivedUuid('abc', 'uuid'));
  assert.is.not(a, derivedUuid('abc', 'hash_seed'));
  assert.is.not(a, derivedUuid('abd', 'uuid'));
  assert.match(a, /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-a[0-9a-f]{3}-[0-9a-f]{12}$/);
});

test('mke2fs gets a fixed UUID, hash seed, root owner and the size last', () => {
  const args = mke2fsArgs({ dir: '/s', outFile: '/o.ext4', sizeMiB: 128, seed: 'x', epoch: 0, workDir: '/w' });
  assert.is(args[args.indexOf('-U') + 1], derivedUuid('x', 'uuid'));
  assert.match(args[args.indexOf('-E') + 1], `hash_seed=${derivedUuid('x', 'hash_seed')}`);
  assert.match(args[args.indexOf('-E') + 1], 'root_owner=0:0');
  assert.equal(args.slice(-2), ['/o.ext4', '128M']);
  assert.is(args[args.indexOf('-d') + 1], '/s');
});

test('QEMU runs TCG without reboot, boots the initramfs init and tells it to use a Unix socket', () => {
  const args = qemuArgs({ kernel: '/k', initramfs: '/i' });
  assert.ok(args.includes('-no-reboot'));
  assert.is(args[args.indexOf('-accel') + 1], 'tcg');
  const append = args[args.indexOf('-append') + 1];
  for (const word of ['console=ttyS0', 'rdinit=/sbin/init', 'ignition.listen=uds']) assert.match(append, word);
});

test('newc headers are 110 bytes plus the padded name', () => {
  const h = newcHeader({ ino: 1, mode: 0o100644, mtime: 0, size: 5, nlink: 1, name: 'etc/hosts' });
  assert.is(h.subarray(0, 6).toString(), '070701');
  assert.is(h.length % 4, 0);
  assert.is(h.subarray(110, 119).toString(), 'etc/hosts');
  assert.is(h[119], 0);
  // namesize field (12th) counts the NUL.
  assert.is(parseInt(h.subarray(6 + 11 * 8, 6 + 12 * 8).toString(), 16), 10);
});

test.run();
