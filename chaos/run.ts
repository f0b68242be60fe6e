// `npm run chaos [-- --quick]`: the fault-injection suite (R27). Redis, 3 bridge nodes and 3
// reference servers run as separate processes; clients send at a steady 20 Hz through all of it
// while one fault at a time is injected. Every server journals every input it applies (unbuffered,
// so a kill -9 loses no line); at the end the journals are audited per player (chaos/audit.ts), the
// clients must all be acknowledged, and Redis must hold no leaked key. Exits 1 on any breach.
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { MeshClient } from '../client-sdk/index.js';
import { sleep, waitFor } from '../scripts/redis-process.js';
import { auditAll, parseJournal } from './audit.js';
import { ProcessMesh } from './mesh-processes.js';

const quick = process.argv.includes('--quick');
const CLIENTS = quick ? 24 : 60;
const HZ = 20;
const ROUNDS = quick ? 1 : 2;
const GRACE_MS = 3000;
const LEASE_MS = quick ? 2000 : 5000;
const WORLD = 'chaos';
const AREAS = Array.from({ length: 9 }, (_, i) => `${i % 3},${Math.floor(i / 3)}`);
const log = (s: string) => process.stdout.write(`${s}\n`);
const dir = mkdtempSync(join(tmpdir(), 'meshbridge-chaos-'));

interface Player {
  id: string;
  client: MeshClient;
  active: boolean;
  /** When the ack moved since the current fault started (performance.now()). */
  progress: number[];
  lastAck: number;
}

const mesh = await ProcessMesh.start({
  bridges: 3, servers: 3, world: WORLD,
  bridgeEnv: {
    MESHBRIDGE_WORLD_COLS: '3', MESHBRIDGE_WORLD_ROWS: '3', MESHBRIDGE_SPAWN_AREAS: AREAS.join(' '),
    MESHBRIDGE_SESSION_GRACE_MS: String(GRACE_MS), MESHBRIDGE_SERVER_LEASE_MS: String(LEASE_MS), MESHBRIDGE_LEASE_CHECK_MS: '250',
    MESHBRIDGE_REBALANCE_INTERVAL_MS: '2000', MESHBRIDGE_AREA_COOLDOWN_MS: '5000',
  },
  serverArgs: (id) => ['--tick', String(HZ), '--snapshot-ms', '500', '--journal', join(dir, `${id}.journal`)],
});
const urls = mesh.bridges.map((b) => b.url);
const players = new Map<string, Player>();

async function connect(id: string, i: number): Promise<Player> {
  const client = new MeshClient({
    urls: [...urls.slice(i % 3), ...urls.slice(0, i % 3)],
    token: await mesh.token(id),
    maxUnacked: 1_000_000,
  });
  const p: Player = { id, client, active: true, progress: [], lastAck: 0 };
  client.on('state', () => {
    if (client.ack === p.lastAck) return;
    p.lastAck = client.ack;
    p.progress.push(performance.now());
  });
  client.on('error', () => {}); // RATE_LIMITED etc. are counted by the bridge; the audit judges
  await client.connect();
  players.set(id, p);
  return p;
}

for (let i = 0; i < CLIENTS; i++) await connect(`c${i}`, i);
let sentTotal = 0;
const sender = setInterval(() => {
  for (const p of players.values()) {
    if (!p.active) continue;
    p.client.send({ dx: Math.random() * 2 - 1, dy: Math.random() * 2 - 1 });
    sentTotal++;
  }
}, 1000 / HZ);
/** The journals' clock (ms since the epoch, as the reference servers write it). */
const wall = () => performance.timeOrigin + performance.now();
log(`chaos: ${CLIENTS} clients at ${HZ} Hz, 3 bridge nodes, 3 servers, journals in ${dir}`);
await sleep(2000);

interface FaultResult {
  fault: string; clients: number; p50: number; p99: number; max: number;
  /** When the fault's window began (journal clock) and how many inputs had been sent by then. */
  from: number; sentBefore: number;
}
const results: FaultResult[] = [];
const quantile = (sorted: number[], q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? NaN;

/** Runs one fault; `inject` resolves with the moment recovery is measured from (performance.now()). */
async function fault(
  name: string,
  inject: () => Promise<number>,
  who: () => Player[] = () => [...players.values()].filter((p) => p.active),
): Promise<void> {
  for (const p of players.values()) p.progress = [];
  const from = wall();
  const sentBefore = sentTotal;
  const t0 = await inject();
  const watched = who();
  const firstAfter = (p: Player) => p.progress.find((t) => t > t0);
  await waitFor(() => watched.every((p) => firstAfter(p) !== undefined), 30_000, `every client acknowledged again after ${name}`).catch(
    (err: Error) => log(`  ${err.message}`),
  );
  const times = watched.map((p) => (firstAfter(p) ?? Infinity) - t0).sort((a, b) => a - b);
  const r = {
    fault: name, clients: watched.length, p50: quantile(times, 0.5), p99: quantile(times, 0.99), max: times.at(-1) ?? NaN, from, sentBefore,
  };
  results.push(r);
  log(`  ${name}: acks again after p50 ${r.p50.toFixed(0)} ms, p99 ${r.p99.toFixed(0)} ms, max ${r.max.toFixed(0)} ms`);
  await sleep(1000);
}

const serverIndex = (id: string) => mesh.servers.findIndex((s) => s.name === id);

/** A player new to the world joins right after a loss; resolves with `t` once its first input is acknowledged. */
const newPlayers: { fault: string; ms: number }[] = [];
async function newcomer(fault: string, t: number, round: number): Promise<number> {
  const p = await connect(`new-${round}-${newPlayers.length}`, newPlayers.length);
  await waitFor(() => p.client.ack > 0, 30_000, `a new player served after ${fault}`);
  newPlayers.push({ fault, ms: performance.now() - t });
  log(`  ${fault}: a new player's first input acknowledged ${(performance.now() - t).toFixed(0)} ms after the loss`);
  return t;
}

let stormOk = 0;
let stormRefused = 0;
/** Admin moves racing a fault must fail with a 409 and its code, never a 500. */
const moveErrors: string[] = [];
// The full run goes through every fault twice; the quick one (CI) once.
for (let round = 0; round < ROUNDS; round++) {
  await fault('bridge node kill -9 (restarted)', async () => {
    await mesh.bridges[1]!.proc.stop('SIGKILL');
    const t = performance.now();
    await sleep(500);
    await mesh.startBridge(1);
    return t;
  });
  await fault('server kill -9, restarted after recovery', async () => {
    await mesh.servers[0]!.stop('SIGKILL');
    const t = performance.now();
    return t;
  });
  await mesh.startServer(0);
  await sleep(1000);
  await fault('server kill -9, restarted within its lease', async () => {
    await mesh.servers[1]!.stop('SIGKILL');
    const t = performance.now();
    await mesh.startServer(1);
    return t;
  });
  await fault('server SIGTERM (drain, then exit)', async () => {
    const code = await mesh.servers[2]!.stop('SIGTERM');
    if (code !== 0) log(`  s3 exited with ${code} after SIGTERM`);
    return performance.now();
  });
  await mesh.startServer(serverIndex('s3'));
  await fault('Redis SIGTERM, restarted after 1 s', async () => {
    await mesh.redis.stop('SIGTERM');
    await sleep(1000);
    await mesh.redis.start();
    return performance.now();
  });
  await fault('Redis kill -9, restarted after 1 s', async () => {
    await mesh.redis.stop('SIGKILL');
    await sleep(1000);
    await mesh.redis.start();
    return performance.now();
  });
  // Hung, not dead (issue 27): Redis frozen for 3 s holds — nothing lost or applied twice; measured from its waking.
  await fault('Redis frozen 3 s (SIGSTOP, then SIGCONT)', async () => {
    const pid = mesh.redis.pid!;
    process.kill(pid, 'SIGSTOP');
    await sleep(3000);
    process.kill(pid, 'SIGCONT');
    return performance.now();
  });
  await fault('bridge node frozen 6 s (SIGSTOP, then SIGCONT)', async () => {
    mesh.bridges[1]!.proc.freeze(true);
    const t = performance.now();
    await sleep(6000);
    mesh.bridges[1]!.proc.freeze(false);
    return t;
  });
  // A game server frozen past the heartbeat and its grace: recovered elsewhere; woken, it applies nothing stale.
  await fault('game server frozen 8 s (SIGSTOP, then SIGCONT)', async () => {
    const frozen = mesh.servers[round % mesh.servers.length]!;
    frozen.freeze(true);
    const t = performance.now();
    await sleep(8000);
    frozen.freeze(false);
    return t;
  });
  // Redis loses the world's data (issue 26): the map is rebuilt from the live parties. Measured per fault: from the
  // loss to a new player's first acknowledged input.
  const olderData = await mesh.redis.snapshot();
  const snapshotAt = performance.now();
  await fault('Redis FLUSHALL under load', async () => {
    const conn = new Redis(mesh.redis.url);
    await conn.flushall();
    conn.disconnect();
    return newcomer('Redis FLUSHALL under load', performance.now(), round);
  });
  await fault('Redis restarted without persistence', async () => {
    await mesh.redis.restart();
    return newcomer('Redis restarted without persistence', performance.now(), round);
  });
  await sleep(Math.max(0, 10_000 - (performance.now() - snapshotAt))); // the case: a snapshot at least 10 s old
  const age = ((performance.now() - snapshotAt) / 1000).toFixed(0);
  await fault(`Redis restored from a snapshot ${age} s old`, async () => {
    await mesh.redis.restart(olderData);
    return newcomer(`Redis restored from a snapshot ${age} s old`, performance.now(), round);
  });
  await fault('handoff and area-move storm (admin API, 3 s)', async () => {
    const until = performance.now() + 3000;
    const ids = [...players.keys()];
    while (performance.now() < until) {
      const player = ids[Math.floor(Math.random() * ids.length)]!;
      const area = AREAS[Math.floor(Math.random() * AREAS.length)]!;
      const server = mesh.servers[Math.floor(Math.random() * mesh.servers.length)]!.name;
      const [a, b] = await Promise.all([mesh.admin(`players/${player}/move`, { area }), mesh.admin(`areas/${area}/move`, { server })]);
      for (const r of [a, b]) if (r.ok) stormOk++; else stormRefused++;
      await sleep(50);
    }
    return performance.now();
  });
  // Pages reloaded right after the node holding their server's link died: fresh clients (no ack, nothing kept)
  // must be told the true ack, never a guess (a low one would have their inputs dropped as duplicates).
  const reloaded = [...players.values()].filter((p) => p.active).slice(10 + round * 4, 14 + round * 4);
  await fault('pages reloaded right after a bridge kill -9', async () => {
    for (const p of reloaded) { p.active = false; p.client.close(); }
    await mesh.bridges[1]!.proc.stop('SIGKILL');
    const t = performance.now();
    await sleep(300);
    await Promise.all(reloaded.map((p, i) => connect(p.id, i)));
    await mesh.startBridge(1);
    return t;
  }, () => reloaded.map((p) => players.get(p.id)!));
  await fault('server kill -9 with handoffs in flight', async () => {
    const ids = [...players.keys()];
    // A request whose own connection dies with a node is no answer; only what the mesh answers counts.
    const moves = Array.from({ length: 8 }, (_, i) => mesh.admin(`players/${ids[(i * 7 + round) % ids.length]!}/move`, {
      area: AREAS[(i * 5 + round) % AREAS.length]!,
    }).catch(() => undefined));
    await sleep(10);
    await mesh.servers[0]!.stop('SIGKILL');
    const t = performance.now();
    for (const r of await Promise.all(moves)) {
      if (r?.status === 500) moveErrors.push(`handoff in flight answered 500: ${await r.text()}`);
    }
    await mesh.startServer(0);
    return t;
  });
  await fault('bridge kill -9 during area moves', async () => {
    const moves = AREAS.slice(0, 3).map((area, i) => mesh.admin(`areas/${area}/move`, { server: mesh.servers[(i + round) % 3]!.name })
      .catch(() => undefined));
    await sleep(10);
    await mesh.bridges[2]!.proc.stop('SIGKILL');
    const t = performance.now();
    for (const r of await Promise.all(moves)) {
      if (r?.status === 500) moveErrors.push(`area move answered 500: ${await r.text()}`);
    }
    await sleep(300);
    await mesh.startBridge(2);
    return t;
  });
  const leavers = [...players.values()].filter((p) => p.active).slice(round * 5, round * 5 + 5);
  await fault('players leave past the grace period, then rejoin', async () => {
    for (const p of leavers) { p.active = false; p.client.close(); }
    await sleep(GRACE_MS + 1500);
    for (const [i, p] of leavers.entries()) await connect(p.id, i);
    return performance.now();
  }, () => leavers.map((p) => players.get(p.id)!));
}

clearInterval(sender);
await waitFor(() => [...players.values()].every((p) => p.client.pending === 0), 30_000, 'every input acknowledged').catch(() => undefined);
const stuck = [...players.values()].filter((p) => p.client.pending > 0).map((p) => `${p.id} (${p.client.pending} unacked)`);
const acked = new Map([...players.values()].map((p) => [p.id, p.client.ack]));
const sent = [...acked.values()].reduce((a, b) => a + b, 0);
for (const p of players.values()) p.client.close();

// Every session ends once its grace period passes; then nothing may be left behind in Redis.
await sleep(GRACE_MS + 2000);
const leaks = await keyLeaks();
const crashes = [...mesh.bridges.map((b) => b.proc), ...mesh.servers].flatMap((p) => p.crashes);
await mesh.close();

const events = mesh.servers.flatMap((s) => {
  try { return parseJournal(readFileSync(join(dir, `${s.name}.journal`), 'utf8')); } catch { return []; }
});
const audits = auditAll(events, acked);
const violations = audits.flatMap((a) => a.violations.map((v) => `${a.player}: ${v}`));
const rolledBack = audits.reduce((s, a) => s + a.rolledBack, 0);
const applied = audits.reduce((s, a) => s + a.applied, 0);

// Per fault: what happened from its start to the next fault's (the journals' clock). `replayed`: applied
// again after a crash rewound the player to its autosave (zero loss); `lost or twice`: audit violations.
const perFault = results.map((r, i) => {
  const until = results[i + 1]?.from ?? Infinity;
  const count = (pick: (a: (typeof audits)[number]) => number[]) =>
    audits.reduce((n, a) => n + pick(a).filter((t) => t >= r.from && t < until).length, 0);
  return {
    ...r,
    sent: (results[i + 1]?.sentBefore ?? sentTotal) - r.sentBefore,
    applied: count((a) => a.times.applied),
    replayed: count((a) => a.times.replayed),
    rolledBack: count((a) => a.times.rolledBack),
    violations: count((a) => a.times.violations),
  };
});
log('\n| fault | clients | sent | applied | replayed | lost or twice | rolled back | acks again p50 | p99 | max |');
log('| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |');
for (const r of perFault) {
  log(`| ${r.fault} | ${r.clients} | ${r.sent} | ${r.applied} | ${r.replayed} | ${r.violations} | ${r.rolledBack} | `
    + `${r.p50.toFixed(0)} ms | ${r.p99.toFixed(0)} ms | ${r.max.toFixed(0)} ms |`);
}
log(`\ninputs acknowledged ${sent}, applications journaled ${applied}, rolled back and not applied again ${rolledBack} (must be 0)`);
log(`storm: ${stormOk} moves done, ${stormRefused} refused (moves racing each other are refused, never half-done)`);
for (const n of newPlayers) log(`${n.fault}: a new player served ${n.ms.toFixed(0)} ms after the loss`);
log(`violations ${violations.length}, stuck clients ${stuck.length}, leaked keys ${leaks.length}, crashes ${crashes.length}, `
  + `moves answered 500 ${moveErrors.length}`);
for (const v of [...violations.slice(0, 20), ...stuck, ...leaks, ...crashes, ...moveErrors]) log(`  - ${v}`);
mkdirSync(new URL('./results/', import.meta.url), { recursive: true });
writeFileSync(new URL('./results/latest.json', import.meta.url), JSON.stringify({
  at: new Date().toISOString(), quick, clients: CLIENTS, hz: HZ, faults: perFault, acknowledged: sent, applied, rolledBack,
  violations: violations.length, stuck: stuck.length, leaks, crashes: crashes.length, moveErrors, newPlayers,
}, null, 2));
// Zero loss (docs/mesh.md): every client stays up through the faults, so no input may stay rolled back.
const ok = violations.length === 0 && stuck.length === 0 && leaks.length === 0 && crashes.length === 0 && rolledBack === 0
  && moveErrors.length === 0;
log(ok ? 'chaos: PASS' : 'chaos: FAIL');
process.exit(ok ? 0 : 1);

/**
 * What Redis holds once every client left and every grace period passed. Allowed: the authority
 * map itself, one record per player and server ever seen (last area and seq outlive a session by
 * design), BullMQ's own keys, and markers with a TTL. A leak is anything else, a marker without a
 * TTL, a session still bound, the session set of a node that is gone, or an area held by a
 * dead server.
 */
async function keyLeaks(): Promise<string[]> {
  const redis = new Redis(mesh.redis.url);
  try {
    const base = `mb:{${WORLD}}:`;
    const keys = await redis.keys(`${base}*`);
    const live = new Set(await redis.zrangebyscore(`${base}nodes`, String(Date.now()), '+inf'));
    const out: string[] = [];
    for (const key of keys) {
      const rest = key.slice(base.length);
      if (/^(areas|servers|leases|area-state|area-load|nodes|node-info|nodes-by-age|chunks|chunk-refs|incarnation)$/.test(rest)) continue;
      const bytes = /^chunk:([0-9a-f]{64})$/.exec(rest);
      if (bytes) {
        // World data is kept by design, but only bytes some chunk still refers to.
        if (Number(await redis.hget(`${base}chunk-refs`, bytes[1]!)) <= 0) out.push(`${key}: bytes no chunk refers to`);
        continue;
      }
      if (/^control:/.test(rest)) continue; // BullMQ (removeOnComplete; failed jobs are capped)
      if (/^(chat:|chat-room:)/.test(rest)) continue; // chat history and rooms are kept by design
      if (/^(moving|cooldown|chat-mute|chat-rate):/.test(rest) || rest === 'listing-leader') {
        if ((await redis.pttl(key)) < 0) out.push(`${key} has no TTL`);
        continue;
      }
      const node = /^node:([^:]+):players$/.exec(rest);
      if (node) {
        if (!live.has(node[1]!) && (await redis.scard(key)) > 0) out.push(`${key}: sessions of a node that is gone`);
        continue;
      }
      const player = /^player:([^:]+)$/.exec(rest);
      if (player) {
        const session = await redis.hget(key, 'session');
        if (session) out.push(`${key}: session still bound after every client left`);
        continue;
      }
      if (/^server:[^:]+(:players|:delivered)?$/.test(rest)) continue;
      out.push(`${key}: unexpected key`);
    }
    const areas = await redis.hgetall(`${base}areas`);
    for (const [area, raw] of Object.entries(areas)) {
      const { server } = JSON.parse(raw) as { server: string };
      const status = server ? await redis.hget(`${base}server:${server}`, 'status') : 'none';
      if (status === 'dead' || status === 'gone') out.push(`area ${area} still held by ${server} (${status})`);
    }
    return out;
  } finally {
    redis.disconnect();
  }
}
