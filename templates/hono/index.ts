/**
 * A Hono app as an Ignition function: Hono apps have `fetch`, so the default export works as is.
 * `warmup()` runs once before the golden snapshot; `onRestore()` after each restore.
 */
import { Hono } from 'hono';

type Bindings = { GREETING?: string };
const app = new Hono<{ Bindings: Bindings }>();

const books = new Map<string, { id: string; title: string }>([
  ['1', { id: '1', title: 'The Pragmatic Programmer' }],
  ['2', { id: '2', title: 'Designing Data-Intensive Applications' }],
]);

app.get('/', (c) => c.json({ message: `${c.env?.GREETING ?? 'Hello'} from Hono`, routes: ['GET /books', 'GET /books/:id', 'GET /hello/:name'] }));
app.get('/books', (c) => c.json([...books.values()]));
app.get('/books/:id', (c) => {
  const book = books.get(c.req.param('id'));
  return book ? c.json(book) : c.json({ error: `no book ${c.req.param('id')}` }, 404);
});
app.get('/hello/:name', (c) => c.text(`Hello, ${c.req.param('name')}!`));

export default app;

export async function warmup(): Promise<void> {
  // Touch the routes once so the router is compiled before the snapshot.
  await app.request('/books');
}

export function onRestore(): void {
  // Anything that must differ between clones (random seeds, ids) is re-created here.
}
