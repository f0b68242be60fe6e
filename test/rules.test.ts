// The pure rules, each on its own with in-memory fakes: token bucket, freeze holds and tokens,
// the cache barrier, the mesh's planning decisions, the load formulas, chat channels and texts,
// and the sync's phases.
import { expect } from 'chai';
import { CacheBarrier } from '../bridge/authority/cache-barrier.js';
import { cleanText, clientChannel, serverChannel } from '../bridge/chat/chat-channels.js';
import { phaseOf } from '../bridge/sync/world-sync.js';
import {
  drainOrder, lowestRatio, overloaded, pickLeastLoaded, rank, rankAcceptors, rebalanceOptions, serverViews, type View,
} from '../bridge/mesh/planning.js';
import { Metrics } from '../bridge/ops/metrics.js';
import { ClientSession, type ClientSocket } from '../bridge/sessions/client-session.js';
import { LoadModel } from '../shared/load-model.js';
import { chatIdAfter as idAfter, type ServerInfo } from '../shared/protocol.js';
import { TokenBucket } from '../shared/token-bucket.js';

const server = (id: string, load: number, power = 1, status: ServerInfo['status'] = 'ready'): ServerInfo =>
  ({ id, load, power, status, node: 'n', epoch: 1 });
const view = (id: string, load: number, power = 1): View => ({ server: server(id, load, power), load });

describe('rules: token bucket', () => {
  it('allows the burst at once, then perSecond, and says how long to wait', () => {
    const b = new TokenBucket(10, 3, 0);
    expect([b.take(0), b.take(0), b.take(0), b.take(0)]).to.deep.equal([true, true, true, false]);
    expect(b.waitMs(0)).to.equal(100);
    expect(b.take(50)).to.equal(false, 'half a token after 50 ms');
    expect(b.take(100)).to.equal(true, 'one token after 100 ms');
    expect(b.take(10_000, 3)).to.equal(true, 'refills up to the burst');
    expect(b.take(10_000)).to.equal(false, 'never beyond the burst');
    expect(b.waitMs(10_000, 2)).to.equal(200);
  });

  it('spend: admits when not in debt, takes costs beyond the burst, and the debt is waited out', () => {
    const b = new TokenBucket(1000, 100, 0);
    expect(b.spend(0, 500)).to.equal(true, 'a cost over the burst still passes once');
    expect(b.spend(0, 1)).to.equal(false, 'in debt: 400 tokens');
    expect(b.waitMs(0, 0)).to.equal(400);
    expect(b.spend(399, 1)).to.equal(false);
    expect(b.spend(400, 1000)).to.equal(true);
    expect(b.waitMs(400, 0)).to.equal(1000, 'the long-run rate holds');
  });

  it('a clock that goes back never adds tokens', () => {
    const b = new TokenBucket(10, 1, 1000);
    expect(b.take(1000)).to.equal(true);
    expect(b.take(0)).to.equal(false);
    expect(b.take(1050)).to.equal(false, 'the refill counts from the latest time seen');
    expect(b.take(1100)).to.equal(true);
  });
});

describe('rules: freeze holds', () => {
  const session = () => {
    const emitted: { status: string }[] = [];
    const emit = (_e: string, p: { status: string }) => emitted.push(p);
    const socket = { emit, join: () => {}, leave: () => {} } as unknown as ClientSocket;
    const placement = { server: 's1', area: '0,0', epoch: 1 };
    const s = new ClientSession('p', 'sess', 1, socket, placement, { perSecond: 1, burst: 1 }, new Metrics('t'), 100);
    return { s, emitted };
  };

  it('the floor a session gives its inputs: what the client can no longer re-send (saved, or past heldInputs)', () => {
    const { s } = session();
    s.noteAck(50);
    expect(s.floor).to.equal(0, 'holds all 50: nothing saved yet, within heldInputs');
    s.noteSaved(30);
    expect(s.floor).to.equal(30);
    s.noteAck(250);
    expect(s.floor).to.equal(150, 'only heldInputs (100) acknowledged inputs are kept');
    s.noteSaved(20);
    expect(s.floor).to.equal(150, 'never backwards');
  });

  it('releases the inputs, in order, only when the last hold ends; an unknown token releases nothing', () => {
    const { s, emitted } = session();
    s.freeze('a', 'transferring', 60_000, () => {});
    s.freeze('b', 'transferring', 60_000, () => {});
    s.frozen!.push({ seq: 1, data: 'x' }, { seq: 2, data: 'y' });
    expect(s.thaw('zzz')).to.equal(undefined);
    expect(s.thaw('a')).to.equal(undefined, 'b still holds it');
    expect(s.frozen).to.have.length(2);
    expect(s.thaw('b')).to.deep.equal([{ seq: 1, data: 'x' }, { seq: 2, data: 'y' }]);
    expect(s.frozen).to.equal(undefined);
    expect(s.thaw('b')).to.equal(undefined, 'a second thaw of the same token is a no-op');
    expect(emitted.map((e) => e.status)).to.deep.equal(['transferring', 'transferring', 'active']);
  });

  it('a hold whose thaw never comes times out by itself', async () => {
    const { s } = session();
    let timedOut = 0;
    s.freeze('a', 'recovering', 20, () => { timedOut++; s.thaw('a'); });
    await new Promise((r) => setTimeout(r, 60));
    expect(timedOut).to.equal(1);
    expect(s.frozen).to.equal(undefined, 'released by its timeout');
    s.freeze('b', 'recovering', 20, () => { timedOut++; });
    expect(s.thaw('b')).to.deep.equal([]);
    await new Promise((r) => setTimeout(r, 60));
    expect(timedOut).to.equal(1, 'a thawed hold does not time out');
  });
});

describe('rules: cache barrier', () => {
  it('resolves when every node acked, reports the missing ones on timeout, and stops on cancel', async () => {
    const b = new CacheBarrier();
    const all = b.expect('u1', ['n1', 'n2'], 5_000);
    b.ack('u1', 'n1');
    b.ack('other', 'n2');
    b.ack('u1', 'n2');
    expect(await all).to.deep.equal([]);
    expect(await b.expect('u2', ['n1', 'n2'], 30).then((missing) => missing.sort())).to.deep.equal(['n1', 'n2']);
    const cancelled = b.expect('u3', ['n1'], 5_000);
    b.cancel('u3');
    expect(await cancelled).to.deep.equal([]);
    expect(await b.expect('u4', [], 5_000)).to.deep.equal([]);
  });
});

describe('rules: planning', () => {
  it('places an area on the lowest (load + pending) : power, then the fewest areas, then the highest rank', () => {
    const a = server('a', 4, 2);
    const b = server('b', 1, 1);
    expect(pickLeastLoaded('0,0', [{ server: a, pending: 0, areas: 0 }, { server: b, pending: 2, areas: 0 }])?.id).to.equal('a');
    expect(pickLeastLoaded('0,0', [{ server: a, pending: 0, areas: 0 }, { server: b, pending: 0, areas: 0 }])?.id).to.equal('b');
    const c = server('c', 0);
    const d = server('d', 0);
    expect(pickLeastLoaded('0,0', [{ server: c, pending: 0, areas: 3 }, { server: d, pending: 0, areas: 1 }])?.id).to.equal('d');
    const winner = rank('5,5', 'c') > rank('5,5', 'd') ? 'c' : 'd';
    expect(pickLeastLoaded('5,5', [{ server: c, pending: 0, areas: 0 }, { server: d, pending: 0, areas: 0 }])?.id).to.equal(winner);
    expect(pickLeastLoaded('0,0', [])).to.equal(undefined);
  });

  it('counts a server by its areas\' loads when it has any, else by its report', () => {
    const views = serverViews([server('a', 99), server('b', 7)], [['0,0', { server: 'a', epoch: 1 }], ['1,0', { server: 'a', epoch: 1 }]],
      new Map([['0,0', 2], ['1,0', 3]]));
    expect(views.map((v) => [v.server.id, v.load])).to.deep.equal([['a', 5], ['b', 7]]);
  });

  it('netsplit: only loaded, not cooling areas with a taker under the threshold; the best balance first, then the smaller', () => {
    const source = view('s', 10);
    const idle = view('t', 0);
    const busy = view('u', 6);
    const owned = [
      { area: 'big', load: 6 }, { area: 'mid', load: 4 }, { area: 'small', load: 2 }, { area: 'empty', load: 0 }, { area: 'cool', load: 4 },
    ];
    const options = rebalanceOptions(source, [source, idle, busy], owned, new Set(['cool']), 8);
    // big: max(4/1, 6/1) = 6; mid: max(6, 4) = 6; small: max(8, 2) = 8 -> mid before big (equal score, smaller), then small.
    expect(options.map((o) => o.area)).to.deep.equal(['mid', 'big', 'small']);
    expect(options[0]!.takers.map((t) => t.server.id)).to.deep.equal(['t'], 'u would end above the threshold with 4 more');
    expect(options[2]!.takers.map((t) => t.server.id)).to.deep.equal(['t', 'u']);
    expect(rebalanceOptions(source, [source, view('full', 8)], owned, new Set(), 8)).to.deep.equal([], 'no taker stays under');
    expect(overloaded([source, idle, busy, view('v', 9)], 8).map((v) => v.server.id)).to.deep.equal(['s', 'v']);
  });

  it('acceptors: priority first, then the lowest ratio after taking the offer; decliners dropped', () => {
    const replies = [
      { view: view('a', 1), reply: { accept: true } },
      { view: view('b', 5, 10), reply: { accept: true } },
      { view: view('c', 9), reply: { accept: true, priority: true } },
      { view: view('d', 0), reply: { accept: false } },
    ];
    expect(rankAcceptors(replies, 2).map((r) => r.view.server.id)).to.deep.equal(['c', 'b', 'a']);
  });

  it('drain moves the largest areas first; recovery picks the lowest ratio', () => {
    const areas = [{ area: 'a', load: 1 }, { area: 'b', load: 5 }, { area: 'c', load: 3 }];
    expect(drainOrder(areas).map((a) => a.area)).to.deep.equal(['b', 'c', 'a']);
    expect(lowestRatio([view('a', 4, 2), view('b', 1), view('c', 3, 4)])?.server.id).to.equal('c');
    expect(lowestRatio([])).to.equal(undefined);
  });
});

describe('rules: load formulas', () => {
  it('computes area load and server power from the metrics, defaults filling what is not reported', () => {
    const m = new LoadModel('players + mass / 10', 'cores * 2');
    expect(m.areaLoad({ players: 3, mass: 20 })).to.equal(5);
    expect(m.areaLoad({})).to.equal(0);
    expect(m.serverPower({ cores: 4 })).to.equal(8);
    expect(m.serverPower({})).to.equal(2, 'cores defaults to 1');
  });

  it('a formula that is not a finite, non-negative number counts as 0; one that names unknown metrics is refused', () => {
    const m = new LoadModel('players - 10', 'cpu / 0');
    expect(m.areaLoad({ players: 3 })).to.equal(0);
    expect(m.serverPower({ cpu: 1 })).to.equal(0);
    expect(() => new LoadModel('players + bananas', 'cores')).to.throw(/bananas/);
  });
});

describe('rules: chat channels and texts', () => {
  const alice = { player: 'alice', area: '1,0', channels: new Set(['global', 'area:1,0', 'whisper:alice', 'room:guild']) };
  it('a client says "area" for its own area, never names one; reads only its own inbox; uses rooms it is in', () => {
    expect(clientChannel('area', alice, 'send')).to.equal('area:1,0');
    expect(clientChannel('area:1,0', alice, 'read')).to.equal('area:1,0');
    for (const name of ['area:1,0', 'area:0,0']) expect(clientChannel(name, alice, 'send')).to.include({ code: 'BAD_CHANNEL' });
    expect(clientChannel('area:0,0', alice, 'read')).to.include({ code: 'BAD_CHANNEL' });
    expect(clientChannel('whisper:bob', alice, 'send')).to.equal('whisper:bob');
    expect(clientChannel('whisper:bob', alice, 'read')).to.include({ code: 'BAD_CHANNEL' });
    expect(clientChannel('whisper:alice', alice, 'read')).to.equal('whisper:alice');
    expect(clientChannel('room:guild', alice, 'send')).to.equal('room:guild');
    expect(clientChannel('room:other', alice, 'send')).to.include({ code: 'NOT_IN_ROOM' });
    for (const name of ['', 'Global', 'room:', 'room:a b', 'whisper:', 'lobby']) {
      expect(clientChannel(name, alice, 'send'), name).to.include({ code: 'BAD_CHANNEL' });
    }
  });

  it('a server posts to any area of the grid, any inbox or room', () => {
    const grid = { worldCols: 2, worldRows: 2 };
    const good = ['global', 'area:1,1', 'whisper:x', 'room:y'];
    expect(good.map((c) => serverChannel(c, grid))).to.deep.equal(good);
    for (const bad of ['area:2,0', 'area:x', 'area', 'nope']) expect(serverChannel(bad, grid), bad).to.equal(undefined);
  });

  it('texts lose control characters, are trimmed, counted in characters, and refused empty or too long', () => {
    expect(cleanText(' a\u0000b\u202ec\nd\u200b ', 10)).to.equal('abcd');
    expect(cleanText('\u0007\u0008 ', 10)).to.include({ code: 'BAD_INPUT' });
    expect(cleanText('😀'.repeat(10), 10)).to.equal('😀'.repeat(10), 'characters, not UTF-16 units');
    expect(cleanText('😀'.repeat(11), 10)).to.include({ code: 'CHAT_TOO_LONG' });
  });

  it('message ids compare as numbers, both parts', () => {
    expect(idAfter('1700000000000-10', '1700000000000-9')).to.equal(true);
    expect(idAfter('1700000000001-0', '1700000000000-99')).to.equal(true);
    expect(idAfter('1700000000000-9', '1700000000000-9')).to.equal(false);
    expect(idAfter('999-0', '1000-0')).to.equal(false);
  });
});

describe('rules: sync phases', () => {
  it('each server has a fixed phase within the interval, and servers spread over it', () => {
    expect(phaseOf('s1', 1000)).to.equal(phaseOf('s1', 1000));
    const phases = Array.from({ length: 100 }, (_, i) => phaseOf(`server-${i}`, 1000));
    expect(phases.every((p) => p >= 0 && p < 1000)).to.equal(true);
    expect(new Set(phases.map((p) => Math.floor(p / 100))).size).to.be.at.least(8, 'most tenths of the interval are used');
  });
});
