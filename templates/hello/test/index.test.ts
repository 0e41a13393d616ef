// Run with `npm test`: calls the handler directly, no daemon needed.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import handler from '../index.ts';

test('greets by name', async () => {
  const res = await handler.fetch(new Request('http://fn/?name=ada'), {});
  assert.equal(res.status, 200);
  assert.equal(await res.text(), 'Hello, ada!\n');
});

test('uses GREETING from env', async () => {
  const res = await handler.fetch(new Request('http://fn/'), { GREETING: 'Hi' });
  assert.equal(await res.text(), 'Hi, world!\n');
});
