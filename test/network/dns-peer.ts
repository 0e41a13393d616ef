/**
 * A name server of one name, run inside a test namespace (via nsenter) by the network tests.
 *   <host> <name> <ipv4>   answers A queries for <name> with <ipv4> on <host>:53 (UDP), every other
 *                          query with an empty NOERROR answer; prints {"ready":true}, then
 *                          {"query":"<name>","type":N} for each question it is asked.
 * Enough DNS (RFC 1035 §4) for glibc's and c-ares' stub resolvers: one question, no compression
 * in it, an answer that points back at the question's name.
 */
import dgram from 'node:dgram';

const [host, name, address] = process.argv.slice(2);
const TYPE_A = 1;

/** The question's name and type, and where the question ends; null for anything else. */
function question(msg: Buffer): { name: string; type: number; end: number } | null {
  if (msg.length < 12 || msg.readUInt16BE(4) !== 1) return null;
  const labels: string[] = [];
  let i = 12;
  while (i < msg.length && msg[i] !== 0) {
    const len = msg[i];
    if (len > 63 || i + 1 + len > msg.length) return null;
    labels.push(msg.toString('latin1', i + 1, i + 1 + len));
    i += 1 + len;
  }
  if (i + 5 > msg.length) return null;
  return { name: labels.join('.').toLowerCase(), type: msg.readUInt16BE(i + 1), end: i + 5 };
}

const server = dgram.createSocket('udp4');
server.on('message', (msg, from) => {
  const q = question(msg);
  if (!q) return;
  console.log(JSON.stringify({ query: q.name, type: q.type }));
  const hit = q.name === name.toLowerCase() && q.type === TYPE_A;
  const head = Buffer.alloc(12);
  head.writeUInt16BE(msg.readUInt16BE(0), 0); // the query's id
  head.writeUInt16BE(0x8180 | (msg.readUInt16BE(2) & 0x0100), 2); // a response, recursion available, RD echoed, NOERROR
  head.writeUInt16BE(1, 4); // one question
  head.writeUInt16BE(hit ? 1 : 0, 6); // answers
  const answer = Buffer.alloc(hit ? 16 : 0);
  if (hit) {
    answer.writeUInt16BE(0xc00c, 0); // the name: a pointer to the question's
    answer.writeUInt16BE(TYPE_A, 2);
    answer.writeUInt16BE(1, 4); // class IN
    answer.writeUInt32BE(60, 6); // TTL
    answer.writeUInt16BE(4, 10);
    address.split('.').forEach((o, k) => answer.writeUInt8(Number(o), 12 + k));
  }
  server.send(Buffer.concat([head, msg.subarray(12, q.end), answer]), from.port, from.address);
});
server.bind(53, host, () => console.log(JSON.stringify({ ready: true })));
