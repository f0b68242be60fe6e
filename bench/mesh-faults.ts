// P4 and P5, measured on an in-process mesh (the test harness): the handoff pause under load, and
// the time from kill -9 of a game server process to all its players being served again.
import type { BridgeNode } from '../bridge/bridge-node.js';
import type { JournalEntry } from '../gameserver-stub/reference-server.js';
import type { RedisServer } from '../scripts/redis-process.js';
import { Mesh, sleep, waitFor } from '../test/harness.js';
import { firstStateFrom } from '../test/helpers.js';

export const quantile = (sorted: number[], q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? NaN;

/**
 * Handoff pauses from servers' journals, sorted: per player, in seq order, the time from the last
 * input one server applied to the first the next one applied. `gaps`: seqs missing in between.
 */
export function handoffPauses(applied: JournalEntry[], players: string[]): { pauses: number[]; gaps: number } {
  const pauses: number[] = [];
  let gaps = 0;
  for (const player of players) {
    const mine = applied.filter((e) => e.player === player).sort((x, y) => x.seq - y.seq);
    for (let i = 1; i < mine.length; i++) {
      if (mine[i]!.seq !== mine[i - 1]!.seq + 1) gaps++;
      if (mine[i]!.server !== mine[i - 1]!.server) pauses.push(mine[i]!.at - mine[i - 1]!.at);
    }
  }
  return { pauses: pauses.sort((x, y) => x - y), gaps };
}

/**
 * Two players send ~500 inputs/s each (so the gap between two inputs does not hide the pause)
 * while being handed back and forth, beside 40 players at 20 Hz. Pause = last input applied by
 * the source -> first applied by the target, per handoff, from the servers' own journal. The whole
 * mesh shares this one process, so its event loop is part of every pause.
 */
export async function measureHandoffPauses(
  redis: RedisServer,
  handoffs: number,
): Promise<{ handoffs: number; inputs: number; p50: number; p99: number; max: number }> {
  const mesh = new Mesh(redis);
  try {
    const [a, b, c] = [await mesh.addBridge(), await mesh.addBridge(), await mesh.addBridge()];
    const journal: JournalEntry[] = [];
    const s1 = await mesh.addServer(b, 's1', { journal });
    const s2 = await mesh.addServer(c, 's2', { journal });
    await a.testHook.assignArea('1,0', 's2');
    const movers = await Promise.all(['m0', 'm1'].map((p, i) => mesh.addClient([a, b, c][i % 3]!, p, { maxUnacked: 1_000_000 })));
    const background = await Promise.all(Array.from({ length: 40 }, (_, i) => mesh.addClient([a, b, c][i % 3]!, `bg${i}`)));
    let running = true;
    const senders = [
      (async () => {
        while (running) {
          for (const m of movers) m.send({ dx: 1 });
          await sleep(2);
        }
      })(),
      (async () => {
        while (running) {
          for (const bg of background) bg.send({ dy: 1 });
          await sleep(50);
        }
      })(),
    ];
    await Promise.all(
      movers.map(async (m) => {
        for (let i = 0; i < handoffs / movers.length; i++) {
          const r = await (i % 2 === 0 ? s1 : s2).sdk.handoff(m.player!, i % 2 === 0 ? '1,0' : '0,0');
          if (!r.ok) throw new Error(r.message);
        }
      }),
    );
    running = false;
    await Promise.all(senders);
    await waitFor(() => movers.every((m) => m.pending === 0), 20_000, 'movers acked');
    const { pauses } = handoffPauses(journal, movers.map((m) => m.player!));
    return {
      handoffs,
      inputs: movers.reduce((s, m) => s + m.ack, 0),
      p50: quantile(pauses, 0.5),
      p99: quantile(pauses, 0.99),
      max: pauses.at(-1) ?? NaN,
    };
  } finally {
    await mesh.close();
  }
}

/** kill -9 of a reference server process; seconds until every one of its players got state from its new owner. */
export async function measureFailover(redis: RedisServer): Promise<{ players: number; seconds: number; graceMs: number }> {
  const mesh = new Mesh(redis);
  try {
    // The defaults a user gets (lease, reconnect grace, lease check): only the world is set.
    const opts = { worldCols: 4, worldRows: 1, spawnAreas: '0,0 1,0 2,0 3,0' };
    const [a, b] = [await mesh.addBridge(opts), await mesh.addBridge(opts)];
    const doomed = await mesh.spawnServer(a, 'doomed');
    const clients = await Promise.all(Array.from({ length: 20 }, (_, i) => mesh.addClient([a, b][i % 2]!, `f${i}`)));
    await mesh.addServer(b, 'survivor');
    let sending = true;
    const sender = (async () => { while (sending) { for (const cl of clients) cl.send({ dx: 1 }); await sleep(50); } })();
    await sleep(1500);
    const served = clients.map((cl) => firstStateFrom(cl, a.testHook.cache, 'survivor'));
    const killed = performance.now();
    doomed.kill('SIGKILL');
    const times = await Promise.all(served);
    sending = false;
    await sender;
    return { players: clients.length, seconds: (Math.max(...times) - killed) / 1000, graceMs: a.config.serverReconnectGraceMs };
  } finally {
    await mesh.close();
  }
}

const total = async (c: { get(): Promise<{ values: { value: number }[] }> }) => (await c.get()).values.reduce((s, v) => s + v.value, 0);

/**
 * Fan-out of area state: 4 bridge nodes, a 16x1 world, one game server per node owning its four
 * areas, and on each node clients in two areas of its own quarter. Every server ticks at 10 Hz.
 * Reports area-state bytes each node received ÷ bytes published mesh-wide (1.0 when every node
 * gets every area, as before interest management).
 */
export async function measureFanout(redis: RedisServer, seconds: number): Promise<{ perNode: number[]; ratio: number }> {
  const mesh = new Mesh(redis);
  try {
    const opts = { worldCols: 16, worldRows: 1, spawnAreas: '1,0' };
    const nodes: BridgeNode[] = [];
    for (let i = 0; i < 4; i++) nodes.push(await mesh.addBridge(opts));
    for (let i = 0; i < 4; i++) {
      await mesh.addServer(nodes[i]!, `s${i}`);
      for (let j = 0; j < 4; j++) await nodes[0]!.testHook.assignArea(`${4 * i + j},0`, `s${i}`);
    }
    for (let i = 0; i < 4; i++) {
      for (const [k, area] of [`${4 * i + 1},0`, `${4 * i + 2},0`].entries()) {
        const c = await mesh.addClient(nodes[i]!, `f${i}-${k}`);
        if (c.session?.area !== area) await nodes[i]!.testHook.handoff(c.player!, area);
      }
    }
    const bytes = () => Promise.all(nodes.map(async (n) => {
      const m = n.testHook.metrics;
      return [await total(m.areaBytesPublished), await total(m.areaBytesReceived)];
    }));
    const before = await bytes();
    await sleep(seconds * 1000);
    const after = await bytes();
    const published = after.reduce((s, [p], i) => s + p! - before[i]![0]!, 0);
    const perNode = after.map(([, r], i) => (r! - before[i]![1]!) / published);
    return { perNode, ratio: Math.max(...perNode) };
  } finally {
    await mesh.close();
  }
}

/** Server-to-server rpc round trips across two nodes, `count` calls at `rate` per second. */
export async function measureRpc(redis: RedisServer, count: number, rate: number): Promise<{ calls: number; p50: number; p99: number }> {
  const mesh = new Mesh(redis);
  try {
    const [a, b] = [await mesh.addBridge({ rpcPerSecond: rate * 2, rpcBurst: rate * 2 }), await mesh.addBridge()];
    const s1 = await mesh.addServer(a, 's1');
    const s2 = await mesh.addServer(b, 's2');
    s2.sdk.handle('echo', (p) => p);
    const times: number[] = [];
    const calls: Promise<void>[] = [];
    for (let i = 0; i < count; i++) {
      const started = performance.now();
      calls.push(s1.sdk.call('s2', 'echo', { i }).then(() => { times.push(performance.now() - started); }));
      await sleep(1000 / rate);
    }
    await Promise.all(calls);
    times.sort((x, y) => x - y);
    return { calls: times.length, p50: quantile(times, 0.5), p99: quantile(times, 0.99) };
  } finally {
    await mesh.close();
  }
}

/**
 * A new server joins a world of `count` chunks of `size` bytes (uploaded by another server through
 * another node) and syncs them all before it is ready, at the default syncBytesPerSecond.
 */
export async function measureSync(
  redis: RedisServer, count: number, size: number,
): Promise<{ chunks: number; bytes: number; seconds: number; bytes_per_s: number; budget: number; throttled: number }> {
  const mesh = new Mesh(redis);
  try {
    const [a, b] = [await mesh.addBridge(), await mesh.addBridge()];
    const s1 = await mesh.addServer(a, 's1', { editEvery: 0 });
    for (let i = 0; i < count; i += 50) {
      const batch = Array.from({ length: Math.min(50, count - i) }, (_, j) => i + j);
      await Promise.all(batch.map((n) => s1.sdk.sync.put(`c/${n}`, Buffer.alloc(size, n))));
    }
    const started = performance.now();
    const s2 = await mesh.addServer(b, 's2', { editEvery: 0 });
    const seconds = (performance.now() - started) / 1000;
    const bytes = s2.sdk.sync.fetchedBytes;
    return {
      chunks: s2.sdk.sync.chunks.size, bytes, seconds, bytes_per_s: bytes / seconds,
      budget: b.config.syncBytesPerSecond, throttled: s2.sdk.sync.throttled,
    };
  } finally {
    await mesh.close();
  }
}
