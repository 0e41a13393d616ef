// Run with `npm test`: drives the app in-process with app.request().
import { test } from 'node:test';
import assert from 'node:assert/strict';
import app from '../index.ts';

test('lists books', async () => {
  const res = await app.request('/books');
  assert.equal(res.status, 200);
  assert.equal((await res.json()).length, 2);
});

test('path parameters', async () => {
  assert.deepEqual(await (await app.request('/books/2')).json(), { id: '2', title: 'Designing Data-Intensive Applications' });
  assert.equal((await app.request('/books/9')).status, 404);
  assert.equal(await (await app.request('/hello/ada')).text(), 'Hello, ada!');
});
