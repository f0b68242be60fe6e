// `npm run fuzz [-- --quick]`: bad messages of every class against a mesh of separate processes
// (Redis, 2 bridge nodes, a journaling reference server), beside a legitimate client. For each
// message: the documented answer (an error code, a refused handshake, a closed connection, an
// HTTP 4xx), counted in meshbridge_errors_total; and over the run: nothing forwarded (the server
// applied only the legitimate client's inputs, no client saw fuzz data), no process crashed, the
// bridge's memory flat and the legitimate client's latency unaffected. Exits 1 on any breach.
import { fork } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SignJWT } from 'jose';
import { Manager, io, type Socket } from 'socket.io-client';
import { CLIENT_NAMESPACE, PROTOCOL_VERSION, SERVER_NAMESPACE } from '../shared/protocol.js';
import { sleep } from '../scripts/redis-process.js';
import { parseJournal } from './audit.js';
import { rawHttp, upgradeRequest, type RawRequest } from './raw-http.js';
import { ADMIN_TOKEN, JWT_SECRET, NETWORK_SECRET, ProcessMesh } from './mesh-processes.js';

const quick = process.argv.includes('--quick');
const scale = quick ? 0.3 : 1;
const n = (count: number) => Math.max(10, Math.round(count * scale));
const log = (s: string) => process.stdout.write(`${s}\n`);
const MARK = 'FUZZ';
const dir = mkdtempSync(join(tmpdir(), 'meshbridge-fuzz-'));

const mesh = await ProcessMesh.start({
  bridges: 2, servers: 1, world: 'fuzz',
  bridgeEnv: {
    MESHBRIDGE_WORLD_COLS: '1', MESHBRIDGE_WORLD_ROWS: '1', MESHBRIDGE_REBALANCE_THRESHOLD: '1000000',
    // High enough that the message classes are answered by their own code, not RATE_LIMITED (one class checks the limit).
    MESHBRIDGE_INPUTS_PER_SECOND: '100000', MESHBRIDGE_INPUT_BURST: '100000',
    // A body that trickles is cut at 1 s (10 s by default), so the slow-body cases are answered within the run.
    MESHBRIDGE_HTTP_REQUEST_TIMEOUT_MS: '1000',
  },
  serverArgs: () => ['--tick', '20', '--journal', join(dir, 's1.journal')],
});
const [target, other] = mesh.bridges as [typeof mesh.bridges[0], typeof mesh.bridges[0]];
const url = target.url;
const secret = new TextEncoder().encode(JWT_SECRET);
const token = (player: string) => mesh.token(player);

// ---- the legitimate client (its own process): sends at 20 Hz, measures each input's time to acknowledgement ----
const legit = fork(new URL('./legit-client.ts', import.meta.url), [], {
  execArgv: ['--import', 'tsx'],
  stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
});
process.once('exit', () => legit.kill('SIGKILL'));
const legitReady = new Promise((resolve) => legit.once('message', resolve));
legit.send({ url, token: await token('legit'), mark: MARK });
await legitReady;

async function rss(): Promise<number> {
  const text = await fetch(`${url}/metrics`).then((r) => r.text());
  return Number(/process_resident_memory_bytes\{[^}]*\} (\d+)/.exec(text)?.[1] ?? 0);
}
async function errorCounts(): Promise<Map<string, number>> {
  const text = await fetch(`${url}/metrics`).then((r) => r.text());
  const out = new Map<string, number>();
  for (const m of text.matchAll(/meshbridge_errors_total\{code="([^"]+)",side="([^"]+)"[^}]*\} (\d+)/g))
    out.set(`${m[2]}:${m[1]}`, Number(m[3]));
  return out;
}

await sleep(3000);
const quietFrom = performance.timeOrigin + performance.now();
const rssBefore = await rss();
const countsBefore = await errorCounts();

interface ClassResult { name: string; sent: number; wrong: string[]; expected: Map<string, number>; from: number; to: number }
const results: ClassResult[] = [];
async function run(name: string, cases: number, one: (i: number, r: ClassResult) => Promise<void>): Promise<void> {
  const r: ClassResult = { name, sent: 0, wrong: [], expected: new Map(), from: performance.timeOrigin + performance.now(), to: 0 };
  const started = performance.now();
  for (let i = 0; i < cases; i++) {
    r.sent++;
    await one(i, r).catch((err: Error) => r.wrong.push(`case ${i}: ${err.message}`));
  }
  r.to = performance.timeOrigin + performance.now();
  results.push(r);
  log(`  ${name}: ${r.sent} messages, ${r.wrong.length} wrong answers (${((performance.now() - started) / 1000).toFixed(1)} s)`);
}
const expect = (r: ClassResult, key: string, got: string, what: string) => {
  r.expected.set(key, (r.expected.get(key) ?? 0) + 1);
  const want = key.split(':')[1]!;
  if (got !== want) r.wrong.push(`${what}: expected ${want}, got ${got}`);
};

/** One session that receives `error` events in order: send, then await the next error. */
async function session(ns: string, auth: object, ready: string): Promise<{ sock: Socket; next: () => Promise<string> }> {
  const sock = io(`${url}${ns}`, { transports: ['websocket'], forceNew: true, reconnection: false, auth });
  const queue: string[] = [];
  const waiting: ((c: string) => void)[] = [];
  sock.on('error', (e: { code: string }) => { const w = waiting.shift(); if (w) w(e.code); else queue.push(e.code); });
  await new Promise<void>((resolve, reject) => { sock.once(ready, () => resolve()); sock.once('connect_error', reject); });
  const next = () => {
    const q = queue.shift();
    if (q !== undefined) return Promise.resolve(q);
    return new Promise<string>((resolve) => {
      const timer = setTimeout(() => { waiting.splice(waiting.indexOf(done), 1); resolve('no answer'); }, 2000);
      const done = (c: string) => { clearTimeout(timer); resolve(c); };
      waiting.push(done);
    });
  };
  return { sock, next };
}
/** A raw frame on the current engine connection. */
const raw = (sock: Socket, frame: string | Buffer) => (sock.io.engine as unknown as { send(d: string | Buffer): void }).send(frame);

/** The outcome of one handshake: 'connected' or the refusal code. */
function handshake(ns: string, auth: object): Promise<string> {
  const sock = io(`${url}${ns}`, { transports: ['websocket'], forceNew: true, reconnection: false, auth });
  return new Promise((resolve) => {
    const done = (r: string) => { sock.close(); resolve(r); };
    sock.once(ns === SERVER_NAMESPACE ? 'welcome' : 'session', () => done('connected'));
    sock.once('connect_error', (e: Error & { data?: { code?: string } }) => done(e.data?.code ?? e.message));
    setTimeout(() => done('no answer'), 5000);
  });
}

log(`fuzz: ${quick ? 'quick' : 'full'} run against ${url}`);

// 1. Frames that are not Socket.IO packets: each closes its connection, counted as BAD_FRAME.
const garbage = (i: number): string | Buffer => {
  const kinds: (string | Buffer)[] = [
    '9', `2${CLIENT_NAMESPACE},[`, '42{"a":', `2${CLIENT_NAMESPACE},"x"`, 'xyz', Buffer.from([0xde, 0xad, 0xbe, 0xef, i & 0xff]),
    `0${CLIENT_NAMESPACE},${'['.repeat(100)}`, `1${MARK}`, `2${CLIENT_NAMESPACE},{"${MARK}":1}`,
  ];
  return kinds[i % kinds.length]!;
};
await run('garbage Engine.IO/Socket.IO frames', n(1000), async (i, r) => {
  const m = new Manager(url, { transports: ['websocket'], reconnection: false, autoConnect: false, forceNew: true });
  await new Promise<void>((resolve, reject) => m.open((err) => (err ? reject(err) : resolve())));
  const engine = m.engine as unknown as { send(d: string | Buffer): void; once(e: string, f: () => void): void };
  const closed = new Promise<string>((resolve) => {
    engine.once('close', () => resolve('BAD_FRAME'));
    setTimeout(() => resolve('still open'), 2000);
  });
  engine.send(garbage(i));
  expect(r, 'wire:BAD_FRAME', await closed, `frame ${i % 9}`);
  m.engine.close();
});

// 2. Client tokens of every wrong kind.
const tokens: (() => Promise<string>)[] = [
  async () => `${Buffer.from('{"alg":"none"}').toString('base64url')}.${Buffer.from('{"sub":"mallory"}').toString('base64url')}.`,
  () =>
    new SignJWT({})
      .setProtectedHeader({ alg: 'HS256' })
      .setSubject('mallory')
      .setExpirationTime('1h')
      .sign(new TextEncoder().encode('wrong-secret-0123456789')),
  () =>
    new SignJWT({})
      .setProtectedHeader({ alg: 'HS256' })
      .setSubject('mallory')
      .setExpirationTime(Math.floor(Date.now() / 1000) - 60)
      .sign(secret),
  () => new SignJWT({}).setProtectedHeader({ alg: 'HS256' }).setSubject('mallory').sign(secret),
  () => new SignJWT({}).setProtectedHeader({ alg: 'HS256' }).setExpirationTime('1h').sign(secret),
  () => new SignJWT({}).setProtectedHeader({ alg: 'HS256' }).setSubject('bad id!').setExpirationTime('1h').sign(secret),
  () => new SignJWT({}).setProtectedHeader({ alg: 'HS512' }).setSubject('mallory').setExpirationTime('1h').sign(secret),
  async () => `${MARK}.not.a.jwt`,
];
await run('JWT variants (alg none, wrong key, expired, no exp, no or bad subject, wrong alg, garbage)', n(400), async (i, r) => {
  expect(
    r,
    'client:BAD_TOKEN',
    await handshake(CLIENT_NAMESPACE, { token: await tokens[i % tokens.length]!() }),
    `token ${i % tokens.length}`,
  );
});
await run('malformed handshakes', n(200), async (i, r) => {
  const bad = [{}, { token: 5 }, { token: 'x'.repeat(5000) }, { token: [] }][i % 4]!;
  expect(r, 'client:BAD_HANDSHAKE', await handshake(CLIENT_NAMESPACE, bad), `handshake ${i % 4}`);
});

// 3-7. Bad inputs over one player's session (the connection stays open after each).
const mallory = await session(CLIENT_NAMESPACE, { token: await token('mallory') }, 'session');
const badInputs: unknown[] = [
  null, 5, MARK, [], { seq: 0, data: MARK }, { seq: -1 }, { seq: 1.5 }, { seq: '1' }, { data: MARK }, { seq: 1, data: MARK, extra: 1 },
  { seq: Number.MAX_SAFE_INTEGER + 2 }, [{ seq: 1 }],
];
await run('malformed inputs', n(3000), async (i, r) => {
  mallory.sock.emit('input', badInputs[i % badInputs.length]);
  expect(r, 'client:BAD_INPUT', await mallory.next(), `input ${i % badInputs.length}`);
});
await run('deep inputs', n(500), async (i, r) => {
  const depth = 33 + (i % 5) * 1000;
  raw(mallory.sock, `2${CLIENT_NAMESPACE},["input",{"seq":1,"data":${'['.repeat(depth)}"${MARK}"${']'.repeat(depth)}}]`);
  expect(r, 'client:BAD_INPUT', await mallory.next(), `depth ${depth}`);
});
await run('binary inputs', n(500), async (i, r) => {
  mallory.sock.emit('input', { seq: 1, data: i % 2 ? Buffer.from(MARK) : [Buffer.alloc(10), Buffer.alloc(4000)] });
  expect(r, 'client:BAD_INPUT', await mallory.next(), 'binary');
});
await run('oversized inputs', n(500), async (i, r) => {
  mallory.sock.emit('input', { seq: 1, data: `${MARK}${'x'.repeat(4100 + i)}` });
  expect(r, 'client:INPUT_TOO_LARGE', await mallory.next(), 'oversized');
});
await run('inputs naming another player', n(500), async (i, r) => {
  mallory.sock.emit('input', { seq: 1, player: i % 2 ? 'legit' : 'victim', data: MARK });
  expect(r, 'client:FORBIDDEN_PLAYER', await mallory.next(), 'other player');
});
const serverEvents = [
  'state', 'inputs', 'load', 'snapshot', 'handoff', 'drain', 'welcome', 'player:attach', 'area:assign', 'rpc', 'sync:put', 'sync:ready',
];
await run('forbidden events from a client', n(1000), async (i, r) => {
  mallory.sock.emit(serverEvents[i % serverEvents.length]!, [{ kind: 'all', data: MARK }]);
  expect(r, 'client:UNKNOWN_EVENT', await mallory.next(), serverEvents[i % serverEvents.length]!);
});
mallory.sock.close();

// 8. A rogue server with the network secret: owns nothing, may refuse nothing it is not given.
const rogue = await session(
  SERVER_NAMESPACE,
  { serverId: 'rogue', secret: NETWORK_SECRET, power: 1, protocol: PROTOCOL_VERSION },
  'welcome',
);
const rogueCases: [string, unknown, string][] = [
  ['state', [{ kind: 'area', area: '0,0', epoch: 1, data: MARK }], 'NOT_OWNER'],
  ['state', [{ kind: 'player', player: 'legit', epoch: 1, data: MARK, acks: { legit: 999999 } }], 'NOT_OWNER'],
  ['state', [{ kind: 'all', data: MARK, acks: { legit: 999999 } }], 'BAD_STATE'],
  ['state', [{ kind: 'area', area: '0,0', epoch: 1, data: MARK, [MARK]: 1 }], 'BAD_STATE'],
  ['state', [], 'BAD_STATE'],
  ['state', MARK, 'BAD_STATE'],
  ['load', { load: -1 }, 'BAD_STATE'],
  ['load', { metrics: { [MARK]: 'x' } }, 'BAD_STATE'],
  ['snapshot', { areas: 5 }, 'BAD_STATE'],
  ['handoff', { player: 'legit' }, 'BAD_INPUT'],
  ['rpc.unknown', { [MARK]: 1 }, 'UNKNOWN_EVENT'],
  ['sync:put', { id: '0,0/9', version: 1, hash: '0'.repeat(64), data: Buffer.from(MARK) }, 'BAD_HASH'],
  ['sync:put', { id: '0,0/9', version: 1, hash: MARK, data: MARK }, 'BAD_INPUT'],
  ['sync:get', { ids: [`${MARK}/1`] }, 'UNKNOWN_CHUNK'],
  ['sync:get', { ids: MARK }, 'BAD_INPUT'],
  ['sync:manifest', { since: MARK }, 'BAD_INPUT'],
];
await run('rogue server messages (not owned, forged acks, bad shapes, unknown events)', n(2000), async (i, r) => {
  const [event, payload, code] = rogueCases[i % rogueCases.length]!;
  rogue.sock.emit(event, payload);
  expect(r, `server:${code}`, await rogue.next(), `${event} ${i % rogueCases.length}`);
});
await run('rogue server deep state', n(300), async (i, r) => {
  raw(rogue.sock, `2${SERVER_NAMESPACE},["state",[{"kind":"all","data":${'['.repeat(40 + i)}"${MARK}"${']'.repeat(40 + i)}}]]`);
  expect(r, 'server:BAD_INPUT', await rogue.next(), 'deep state');
});
rogue.sock.close();
await run('server handshakes (wrong secret, protocol, epoch never issued)', n(300), async (i, r) => {
  const cases: [object, string][] = [
    [{ serverId: 'x1', secret: 'wrong-secret', power: 1, protocol: PROTOCOL_VERSION }, 'BAD_SECRET'],
    [{ serverId: 'x1', secret: NETWORK_SECRET, power: 1, protocol: 99 }, 'PROTOCOL_MISMATCH'],
    [{ serverId: 's1', secret: NETWORK_SECRET, power: 1, protocol: PROTOCOL_VERSION, epoch: 9_999 }, 'FENCED'],
    [{ serverId: 'bad id!', secret: NETWORK_SECRET, power: 1, protocol: PROTOCOL_VERSION }, 'BAD_HANDSHAKE'],
  ];
  const [auth, code] = cases[i % cases.length]!;
  expect(r, `server:${code}`, await handshake(SERVER_NAMESPACE, auth), code);
});

// 9. HTTP abuse.
await run('HTTP abuse', n(500), async (i, r) => {
  const cases: [string, RequestInit, number, string][] = [
    ['/v1/login', { method: 'POST', body: '{"player":"x"}', headers: { 'content-type': 'application/json' } }, 404, 'DEV_LOGIN_DISABLED'],
    ['/v1/admin/areas', {}, 401, 'BAD_TOKEN'],
    [
      '/v1/admin/areas/0,0/move',
      { method: 'POST', body: '{', headers: { 'content-type': 'application/json', authorization: `Bearer ${ADMIN_TOKEN}` } },
      400,
      'BAD_INPUT',
    ],
    [
      '/v1/admin/players/x/move',
      {
        method: 'POST',
        body: JSON.stringify({ area: 5 }),
        headers: { 'content-type': 'application/json', authorization: `Bearer ${ADMIN_TOKEN}` },
      },
      400,
      'BAD_INPUT',
    ],
    [
      '/v1/admin/areas/0,0/move',
      {
        method: 'POST',
        body: `{"server":"${'x'.repeat(20_000)}"}`,
        headers: { 'content-type': 'application/json', authorization: `Bearer ${ADMIN_TOKEN}` },
      },
      413,
      'BAD_INPUT',
    ],
    [`/${MARK}/${i}`, {}, 404, 'NOT_FOUND'],
  ];
  const [path, init, status, code] = cases[i % cases.length]!;
  const res = await fetch(`${url}${path}`, init);
  const body = (await res.json().catch(() => ({}))) as { error?: { code?: string } };
  expect(r, `http:${code}`, res.status === status ? body.error?.code ?? 'no code' : `HTTP ${res.status}`, path);
});

// 10. Hostile HTTP on every surface and on the upgrade, byte for byte: each answered with its status (and, where
// our code answers, its code, counted), and the node alive after each. 0 = closed without an answer.
const port = Number(new URL(url).port);
const admin = { Authorization: `Bearer ${ADMIN_TOKEN}` };
const json = { 'Content-Type': 'application/json' };
const hostile: [string, RawRequest, number, string | undefined][] = [
  ...['null', 'not a url', 'http://game.example:99999', 'http://[::1', `http://127.0.0.1:${port}.evil`].map(
    (origin): [string, RawRequest, number, string] => [
      `upgrade, Origin ${origin}`, upgradeRequest({ Origin: origin }), 400, 'ORIGIN_NOT_ALLOWED',
    ],
  ),
  ['upgrade, Origin with an empty Host', upgradeRequest({ Origin: 'http://127.0.0.1', Host: '' }), 400, undefined],
  ['upgrade, bad Sec-WebSocket-Version', upgradeRequest({ 'Sec-WebSocket-Version': '99' }), 400, undefined],
  ['upgrade, bad Sec-WebSocket-Key', upgradeRequest({ 'Sec-WebSocket-Key': 'x' }), 400, undefined],
  ['upgrade, unknown transport', { ...upgradeRequest({}), path: '/socket.io/?EIO=4&transport=flash' }, 400, undefined],
  ['polling (WebSocket only)', { path: '/socket.io/?EIO=4&transport=polling', headers: { Origin: 'null' } }, 400, undefined],
  ['upgrade on a path that is not Socket.IO', { ...upgradeRequest({}), path: '/healthz' }, 0, undefined],
  ['admin, Basic credentials', { path: '/v1/admin/areas', headers: { Authorization: 'Basic YWRtaW46YWRtaW4=' } }, 401, 'BAD_TOKEN'],
  ['admin, 8 KB bearer', { path: '/v1/admin/areas', headers: { Authorization: `Bearer ${'x'.repeat(8192)}` } }, 401, 'BAD_TOKEN'],
  ['dashboard data, no token', { path: '/v1/dashboard' }, 401, 'BAD_TOKEN'],
  ['chat pane, bad token and a bad cursor', { path: '/v1/chat?after=%00', headers: { Authorization: 'Bearer nope' } }, 401, 'BAD_TOKEN'],
  ['bad percent-encoding in a path parameter', { path: '/v1/admin/players/%E0%A4%A', headers: admin }, 400, 'BAD_INPUT'],
  ['bad percent-encoding, %zz', { path: '/v1/admin/players/%zz', headers: admin }, 400, 'BAD_INPUT'],
  ['headers over 16 KB', { path: '/healthz', headers: { Cookie: `a=${'x'.repeat(20_000)}` } }, 431, 'BAD_INPUT'],
  ['a junk cookie', { path: '/healthz', headers: { Cookie: `${MARK}=; ;;=;a=%ZZ` } }, 200, undefined],
  ['a Host with a bad port', { path: '/v1/network', headers: { Host: 'game.example:99999' } }, 200, undefined],
  ['Content-Length and Transfer-Encoding both', {
    method: 'POST', path: '/v1/admin/areas/0,0/move', headers: { ...admin, ...json, 'Content-Length': '5', 'Transfer-Encoding': 'chunked' },
    body: '0\r\n\r\n',
  }, 400, 'BAD_INPUT'],
  ['two different Content-Lengths', {
    method: 'POST', path: '/v1/login', headers: { ...json, 'Content-Length': '2\r\nContent-Length: 9' }, body: '{}',
  }, 400, 'BAD_INPUT'],
  ['Content-Length shorter than the body', {
    method: 'POST', path: '/v1/admin/areas/0,0/move', headers: { ...admin, ...json, 'Content-Length': '3' }, body: '{"server":"s1"}',
  }, 400, 'BAD_INPUT'],
  ['Content-Length longer than the body (never comes)', {
    method: 'POST', path: '/v1/admin/areas/0,0/move', headers: { ...admin, ...json, 'Content-Length': '500' }, body: '{"server":',
  }, 408, 'BAD_INPUT'],
  ['a body that trickles past the request timeout', {
    method: 'POST', path: '/v1/admin/areas/0,0/move', headers: { ...admin, ...json, 'Content-Length': '200' },
    body: `{"server":"${'s'.repeat(186)}"}`, trickleMs: 100,
  }, 408, 'BAD_INPUT'],
  ['a bad chunked body', {
    method: 'POST', path: '/v1/admin/areas/0,0/move', headers: { ...admin, ...json, 'Transfer-Encoding': 'chunked' }, body: 'zz\r\nxx\r\n',
  }, 400, 'BAD_INPUT'],
  ['an unknown charset', {
    method: 'POST', path: '/v1/admin/areas/0,0/move',
    headers: { ...admin, 'Content-Type': 'application/json; charset=utf-99', 'Content-Length': '2' },
    body: '{}',
  }, 415, 'BAD_INPUT'],
  ['JSON sent as text/plain', {
    method: 'POST', path: '/v1/admin/areas/0,0/move', headers: { ...admin, 'Content-Type': 'text/plain', 'Content-Length': '2' },
    body: '{}',
  }, 400, 'BAD_INPUT'],
  ['an odd method', { method: 'PROPFIND', path: '/healthz' }, 404, 'NOT_FOUND'],
  ['a method that is no method', { method: 'FOO', path: '/healthz' }, 400, 'BAD_INPUT'],
  ['a request line that is no HTTP', { method: 'GET', path: '/ HTTP/9.9\r\nX:' }, 400, 'BAD_INPUT'],
];
const hostileClass = 'hostile HTTP (headers, lengths, encodings, methods, slow bodies; the upgrade)';
await run(hostileClass, Math.max(hostile.length, n(300)), async (i, r) => {
  const [what, request, status, code] = hostile[i % hostile.length]!;
  const answer = await rawHttp(port, request, 4000);
  let got = answer.status === status ? 'as expected' : `HTTP ${answer.status}`;
  if (got === 'as expected' && code !== undefined && !answer.body.includes(code)) got = `no ${code} in ${answer.body.slice(0, 80)}`;
  if (code !== undefined && status !== 200) r.expected.set(`http:${code}`, (r.expected.get(`http:${code}`) ?? 0) + 1);
  if (got !== 'as expected') r.wrong.push(`${what}: expected ${status}${code ? ` ${code}` : ''}, got ${got}`);
  if (!(await fetch(`${url}/healthz`).then((x) => x.ok, () => false))) r.wrong.push(`${what}: the node did not answer /healthz after it`);
});

// 11. A connection flood: many handshakes at once, bad and good; every one answered.
await run('connection flood (100 at a time)', n(5), async (_i, r) => {
  const outcomes = await Promise.all(Array.from({ length: 100 }, async (_, j) => {
    const auth = { token: j % 2 ? MARK : await token(`flood${j}`) };
    return [j, await handshake(CLIENT_NAMESPACE, auth)] as const;
  }));
  for (const [j, got] of outcomes) {
    if (j % 2) expect(r, 'client:BAD_TOKEN', got, 'flood bad');
    else if (got !== 'connected') r.wrong.push(`flood good ${j}: ${got}`);
  }
  r.sent += 99;
});

// ---- verdicts ----
const fuzzEnd = performance.timeOrigin + performance.now();
await sleep(2000);
const measured = await new Promise<{ rtts: { at: number; ms: number }[]; marked: number; pending: number }>((resolve) => {
  legit.once('message', (m) => resolve(m as never));
  legit.send('stop');
});
const rtts = measured.rtts;
const fuzzSeen = measured.marked;
const countsAfter = await errorCounts();
const rssAfter = await rss();
const crashes = [...mesh.bridges.map((b) => b.proc), ...mesh.servers].flatMap((p) => p.crashes);
const otherAlive = await fetch(`${other.url}/healthz`).then((x) => x.ok, () => false);
await mesh.close();

const applied = parseJournal(readFileSync(join(dir, 's1.journal'), 'utf8')).filter((e) => e.kind === 'apply');
const forwarded = applied.filter((e) => e.player !== 'legit').length;
const legitSeqs = applied.filter((e) => e.player === 'legit').map((e) => e.seq);
const legitInOrder = legitSeqs.every((s, i) => s === i + 1) && measured.pending === 0;
const q = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(p * s.length))] ?? NaN;
};
const expectedCounts = new Map<string, number>();
for (const r of results) for (const [k, v] of r.expected) expectedCounts.set(k, (expectedCounts.get(k) ?? 0) + v);
const countProblems: string[] = [];
for (const [k, v] of expectedCounts) {
  const got = (countsAfter.get(k) ?? 0) - (countsBefore.get(k) ?? 0);
  if (got < v) countProblems.push(`${k}: ${v} sent, ${got} counted`);
}
const before = rtts.filter((x) => x.at < quietFrom).map((x) => x.ms);
const during = rtts.filter((x) => x.at >= quietFrom && x.at <= fuzzEnd).map((x) => x.ms);
const total = results.reduce((s, r) => s + r.sent, 0);
const wrong = results.flatMap((r) => r.wrong.map((w) => `${r.name}: ${w}`));
const memoryGrowth = rssAfter - rssBefore;
// Bad messages must not slow the others: p99 within 3x (or +50 ms of) the quiet p99. Connection
// floods and HTTP abuse cost real work per request (token checks, joins): they are held to the
// node staying responsive (p99 under 500 ms) and reported.
const within = (names: (name: string) => boolean) =>
  rtts.filter((x) => results.some((r) => names(r.name) && x.at >= r.from && x.at <= r.to)).map((x) => x.ms);
const isBurst = (name: string) => name.startsWith('connection flood') || name.includes('HTTP');
const latencyOk = q(within((x) => !isBurst(x)), 0.99) <= Math.max(3 * q(before, 0.99), q(before, 0.99) + 50)
  && q(within(isBurst), 0.99) <= 500;

log('\n| class | messages | wrong answers | legit ack p99 meanwhile |\n| --- | --- | --- | --- |');
for (const r of results) {
  const meanwhile = rtts.filter((x) => x.at >= r.from && x.at <= r.to).map((x) => x.ms);
  log(`| ${r.name} | ${r.sent} | ${r.wrong.length} | ${meanwhile.length > 0 ? `${q(meanwhile, 0.99).toFixed(0)} ms` : '—'} |`);
}
log(
  `\nbad messages ${total}; wrong answers ${wrong.length}; not counted ${countProblems.length}; ` +
    `forwarded ${forwarded}; fuzz data seen by the client ${fuzzSeen}`,
);
log(`crashes ${crashes.length} (other node alive: ${otherAlive}); `
  + `legit inputs applied once, in order: ${legitInOrder} (${legitSeqs.length})`);
log(`bridge RSS ${(rssBefore / 1e6).toFixed(1)} MB -> ${(rssAfter / 1e6).toFixed(1)} MB (${(memoryGrowth / 1e6).toFixed(1)} MB)`);
log(`legit client ack time p50/p99: quiet ${q(before, 0.5).toFixed(1)}/${q(before, 0.99).toFixed(1)} ms, during bad messages `
  + `${q(within((x) => !isBurst(x)), 0.5).toFixed(1)}/${q(within((x) => !isBurst(x)), 0.99).toFixed(1)} ms, during floods `
  + `${q(within(isBurst), 0.5).toFixed(1)}/${q(within(isBurst), 0.99).toFixed(1)} ms (all ${q(during, 0.99).toFixed(1)} ms p99)`);
for (const w of [...wrong.slice(0, 20), ...countProblems, ...crashes]) log(`  - ${w}`);
const ok = total >= (quick ? 3000 : 10_000) && wrong.length === 0 && countProblems.length === 0 && forwarded === 0 && fuzzSeen === 0
  && crashes.length === 0 && otherAlive && legitInOrder && memoryGrowth < 64e6 && latencyOk;
log(ok ? 'fuzz: PASS' : 'fuzz: FAIL');
process.exit(ok ? 0 : 1);
