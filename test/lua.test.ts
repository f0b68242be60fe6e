// Each Lua script on its own, against a real Redis: its return codes, what it writes, what it
// announces, and the invariant its header states.
import { expect } from 'chai';
import { Redis } from 'ioredis';
import {
  loadScripts, loadWorldScripts, scriptSource, type OwnershipScripts, type RecordScripts, type WorldScripts,
} from '../bridge/authority/lua-scripts.js';
import { WireError } from '../bridge/relay/wire-error.js';
import { Keys } from '../shared/keys.js';
import { sharedRedis } from './setup.js';

describe('lua scripts, each on its own', () => {
  let redis: Redis;
  let sub: Redis;
  let own: OwnershipScripts;
  let rec: RecordScripts;
  let k: Keys;
  let heard: Record<string, unknown>[];
  let world = 0;
  let worldScripts: WorldScripts;
  /** The guarded scripts serve incarnation 'inc-1' of each test's world; `lost` records what they refused. */
  const lost: string[] = [];
  const guard = { get markerKey() { return k.incarnation; }, incarnation: 'inc-1', lost: (why: string) => lost.push(why) };

  before(async () => {
    redis = new Redis(sharedRedis().url);
    sub = new Redis(sharedRedis().url);
    ({ ownership: own, records: rec } = loadScripts(redis, guard));
    worldScripts = loadWorldScripts(redis);
  });
  after(() => { redis.disconnect(); sub.disconnect(); });
  beforeEach(async () => {
    k = new Keys('lua', `w${++world}`);
    await redis.hset(k.incarnation, 'id', 'inc-1', 'n', 1, 'rev', 0);
    lost.length = 0;
    heard = [];
    await sub.ssubscribe(k.authorityChannel);
    sub.removeAllListeners('smessage');
    sub.on('smessage', (_c: string, m: string) => heard.push(JSON.parse(m) as Record<string, unknown>));
  });
  const announced = async (n: number) => {
    for (let i = 0; i < 100 && heard.length < n; i++) await new Promise((r) => setTimeout(r, 5));
    return heard;
  };
  const register = (id: string, status = 'ready') =>
    rec.serverRegister(k.server(id), k.servers, k.leases, id, 'node1', 2, 10_000, k.authorityChannel, status);
  const assignArea = (area: string, expected: number, server: string, updateId = '') =>
    own.areaAssign(k.areas, k.server(server), area, expected, server, k.authorityChannel, updateId, 'node1');
  const assignPlayer = (player: string, expected: number, area: string, server: string, current: string, seq = 0) => own.playerAssign(
    k.player(player), k.areas, k.serverPlayers(current), k.serverPlayers(server), k.areaMoving(area), k.server(server),
    player, expected, area, server, current, seq, k.authorityChannel, 'u1', 'node1', '', 'join');

  it('includes are resolved once, and no script publishes by hand what an include announces', () => {
    for (const file of ['area_assign.lua', 'area_migrate.lua', 'player_assign.lua', 'player_leave.lua', 'server_register.lua',
      'server_report.lua', 'server_status.lua', 'server_disconnect.lua']) {
      const src = scriptSource(file);
      expect(src, file).not.to.match(/@include/);
      expect(src.match(/local function announce_\w+/g)?.length ?? 0, file).to.be.at.most(2);
    }
    expect(scriptSource('area_migrate.lua').match(/local function announce_area/g)).to.have.length(1);
  });

  it('server_register: every registration a greater epoch, status ready, announced from the hash', async () => {
    expect(await register('s1')).to.deep.equal([1, '', 'ready']);
    await rec.serverStatus(k.server('s1'), k.leases, k.servers, 's1', 1, 'draining', k.authorityChannel, '0');
    expect(await register('s1')).to.deep.equal([2, 'draining', 'ready']);
    const last = (await announced(3)).at(-1);
    expect(last).to.deep.equal({ t: 'server', id: 's1', node: 'node1', power: 2, load: 0, status: 'ready', epoch: 2 });
    expect(await redis.zscore(k.leases, 's1')).not.to.equal(null);
  });

  it('server_register / server_status: a fresh session syncs until synced, also across a reconnect; synced only from syncing', async () => {
    const status = async () => redis.hget(k.server('s9'), 'status');
    const set = (epoch: number, to: string) =>
      rec.serverStatus(k.server('s9'), k.leases, k.servers, 's9', epoch, to, k.authorityChannel, '0');
    expect(await register('s9', 'syncing')).to.deep.equal([1, '', 'syncing']);
    const disconnect = (epoch: number) => rec.serverDisconnect(k.server('s9'), k.leases, 's9', epoch, k.authorityChannel, 1000);
    expect(await disconnect(1)).to.equal(0, 'a syncing server stays syncing');
    expect(await register('s9', 'ready')).to.deep.equal([2, 'syncing', 'syncing'], 'a reconnect before it synced still syncs');
    expect(await set(2, 'ready')).to.equal(0, 'ready is for a cancelled drain, not the end of a sync');
    expect(await set(1, 'synced')).to.equal(0, 'not the current epoch');
    expect(await set(2, 'synced')).to.equal(1);
    expect(await status()).to.equal('ready');
    expect(await set(2, 'synced')).to.equal(0, 'already ready');
  });

  it('area_assign: CAS on the epoch; only a ready server; release keeps the epoch growing', async () => {
    expect(await assignArea('0,0', 0, 's1')).to.deep.equal([-1, '', 0], 's1 is not registered');
    await register('s1');
    expect(await assignArea('0,0', 0, 's1', 'u7')).to.deep.equal([1, 's1', 1]);
    expect(await assignArea('0,0', 0, 's1')).to.deep.equal([0, 's1', 1], 'stale epoch');
    expect(await assignArea('0,0', 1, '')).to.deep.equal([1, '', 2], 'released');
    expect(JSON.parse((await redis.hget(k.areas, '0,0'))!)).to.deep.equal({ server: '', epoch: 2 });
    const areas = (await announced(3)).filter((m) => m.t === 'area');
    expect(areas[0]).to.deep.equal({ t: 'area', area: '0,0', server: 's1', epoch: 1, prev: '', id: 'u7', from: 'node1' });
  });

  it('player_assign: attaches to the area owner only; refused while the area moves; counts pending', async () => {
    await register('s1');
    expect(await assignPlayer('p', 0, '0,0', 's1', '')).to.deep.equal([-1, 0], 's1 does not own 0,0');
    await assignArea('0,0', 0, 's1');
    await redis.set(k.areaMoving('0,0'), 'x');
    expect(await assignPlayer('p', 0, '0,0', 's1', '')).to.deep.equal([-2, 0], 'the area is moving');
    await redis.del(k.areaMoving('0,0'));
    expect(await assignPlayer('p', 0, '0,0', 's1', '', 5)).to.deep.equal([1, 1]);
    expect(await assignPlayer('p', 0, '0,0', 's1', '')).to.deep.equal([0, 1], 'stale epoch');
    expect(await assignPlayer('p', 1, '0,0', 's1', 's2')).to.deep.equal([0, 1], 'wrong current server');
    expect(await redis.hmget(k.player('p'), 'server', 'area', 'epoch', 'seq')).to.deep.equal(['s1', '0,0', '1', '5']);
    expect(await redis.smembers(k.serverPlayers('s1'))).to.deep.equal(['p']);
    expect(await redis.hget(k.server('s1'), 'pending')).to.equal('1');
    const player = (await announced(3)).find((m) => m.t === 'player');
    expect(player).to.include({ player: 'p', server: 's1', area: '0,0', epoch: 1, seq: 5, reason: 'join', id: 'u1' });
  });

  it('area_migrate: moves the area and its players in one step, or nothing when anything changed', async () => {
    await register('s1');
    await register('s2');
    await assignArea('0,0', 0, 's1');
    await assignPlayer('p', 0, '0,0', 's1', '');
    await redis.hset(k.player('p'), 'node', 'nodeX', 'snapshot', '{"hp":3}');
    const migrate = (areaEpoch: number, playerEpoch: number, target = 's2') => {
      const keys = [k.areas, k.serverPlayers('s1'), k.serverPlayers(target), k.server(target), k.areaState, k.player('p')];
      return own.areaMigrate(keys.length, ...keys, '0,0', areaEpoch, 's1', target, k.authorityChannel, 'm1', 'node1', 'rebalance',
        '{"trees":2}',
        'p', playerEpoch, 9, '');
    };
    expect(await migrate(7, 1)).to.deep.equal([0, 1], 'stale area epoch');
    expect(await migrate(1, 7)).to.deep.equal([-1, 1], 'player 1 changed');
    expect(await migrate(1, 1, 's3')).to.deep.equal([-2, 0], 's3 is not ready');
    expect(await redis.hget(k.player('p'), 'server')).to.equal('s1', 'nothing written by a refused migrate');
    expect(await migrate(1, 1)).to.deep.equal([1, 2]);
    expect(await redis.hmget(k.player('p'), 'server', 'epoch', 'seq')).to.deep.equal(['s2', '2', '9']);
    expect(await redis.smembers(k.serverPlayers('s1'))).to.deep.equal([]);
    expect(await redis.hget(k.areaState, '0,0')).to.equal('{"trees":2}');
    const tail = (await announced(6)).slice(-3);
    expect(tail.map((m) => m.t)).to.deep.equal(['area', 'player', 'mark']);
    expect(tail[1]).to.include({ player: 'p', server: 's2', epoch: 2, seq: 9, node: 'nodeX', reason: 'rebalance' });
    expect(tail[1]!.snapshot).to.deep.equal({ hp: 3 });
    expect(tail[2]).to.deep.equal({ t: 'mark', id: 'm1', from: 'node1' });
  });

  it('player_join / player_leave: one session at a time; only the holding session ends it, keeping area and seq', async () => {
    const join = async (session: string) =>
      (await rec.playerJoin(k.player('p'), k.nodePlayers('n1'), 'p', 'n1', session, k.authorityChannel)) as unknown[];
    expect((await join('a'))[6]).to.equal(1);
    expect((await join('b'))[6]).to.equal(2, 'each join a greater generation');
    await register('s1');
    await assignArea('0,0', 0, 's1');
    await assignPlayer('p', 0, '0,0', 's1', '');
    const leave = (session: string, server: string) =>
      rec.playerLeave(k.player('p'), k.serverPlayers(server), k.nodePlayers('n1'), 'p', session, server, 12, k.authorityChannel);
    expect(await leave('a', 's1')).to.equal(0, 'an older session');
    expect(await leave('b', 's2')).to.equal(-1, 'another server');
    expect(await leave('b', 's1')).to.equal(1);
    expect(await redis.hmget(k.player('p'), 'server', 'session', 'area', 'seq', 'epoch')).to.deep.equal([null, null, '0,0', '12', '2']);
    expect((await announced(6)).at(-1))
      .to.deep.equal({ t: 'player', player: 'p', server: '', area: '0,0', epoch: 2, node: '', id: '', from: '' });
  });

  it('server_report, server_status, server_disconnect: only the current, live session; dead stays dead', async () => {
    await register('s1');
    const report = (epoch: number) =>
      rec.serverReport(k.server('s1'), k.leases, k.areaLoad, 's1', epoch, 3, '', 5000, k.authorityChannel, '0,0', 3);
    const status = (epoch: number, s: string, onlyIfExpired = '0') =>
      rec.serverStatus(k.server('s1'), k.leases, k.servers, 's1', epoch, s, k.authorityChannel, onlyIfExpired);
    expect(await report(2)).to.equal(0, 'a wrong epoch is fenced');
    expect(await report(1)).to.equal(1);
    expect(await redis.hget(k.areaLoad, '0,0')).to.equal('3');
    expect(await status(1, 'ready')).to.equal(0, 'ready only from draining');
    expect(await status(1, 'dead', '1')).to.equal(0, 'the lease has not run out');
    const lease = async () => Number(await redis.zscore(k.leases, 's1'));
    const full = await lease();
    expect(await rec.serverDisconnect(k.server('s1'), k.leases, 's1', 1, k.authorityChannel, 1000)).to.equal(1);
    expect(await redis.hget(k.server('s1'), 'status')).to.equal('disconnected');
    const cut = await lease();
    expect(cut).to.be.below(full - 3000, 'the lease is cut to the reconnect grace');
    expect(await rec.serverDisconnect(k.server('s1'), k.leases, 's1', 1, k.authorityChannel, 60_000)).to.equal(1);
    expect(await lease()).to.equal(cut, 'never lengthened by a disconnect');
    expect(await report(1)).to.equal(1, 'a report brings a disconnected session back');
    expect(await lease()).to.be.above(cut + 3000, 'with a full lease');
    expect(await redis.hget(k.server('s1'), 'status')).to.equal('ready');
    expect(await status(1, 'dead')).to.equal(1);
    expect(await report(1)).to.equal(0, 'a dead server stays dead');
    expect(await rec.serverDisconnect(k.server('s1'), k.leases, 's1', 1, k.authorityChannel, 1000)).to.equal(0);
    expect(await redis.zscore(k.leases, 's1')).to.equal(null);
  });

  it('snapshot_store: stores only what the server still owns', async () => {
    await register('s1');
    await register('s2');
    await assignArea('0,0', 0, 's1');
    await assignArea('1,0', 0, 's2');
    await assignArea('2,0', 0, 's1');
    await assignPlayer('p', 0, '0,0', 's1', '');
    await assignPlayer('q', 0, '1,0', 's2', '');
    const keys = [k.areas, k.areaState, k.server('s1'), k.player('p'), k.player('q')];
    const args = ['s1', 2, '0,0', '"a"', '1,0', '"b"', '{"hp":1}', 4, '{"hp":2}', 5];
    expect(await rec.snapshotStore(keys.length, ...keys, ...args)).to.deep.equal([2, 1, 0], 'stored: 2 entries, p yes, q no');
    expect(await redis.hgetall(k.areaState)).to.deep.equal({ '0,0': '"a"' });
    expect(await redis.hget(k.player('p'), 'snapSeq')).to.equal('4');
    expect(await redis.hget(k.player('q'), 'snapshot')).to.equal(null);
    // Once declared dead, nothing more: recovery restores the autosave it read then, and no newer one exists.
    await redis.hset(k.server('s1'), 'status', 'dead');
    const later = ['s1', 1, '0,0', '"late"', '{"hp":9}', 9, '{"hp":2}', 5];
    expect(await rec.snapshotStore(keys.length, ...keys, ...later)).to.deep.equal([0, 0, 0]);
    expect(await redis.hget(k.player('p'), 'snapSeq')).to.equal('4');
    expect(await redis.hgetall(k.areaState)).to.deep.equal({ '0,0': '"a"' });
  });

  it('world_guard: nothing is written into a map that lost its data, or while it is restored; NOT_READY; the node is told', async () => {
    await register('s1');
    await redis.del(k.incarnation); // FLUSHALL, or a restart without persistence
    const err = await register('s2').then(() => undefined, (e: unknown) => e);
    expect(err).to.be.instanceOf(WireError);
    expect((err as WireError).code).to.equal('NOT_READY');
    expect(lost).to.have.length(1);
    expect(await redis.exists(k.server('s2'))).to.equal(0, 'nothing written');
    // Restoring: refused too, until the window ends.
    await redis.hset(k.incarnation, 'id', 'inc-1', 'n', 2, 'restoringUntil', Date.now() + 60_000);
    expect(await assignArea('0,0', 0, 's1').then(() => 'ok', (e: WireError) => e.code)).to.equal('NOT_READY');
    await redis.hdel(k.incarnation, 'restoringUntil');
    // Positive control, and the epoch base: incarnation 2 issues epochs above every epoch of incarnation 1.
    const [code, , epoch] = (await assignArea('0,0', 0, 's1')) as [number, string, number];
    expect(code).to.equal(1);
    expect(epoch).to.equal(2 ** 32 + 1);
    expect(((await register('s1')) as number[])[0]).to.equal(2 ** 32 + 1, 'a server epoch too');
  });

  it('world_mark / world_rebuild: a new world gets n = 1; a loss, a change or a rev gone back is seen; n only grows', async () => {
    const m = worldScripts;
    await redis.del(k.incarnation);
    expect(await m.worldMark(k.incarnation, '', 'first')).to.deep.equal(['first', 1, 0], 'a starting node creates the marker');
    expect(await m.worldMark(k.incarnation, 'first', 'x')).to.deep.equal(['first', 1, 1], 'each look counts rev up');
    expect(await m.worldMark(k.incarnation, 'first', 'x')).to.deep.equal(['first', 1, 2]);
    await redis.hset(k.incarnation, 'rev', 1); // an older snapshot came back: rev went back
    const [, , rev] = (await m.worldMark(k.incarnation, 'first', 'x')) as number[];
    expect(rev).to.equal(2, 'not above the last seen: the node rebuilds');
    expect(await m.worldRebuild(k.incarnation, 'first', 1, 'second', 1000)).to.deep.equal(['second', 2, 1]);
    // A node that served the same lost map joins the incarnation already started instead of starting a third.
    expect(await m.worldRebuild(k.incarnation, 'first', 1, 'third', 1000)).to.deep.equal(['second', 2, 0]);
    await redis.del(k.incarnation);
    expect(await m.worldMark(k.incarnation, 'second', 'x')).to.deep.equal(['', 0, 0], 'a serving node never creates one');
    expect((await m.worldRebuild(k.incarnation, 'second', 2, 'fourth', 1000) as number[]).slice(1)).to.deep.equal([3, 1]);
  });

  it('world_restore: writes back what a node holds live, never over anything newer', async () => {
    await redis.hset(k.incarnation, 'id', 'inc-2', 'n', 2);
    // Redis still holds an older record of one area (a snapshot) and a newer one of another.
    await redis.hset(k.areas, '0,0', JSON.stringify({ server: 'old', epoch: 3 }));
    await redis.hset(k.areas, '1,0', JSON.stringify({ server: 's9', epoch: 9 }));
    const live = {
      servers: [{
        id: 's1', epoch: 4, power: 2, status: 'ready', load: 3, areas: [['0,0', 5], ['1,0', 7]], players: [['p', '0,0', 6, 41]],
      }],
      sessions: [['p', 'sess-p', 3]],
    };
    const keys = [k.incarnation, k.areas, k.servers, k.leases, k.nodePlayers('n1'), k.server('s1'), k.serverPlayers('s1'), k.player('p'),
      k.player('p')];
    const restore = (inc: string) =>
      worldScripts.worldRestore(keys.length, ...keys, inc, 'n1', 5000, k.authorityChannel, JSON.stringify(live));
    expect(await restore('inc-1')).to.equal(0, 'another incarnation: look again');
    expect(await restore('inc-2')).to.equal(1);
    expect(JSON.parse((await redis.hget(k.areas, '0,0'))!)).to.deep.equal({ server: 's1', epoch: 5 });
    expect(JSON.parse((await redis.hget(k.areas, '1,0'))!)).to.deep.equal({ server: 's9', epoch: 9 }, 'the newer record stays');
    expect(await redis.hgetall(k.player('p'))).to.deep.include({
      server: 's1', area: '0,0', epoch: '6', seq: '41', node: 'n1', session: 'sess-p',
    });
    expect(await redis.hmget(k.server('s1'), 'status', 'epoch', 'node')).to.deep.equal(['ready', '4', 'n1']);
    expect(await redis.zscore(k.leases, 's1')).to.not.equal(null);
    expect(await redis.smembers(k.serverPlayers('s1'))).to.deep.equal(['p']);
    expect((await announced(2)).map((a) => a.t)).to.include.members(['server', 'area']);
  });
});
