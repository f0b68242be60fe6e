// The seamless world, part 1: clients see across server borders, nodes hear only what their
// clients and servers need, servers get read-only ghosts, and servers call and message each other.
import { expect } from 'chai';
import type { GhostItem, StateItem } from '../shared/protocol.js';
import { Mesh, waitFor } from './harness.js';
import { recordState } from './helpers.js';
import { sharedRedis } from './setup.js';
import { type RpcError } from '../gameserver-stub/sdk.js';

type AreaState = Extract<StateItem, { kind: 'area' }>;
const areaItems = (items: StateItem[]) => items.filter((s): s is AreaState => s.kind === 'area');
const tickOf = (s: AreaState) => (s.data as { tick: number }).tick;

describe('interest: players see across borders, nodes hear only what they need', () => {
  let mesh: Mesh;
  beforeEach(() => { mesh = new Mesh(sharedRedis()); });
  afterEach(() => mesh.close());

  /** Two nodes a and b, s1 linked on a and s2 on b, a cols x 1 world with the given owners. */
  const twoNodes = async (cols: number, owners: Record<string, 's1' | 's2'>) => {
    const opts = { worldCols: cols, worldRows: 1 };
    const [a, b] = [await mesh.addBridge(opts), await mesh.addBridge(opts)];
    const [s1, s2] = [await mesh.addServer(a, 's1'), await mesh.addServer(b, 's2')];
    for (const [area, server] of Object.entries(owners)) await a.testHook.assignArea(area, server);
    return { a, b, s1, s2 };
  };

  it('a player at the border of two servers on two nodes receives both areas', async () => {
    const { a } = await twoNodes(2, { '0,0': 's1', '1,0': 's2' });
    const alice = await mesh.addClient(a, 'alice');
    const seen = recordState(alice);
    await waitFor(() => new Set(areaItems(seen).map((s) => s.area)).size === 2, 3000, 'both areas');
    expect(alice.session?.area).to.equal('0,0', 'her own area is the session\'s (and the authority event\'s) area');
  });

  it('a node whose clients are all in one corner hears nothing of a distant busy area', async () => {
    const { a, b } = await twoNodes(4, { '0,0': 's1', '1,0': 's2', '3,0': 's2' });
    await mesh.addClient(a, 'alice'); // spawns in 0,0: sees 0,0 and 1,0
    const bob = await mesh.addClient(b, 'bob');
    const r = await b.testHook.handoff('bob', '3,0');
    expect(r.ok).to.equal(true);
    for (let i = 0; i < 30; i++) bob.send({ dx: 1 });
    await waitFor(() => bob.ack === 30, 3000, 'bob busy in 3,0');
    // Positive control: node a hears 1,0 (a neighbour of its clients' area) from node b.
    await waitFor(() => a.testHook.interest().heard.includes('1,0'), 3000, 'a hears 1,0');
    expect(a.testHook.interest().subscribed).to.deep.equal(['0,0', '1,0']);
    expect(a.testHook.interest().heard).not.to.include('3,0');
    expect(b.testHook.interest().subscribed).to.include.members(['2,0', '3,0']);
  });

  it('after a handoff the interest set follows at once: no tick of the new area missed, the old one dropped', async function () {
    this.timeout(15_000);
    const { a } = await twoNodes(4, { '0,0': 's1', '1,0': 's2', '3,0': 's2' });
    const alice = await mesh.addClient(a, 'alice');
    const seen = recordState(alice);
    await waitFor(() => areaItems(seen).some((s) => s.area === '1,0'), 3000, 'neighbour seen');
    expect((await a.testHook.handoff('alice', '3,0')).ok).to.equal(true);
    const movedAt = seen.length;
    await waitFor(() => areaItems(seen.slice(movedAt)).filter((s) => s.area === '3,0').length >= 10, 5000, 'ten ticks of 3,0');
    const after = areaItems(seen.slice(movedAt));
    const ticks = after.filter((s) => s.area === '3,0').map(tickOf);
    for (let i = 1; i < ticks.length; i++) expect(ticks[i]! - ticks[i - 1]!, `ticks ${ticks.join(',')}`).to.equal(1);
    // 0,0 left her radius: after the change settled, no more of it (2,0 has no owner, 1,0 and 3,0 do).
    const settled = seen.length;
    await waitFor(() => areaItems(seen.slice(settled)).filter((s) => s.area === '3,0').length >= 5, 3000, 'five more ticks');
    expect(areaItems(seen.slice(settled)).map((s) => s.area).filter((x) => x === '0,0')).to.deep.equal([]);
    expect(a.testHook.interest().subscribed).not.to.include('0,0');
  });

  it('servers get ghosts of neighbouring areas, read-only, following an area move', async () => {
    const { a, s1, s2 } = await twoNodes(3, { '0,0': 's1', '1,0': 's2', '2,0': 's2' });
    const ghosts: GhostItem[] = [];
    s1.sdk.on('ghost', (batch) => ghosts.push(...batch));
    await waitFor(() => ghosts.some((g) => g.area === '1,0'), 3000, 'a ghost of 1,0');
    expect(ghosts.every((g) => g.area === '1,0' && g.server === 's2'), 'only its neighbour, from its owner').to.equal(true);
    expect(a.testHook.watched('s1')).to.deep.equal(['1,0']);
    // Read-only: pushing state for the watched area is refused.
    const errs: string[] = [];
    s1.sdk.on('bridge-error', (e) => errs.push(e.code));
    s1.sdk.pushUnchecked([{ kind: 'area', area: '1,0', epoch: ghosts[0]!.epoch, data: 'mine' }]);
    await waitFor(() => errs.length > 0, 2000, 'refused');
    expect(errs[0]).to.equal('NOT_OWNER');
    // An explicit watch, and watches follow ownership: s1 takes 1,0, so it watches 2,0 instead.
    s1.sdk.watch(['2,0']);
    await waitFor(() => a.testHook.watched('s1').includes('2,0'), 2000, 'watching 2,0');
    await a.testHook.moveArea('1,0', 's1');
    await waitFor(() => a.testHook.watched('s1').join() === '2,0', 3000, 'ghosts follow the move');
    ghosts.length = 0;
    await waitFor(() => ghosts.some((g) => g.area === '2,0'), 3000, 'ghost of 2,0');
    expect(ghosts.some((g) => g.area === '1,0')).to.equal(false, 'no ghost of an area it owns');
    const s2errs: string[] = [];
    s2.sdk.on('bridge-error', (e) => s2errs.push(e.code));
    s2.sdk.watch(['9,9']);
    await waitFor(() => s2errs.length > 0, 2000, 'watching outside the grid refused');
    expect(s2errs[0]).to.equal('BAD_INPUT');
  });

  it('rpc across nodes: a result, REMOTE_ERROR, NO_SERVER, BAD_INPUT over the payload limit, TIMEOUT when the target dies', async () => {
    const opts = { maxRpcBytes: 1024 };
    const [a, b] = [await mesh.addBridge(opts), await mesh.addBridge(opts)];
    const s1 = await mesh.addServer(a, 's1');
    const s2 = await mesh.addServer(b, 's2');
    s2.sdk.handle('double', (p) => (p as number) * 2);
    s2.sdk.handle('fail', () => { throw new Error('no such thing'); });
    s2.sdk.handle('die', () => { s2.stop(); return new Promise(() => {}); });
    expect(await s1.sdk.call('s2', 'double', 21)).to.equal(42);
    const code = (p: Promise<unknown>) => p.then(() => 'ok', (e: RpcError) => e.code);
    expect(await code(s1.sdk.call('s2', 'fail'))).to.equal('REMOTE_ERROR');
    expect(await code(s1.sdk.call('nobody', 'double', 1))).to.equal('NO_SERVER');
    expect(await code(s1.sdk.call('s2', 'double', 'x'.repeat(2000)))).to.equal('BAD_INPUT');
    expect(await code(s1.sdk.call('s2', 'double', 1, 60_000))).to.equal('BAD_INPUT');
    const started = Date.now();
    expect(await code(s1.sdk.call('s2', 'die', null, 500))).to.equal('TIMEOUT');
    expect(Date.now() - started).to.be.below(5000, 'the caller\'s own timeout fired');
  });

  it('rpc and message share a per-server rate limit: RATE_LIMITED, counted, nothing forwarded', async () => {
    const node = await mesh.addBridge({ rpcPerSecond: 1, rpcBurst: 2 });
    const s1 = await mesh.addServer(node, 's1');
    const s2 = await mesh.addServer(node, 's2');
    // s2's SDK is ready once its sync:ready is answered; the node's cache hears it a moment later.
    await waitFor(() => node.testHook.cache.servers.get('s2')?.status === 'ready', 2000, 's2 ready on the node');
    let handled = 0;
    s2.sdk.handle('count', () => ++handled);
    const code = (p: Promise<unknown>) => p.then(() => 'ok', (e: RpcError) => e.code);
    expect(await Promise.all([1, 2, 3].map(() => code(s1.sdk.call('s2', 'count'))))).to.deep.equal(['ok', 'ok', 'RATE_LIMITED']);
    expect(handled).to.equal(2);
    const errs: string[] = [];
    s1.sdk.on('bridge-error', (e) => errs.push(e.code));
    s1.sdk.send('s2', 'too-many');
    await waitFor(() => errs.length === 1, 2000, 'message refused');
    expect(errs).to.deep.equal(['RATE_LIMITED']);
    expect((await node.testHook.metrics.errors.get()).values.find((v) => v.labels.code === 'RATE_LIMITED')?.value).to.equal(2);
  });

  it('message to * reaches every other ready server exactly once, across nodes', async () => {
    const [a, b] = [await mesh.addBridge(), await mesh.addBridge()];
    const servers = [
      await mesh.addServer(a, 's1'),
      await mesh.addServer(b, 's2'),
      await mesh.addServer(b, 's3'),
      await mesh.addServer(a, 's4'),
    ];
    // "Ready" is each node's view: a server's sync:ready reaches the other node's cache a moment after its SDK hears it.
    await waitFor(() => [a, b].every((n) => servers.every((s) => n.testHook.cache.servers.get(s.id)?.status === 'ready')), 3000,
      'every node sees the four servers ready');
    const got = new Map<string, string[]>();
    for (const s of servers) s.sdk.on('message', (m) => got.set(s.id, [...(got.get(s.id) ?? []), `${m.from}:${m.topic}`]));
    servers[0]!.sdk.send('*', 'hello', { n: 1 });
    servers[0]!.sdk.send('s3', 'direct');
    // Positive control: a second broadcast, sent after, reaches everyone; a duplicate of the first would be in before it.
    servers[0]!.sdk.send('*', 'bye');
    // The direct message may take another channel (another shard under Redis Cluster): it is waited for on its own.
    await waitFor(() => ['s2', 's3', 's4'].every((s) => got.get(s)?.includes('s1:bye')), 3000, 'broadcasts delivered');
    await waitFor(() => got.get('s3')?.includes('s1:direct') === true, 3000, 'direct message delivered');
    // Broadcasts keep their order; a direct message travels apart from them (documented: no order between the two).
    expect(got.get('s3')?.filter((m) => m !== 's1:direct')).to.deep.equal(['s1:hello', 's1:bye']);
    expect(got.get('s3')?.filter((m) => m === 's1:direct')).to.have.length(1);
    expect(Object.fromEntries([...got].filter(([s]) => s !== 's3'))).to.deep.equal({
      s2: ['s1:hello', 's1:bye'],
      s4: ['s1:hello', 's1:bye'],
    });
  });
});
