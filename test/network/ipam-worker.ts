/**
 * Helper process for ipam.test.ts: opens the database file given on the command line and reserves
 * slots in a tight loop, printing one JSON line with what it got. Two of these run at once against
 * one file to prove allocation is atomic across processes.
 */
import Database from 'better-sqlite3';
import { Ipam } from '../../platform/network/ipam.ts';

const [file, countText, capacityText, owner] = process.argv.slice(2);
const db = new Database(file);
db.pragma('journal_mode = WAL');
const ipam = new Ipam(db, { clone: Number(capacityText), bridge: 0 });
const got: number[] = [];
let exhausted = 0;
// Start together: say we are ready, then wait until the parent creates the go-file so both loops overlap.
console.log('ready');
while (!(await import('node:fs')).existsSync(`${file}.go`)) await new Promise((r) => setTimeout(r, 5));
for (let i = 0; i < Number(countText); i++) {
  try {
    got.push(ipam.reserve('clone', owner, `${owner}-vm-${i}`).slot);
  } catch (err) {
    if ((err as { code?: string }).code !== 'net_exhausted') throw err;
    exhausted++;
  }
}
db.close();
console.log(JSON.stringify({ got, exhausted }));
