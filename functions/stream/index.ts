/**
 * Streams its response: one line every `interval` ms (default 100), `count` lines (default 5).
 * The caller sees each line as it is produced, not all at the end.
 */
export default {
  fetch(request: Request): Response {
    const url = new URL(request.url);
    const count = Math.min(Number(url.searchParams.get('count') ?? 5), 1000);
    const interval = Math.min(Number(url.searchParams.get('interval') ?? 100), 5000);
    const encoder = new TextEncoder();
    let sent = 0;
    const body = new ReadableStream<Uint8Array>({
      async pull(controller) {
        if (sent >= count) {
          controller.close();
          return;
        }
        if (sent > 0) await new Promise((r) => setTimeout(r, interval));
        controller.enqueue(encoder.encode(`chunk ${++sent} of ${count} at ${new Date().toISOString()}\n`));
      },
    });
    return new Response(body, { headers: { 'content-type': 'text/plain; charset=utf-8', 'cache-control': 'no-store' } });
  },
};
