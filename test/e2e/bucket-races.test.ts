/**
 * Bucket and file commands racing on the same names over several
 * connections: NEW_BUCKET, DELETE_BUCKET (plain and FORCE), UPLOAD_FILE,
 * DELETE_FILE, DOWNLOAD_FILE, LIST_FILE, LIST_BUCKET. A race is never the
 * server's fault: no reply is ever a 5xx (INTERNAL, STORAGE_FAILED,
 * CORRUPT_FILE), every reply is one the protocol documents for its command,
 * and once the dust settles the listings agree with what downloads return.
 *
 * The random choices are seeded; RACE_SEED=<n> replays a run.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import { RawPeer } from '../helpers/raw.js';
import { startServer } from '../helpers/server.js';
import { seededRandom } from '../helpers/random.js';

const BUCKETS = ['race-a', 'race-b'];
const NAMES = ['x.bin', 'y.bin'];
const CONNECTIONS = 8;
const ROUNDS = 300; // per connection
const sha = (data: Buffer): string => createHash('sha256').update(data).digest('hex');

const head = (reply: string): string => reply.split(' ')[0]!;
const SHA_HEX = '[0-9a-f]{64}';
const TIME = '\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\d\\.\\d{3}Z';

interface Violation {
  request: string;
  reply: string;
}

test('racing bucket and file commands never get a 5xx and leave a consistent store', { timeout: 120_000 }, async (t) => {
  const seed = Number(process.env.RACE_SEED ?? Math.floor(Math.random() * 2 ** 31));
  t.diagnostic(`seed ${seed} (RACE_SEED=${seed} replays it)`);
  const server = await startServer();
  const uploaded = new Set<string>([]); // the SHA-256 of every body ever sent
  const violations: Violation[] = [];
  const tally = new Map<string, number>();
  const peers = new Set<RawPeer>();
  const connect = async (): Promise<RawPeer> => {
    const peer = await RawPeer.connect(server.port);
    peers.add(peer);
    return peer;
  };

  try {
    const worker = async (index: number): Promise<void> => {
      const random = seededRandom(seed + index * 7919);
      const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)]!;
      let peer = await connect();
      for (let round = 0; round < ROUNDS; round++) {
        const bucket = pick(BUCKETS);
        const name = pick(NAMES);
        const roll = random();
        let request = '';
        // Checks a reply against what the command may answer; false ends the exchange.
        const expect = (reply: string, allowed: RegExp): boolean => {
          const [status = '', code = ''] = head(reply).split(',');
          const key = `${request.split(',')[0]}${request.endsWith(',FORCE') ? ',FORCE' : ''} -> ${Number(status) >= 400 ? `${status},${code}` : status}`;
          tally.set(key, (tally.get(key) ?? 0) + 1);
          if (/^5/.test(reply) || !allowed.test(head(reply))) {
            violations.push({ request, reply });
            return false;
          }
          return true;
        };
        try {
          if (roll < 0.16) {
            request = `NEW_BUCKET,${bucket}`;
            peer.send(`${request}\n`);
            expect(await peer.line(), new RegExp(`^(201,${bucket},${TIME}|409,BUCKET_EXISTS)$`));
          } else if (roll < 0.26) {
            request = `DELETE_BUCKET,${bucket}`;
            peer.send(`${request}\n`);
            expect(await peer.line(), new RegExp(`^(200,${bucket},\\d+|404,NO_SUCH_BUCKET|409,BUCKET_NOT_EMPTY,[1-9]\\d*)$`));
          } else if (roll < 0.36) {
            request = `DELETE_BUCKET,${bucket},FORCE`;
            peer.send(`${request}\n`);
            expect(await peer.line(), new RegExp(`^(200,${bucket},\\d+|404,NO_SUCH_BUCKET)$`));
          } else if (roll < 0.62) {
            const body = Buffer.from(`${index}:${round}:`.padEnd(1 + Math.floor(random() * 8192), String.fromCharCode(97 + (round % 26))));
            uploaded.add(sha(body));
            request = `UPLOAD_FILE,${bucket},${name},${body.length}`;
            peer.send(`${request}\n`);
            const goAhead = await peer.line();
            if (goAhead.startsWith('150,')) {
              // A wrong go-ahead leaves the stream out of step: start over on a new connection.
              if (!expect(goAhead, new RegExp(`^150,${name},${body.length},[0-9a-f]{32}$`))) throw new Error(`bad go-ahead ${goAhead}`);
              peer.send(Buffer.concat([body, Buffer.from(`SHA256,${sha(body)}\n`)]));
              expect(await peer.line(), new RegExp(`^(201,${bucket},${name},${body.length},${sha(body)}|404,NO_SUCH_BUCKET)$`));
            } else {
              expect(goAhead, /^404,NO_SUCH_BUCKET$/);
            }
          } else if (roll < 0.72) {
            request = `DELETE_FILE,${bucket},${name}`;
            peer.send(`${request}\n`);
            expect(await peer.line(), new RegExp(`^(200,${bucket},${name}|404,NO_SUCH_BUCKET|404,NO_SUCH_FILE)$`));
          } else if (roll < 0.86) {
            request = `DOWNLOAD_FILE,${bucket},${name}`;
            peer.send(`${request}\n`);
            const reply = await peer.line();
            if (!reply.startsWith('150,')) {
              expect(reply, /^404,(NO_SUCH_BUCKET|NO_SUCH_FILE)$/);
              continue;
            }
            if (!expect(reply, new RegExp(`^150,${name},\\d+$`))) throw new Error(`bad go-ahead ${reply}`);
            const size = Number(head(reply).split(',')[2]);
            const bytes = await peer.bytes(size);
            const status = await peer.line();
            if (!expect(status, new RegExp(`^200,${sha(bytes)}$`))) continue;
            if (!uploaded.has(sha(bytes))) violations.push({ request, reply: `bytes that no upload sent (${size} bytes)` });
          } else if (roll < 0.96) {
            request = `LIST_FILE,${bucket}`;
            peer.send(`${request}\n`);
            const reply = await peer.line();
            if (!expect(reply, /^(200,\d+|404,NO_SUCH_BUCKET)$/) || !reply.startsWith('200,')) continue;
            const count = Number(head(reply).split(',')[1]);
            for (let i = 0; i < count; i++) {
              const item = await peer.line();
              if (!new RegExp(`^(${NAMES.map((n) => n.replace('.', '\\.')).join('|')}),\\d+,${TIME},(${SHA_HEX})?$`).test(item)) {
                violations.push({ request, reply: `item ${item}` });
              }
            }
          } else {
            request = 'LIST_BUCKET';
            peer.send(`${request}\n`);
            const reply = await peer.line();
            if (!expect(reply, /^200,\d+$/)) continue;
            const count = Number(head(reply).split(',')[1]);
            for (let i = 0; i < count; i++) await peer.line();
          }
        } catch (error) {
          // The connection went out of step or away: a failure, then go on with a new one.
          violations.push({ request, reply: `no proper reply: ${error instanceof Error ? error.message : String(error)}` });
          peer.close();
          peers.delete(peer);
          peer = await connect();
        }
      }
      peer.close();
      peers.delete(peer);
    };
    await Promise.all(Array.from({ length: CONNECTIONS }, (_, index) => worker(index)));

    const summary = [...tally.entries()].sort().map(([key, n]) => `${key}: ${n}`);
    t.diagnostic(`replies: ${summary.join('; ')}`);
    const fivexx = violations.filter((v) => /^5/.test(v.reply));
    t.diagnostic(`violations: ${violations.length} (5xx: ${fivexx.length})`);
    assert.deepEqual(
      violations.slice(0, 10),
      [],
      `${violations.length} replies were not what the protocol allows (${fivexx.length} of them 5xx); seed ${seed}; ` +
        `server errors: ${server
          .stderr()
          .split('\n')
          .filter((line) => / error /.test(line))
          .slice(0, 5)
          .join(' | ')}`,
    );

    // The dust settles: what is listed is what downloads give.
    const check = await connect();
    check.send('LIST_BUCKET\n');
    const bucketCount = Number(head(await check.line()).split(',')[1]);
    const buckets: string[] = [];
    for (let i = 0; i < bucketCount; i++) buckets.push((await check.line()).split(',')[0]!);
    for (const bucket of buckets) {
      assert.ok(BUCKETS.includes(bucket), `unexpected bucket ${bucket}`);
      check.send(`LIST_FILE,${bucket}\n`);
      const listed = await check.line();
      assert.match(listed, /^200,\d+ /, `a listed bucket lists: ${listed}`);
      const items: string[][] = [];
      for (let i = 0, n = Number(head(listed).split(',')[1]); i < n; i++) items.push((await check.line()).split(','));
      for (const [name, size, , listedSha = ''] of items) {
        check.send(`DOWNLOAD_FILE,${bucket},${name}\n`);
        const reply = await check.line();
        assert.equal(head(reply), `150,${name},${size}`, `a listed file downloads with its listed size: ${reply}`);
        const bytes = await check.bytes(Number(size));
        const status = head(await check.line());
        assert.equal(status, `200,${sha(bytes)}`, `${bucket}/${name} downloads intact`);
        if (listedSha !== '') assert.equal(listedSha, sha(bytes), `${bucket}/${name}: the listed SHA-256 is that of its bytes`);
        assert.ok(uploaded.has(sha(bytes)), `${bucket}/${name} holds bytes that some upload sent`);
      }
    }
    check.close();
    // Nothing is left half-done in the bookkeeping folder.
    for (const folder of ['tmp', 'trash', 'uploads']) {
      const dir = path.join(server.root, '.bucketd', folder);
      const deadline = Date.now() + 10_000;
      let left = await readdir(dir);
      while (left.length > 0 && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 50));
        left = await readdir(dir);
      }
      assert.deepEqual(left, [], `.bucketd/${folder} is empty once the dust settles`);
    }
  } finally {
    for (const peer of peers) peer.close();
    assert.equal(await server.stop(), 0);
  }
});
