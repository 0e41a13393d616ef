/**
 * A Hono app deployed as it is (Hono is a real npm dependency, bundled by esbuild): routes, path
 * parameters, JSON bodies, and a warmup() that runs before the golden snapshot is taken.
 */
import { Hono } from 'hono';

const app = new Hono();
const started = new Date().toISOString();

app.get('/', (c) => c.json({ app: 'hono-app', started, routes: ['GET /', 'GET /users/:id', 'POST /echo'] }));
app.get('/users/:id', (c) => c.json({ id: c.req.param('id'), name: `user-${c.req.param('id')}` }));
app.post('/echo', async (c) => c.json({ received: await c.req.json().catch(() => null) }));

export default app;

/** Runs once in the build machine, before the snapshot: pay start-up costs here. */
export async function warmup(): Promise<void> {
  await app.request('/');
}
