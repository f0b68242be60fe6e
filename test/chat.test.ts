import { expect } from 'chai';
import type { BridgeNode } from '../bridge/bridge-node.js';
import { type ChatError, type MeshClient } from '../client-sdk/index.js';
import type { ChatMessage, ChatNotice, ChatRecovery } from '../shared/protocol.js';
import { Mesh, sleep, waitFor } from './harness.js';
import { errorCount, seedLastArea } from './helpers.js';
import { sharedRedis } from './setup.js';

/** Every chat message a client receives, in arrival order. */
function inbox(client: MeshClient): ChatMessage[] {
  const got: ChatMessage[] = [];
  client.on('chat', (m) => got.push(m));
  return got;
}
const texts = (box: ChatMessage[], channel: string) => box.filter((m) => m.channel === channel).map((m) => `${m.from}: ${m.text}`);
const heard = async (node: BridgeNode) => (await node.testHook.metrics.chatHeard.get()).values.reduce((s, v) => s + v.value, 0);
const code = (p: Promise<unknown>) => p.then(() => 'ok', (e: ChatError) => e.code);

describe('chat across the network', () => {
  let mesh: Mesh;
  beforeEach(() => { mesh = new Mesh(sharedRedis()); });
  afterEach(() => mesh.close());

  /** Two nodes, s1 owning 0,0 and s2 owning 1,0; alice on a (0,0), bob on b (0,0), carl on b (1,0). */
  async function world(cfg: object = {}) {
    const opts = { worldCols: 2, worldRows: 1, sessionGraceMs: 3000, chatPerMinute: 60_000, chatBurst: 1000, ...cfg };
    const [a, b] = [await mesh.addBridge(opts), await mesh.addBridge(opts)];
    const s1 = await mesh.addServer(a, 's1');
    const s2 = await mesh.addServer(b, 's2');
    await a.testHook.assignArea('0,0', 's1');
    await a.testHook.assignArea('1,0', 's2');
    await seedLastArea(mesh, 'carl', '1,0');
    const alice = await mesh.addClient([a, b], 'alice');
    const bob = await mesh.addClient(b, 'bob');
    const carl = await mesh.addClient(b, 'carl');
    expect([alice.session?.area, bob.session?.area, carl.session?.area]).to.deep.equal(['0,0', '0,0', '1,0']);
    return { a, b, s1, s2, alice, bob, carl };
  }

  it('global, area, whisper and room messages reach exactly their members, across nodes and servers', async () => {
    const { a, b, s1, alice, bob, carl } = await world();
    const [ab, bb, cb] = [inbox(alice), inbox(bob), inbox(carl)];
    const notices: ChatNotice[] = [];
    alice.on('chat:notice', (n) => notices.push(n));
    await sleep(100); // every session has entered its channels

    await alice.chat.send('global', 'hello all');
    await alice.chat.send('area', 'hello 0,0');
    await alice.chat.send('whisper:carl', 'psst');
    await alice.chat.join('guild');
    await bob.chat.join('room:guild');
    await sleep(100); // the join notices went by
    const roomHeardOnA = await heard(a);
    const bHeardBefore = await heard(b);
    await bob.chat.send('room:guild', 'guild only');
    await s1.sdk.postChat('global', 'server restarts at noon');
    await carl.chat.send('global', 'last'); // positive control for carl: after this, nothing else is on its way to him
    await waitFor(() => [ab, bb, cb].every((box) => texts(box, 'global').length === 3), 3000, 'globals');

    for (const box of [ab, bb, cb]) {
      expect(texts(box, 'global')).to.deep.equal(['alice: hello all', 'system:s1: server restarts at noon', 'carl: last']);
    }
    expect(texts(ab, 'area:0,0')).to.deep.equal(['alice: hello 0,0']);
    expect(texts(bb, 'area:0,0')).to.deep.equal(['alice: hello 0,0'], 'bob is in 0,0 on the other node');
    expect(texts(cb, 'area:0,0')).to.deep.equal([], 'carl is in 1,0');
    expect(texts(cb, 'whisper:carl')).to.deep.equal(['alice: psst']);
    expect([...ab, ...bb].some((m) => m.channel.startsWith('whisper:'))).to.equal(false);
    expect(texts(ab, 'room:guild')).to.deep.equal(['bob: guild only']);
    expect(texts(bb, 'room:guild')).to.deep.equal(['bob: guild only']);
    expect(texts(cb, 'room:guild')).to.deep.equal([]);
    expect(notices).to.deep.include({ channel: 'room:guild', player: 'bob', event: 'joined' });
    // Ids grow per channel.
    const ids = ab.filter((m) => m.channel === 'global').map((m) => m.id);
    expect([...ids].sort((x, y) => (x.localeCompare(y, 'en', { numeric: true })))).to.deep.equal(ids);
    // One publish per message reaches each interested node once: a got the room message, b (bob's node) once.
    expect(await heard(a)).to.be.greaterThan(roomHeardOnA);
    expect((await heard(b)) - bHeardBefore).to.equal(3, 'the room message, the server\'s global and carl\'s: each once');

    expect(await alice.chat.presence('room:guild')).to.deep.equal({ channel: 'room:guild', count: 2, players: ['alice', 'bob'] });
    expect(await alice.chat.presence('global')).to.deep.equal({ channel: 'global', count: 3 });
    expect(await alice.chat.presence('area')).to.deep.equal({ channel: 'area:0,0', count: 2 });
  });

  it('a node with no member of a room hears none of its messages', async () => {
    const opts = { worldCols: 2, worldRows: 1, chatPerMinute: 60_000, chatBurst: 1000 };
    const [a, b] = [await mesh.addBridge(opts), await mesh.addBridge(opts)];
    await mesh.addServer(a, 's1');
    const alice = await mesh.addClient(a, 'alice');
    const bob = await mesh.addClient(a, 'bob');
    const dave = await mesh.addClient(b, 'dave'); // b has a client, in global, but none in the room
    const db = inbox(dave);
    const bb = inbox(bob);
    await alice.chat.join('quiet');
    await bob.chat.join('quiet');
    const [aBefore, bBefore] = [await heard(a), await heard(b)];
    for (let i = 0; i < 10; i++) await alice.chat.send('room:quiet', `m${i}`);
    await waitFor(() => texts(bb, 'room:quiet').length === 10, 3000, 'bob has the ten');
    await alice.chat.send('global', 'control');
    await waitFor(() => texts(db, 'global').length === 1, 3000, 'dave hears the global (positive control)');
    expect((await heard(a)) - aBefore).to.equal(11, 'a heard each room message once (for two members) and the global');
    expect((await heard(b)) - bBefore).to.equal(1, 'b heard only the global');
  });

  it('an area change moves the player\'s area channel', async () => {
    const { a, alice, bob, carl } = await world();
    const bb = inbox(bob);
    await sleep(100);
    const r = await a.testHook.handoff('bob', '1,0');
    expect(r.ok).to.equal(true);
    await waitFor(() => bob.session?.area === '1,0', 3000, 'bob in 1,0');
    await sleep(100); // the session entered its new area's channel
    await alice.chat.send('area', 'from 0,0');
    await carl.chat.send('area', 'from 1,0');
    await waitFor(() => texts(bb, 'area:1,0').length === 1, 3000, 'bob hears 1,0');
    await sleep(100);
    expect(texts(bb, 'area:0,0')).to.deep.equal([], 'no longer in 0,0');
    expect(texts(bb, 'area:1,0')).to.deep.equal(['carl: from 1,0']);
  });

  it('history: in order, after an id, and per channel only for its members', async () => {
    const { alice, bob, carl } = await world();
    const ids: string[] = [];
    for (let i = 0; i < 6; i++) ids.push(await bob.chat.send('global', `g${i}`));
    const all = await alice.chat.history('global', { limit: 100 });
    expect(all.messages.map((m) => m.text)).to.deep.equal(['g0', 'g1', 'g2', 'g3', 'g4', 'g5']);
    expect(all.messages.map((m) => m.id)).to.deep.equal(ids);
    const later = await alice.chat.history('global', { after: ids[3]! });
    expect(later).to.deep.include({ recovered: true });
    expect(later.messages.map((m) => m.text)).to.deep.equal(['g4', 'g5']);
    expect((await alice.chat.history('global', { limit: 2 })).messages.map((m) => m.text)).to.deep.equal(['g4', 'g5']);
    await alice.chat.send('whisper:carl', 'secret');
    expect((await carl.chat.history('whisper:carl')).messages.map((m) => m.text)).to.deep.equal(['secret']);
    expect(await code(bob.chat.history('whisper:carl'))).to.equal('BAD_CHANNEL');
    expect(await code(bob.chat.history('room:nowhere'))).to.equal('NOT_IN_ROOM');
    expect(await code(bob.chat.history('area:1,0'))).to.equal('BAD_CHANNEL');
  });

  it('a client on a node that dies resumes on another and gets exactly the messages it missed, in order', async () => {
    // History deep enough for a slow resume on a loaded machine (bob posts every few ms meanwhile); its end is the next test's.
    const { a, alice, bob } = await world({ chatHistory: 2000 });
    const ab = inbox(alice);
    await alice.chat.join('guild');
    await bob.chat.join('guild');
    const sent: string[] = [];
    for (let i = 0; i < 3; i++) sent.push(await bob.chat.send('global', `before ${i}`));
    await waitFor(() => texts(ab, 'global').length === 3, 3000, 'alice saw the first three');
    const recoveries: ChatRecovery[] = [];
    alice.on('chat:recovery', (r) => recoveries.push(r));

    // bob talks without pause through alice's failover: some messages land before she left, some
    // while she is away, some while her new session replays history, the rest live.
    const roomSent: string[] = [];
    let after = -1;
    const talking = (async () => {
      for (let i = 0; after < 10; i++) {
        sent.push(await bob.chat.send('global', `g${i}`));
        if (i % 3 === 0) roomSent.push(await bob.chat.send('room:guild', `r${i}`));
        if (after >= 0) after++;
        await sleep(2);
      }
    })();
    await sleep(20);
    mesh.bridges.splice(mesh.bridges.indexOf(a), 1);
    await a.close(); // alice's node goes; she fails over to b
    await waitFor(() => alice.connected && alice.session?.node !== a.id, 5000, 'alice resumed on b');
    after = 0;
    await talking;
    await waitFor(() => texts(ab, 'global').length >= sent.length && texts(ab, 'room:guild').length >= roomSent.length, 5000, 'caught up');
    await sleep(200);
    expect(ab.filter((m) => m.channel === 'global').map((m) => m.id)).to.deep.equal(sent, 'every global once, in order');
    expect(ab.filter((m) => m.channel === 'room:guild').map((m) => m.id)).to.deep.equal(roomSent, 'the room too: she is still in it');
    const recovery = recoveries.find((r) => r.channels.some((c) => c.channel === 'room:guild'))!;
    expect(recovery.recovered).to.equal(true);
    const replayed = recovery.channels.find((c) => c.channel === 'global')!.replayed;
    console.log(`      ${sent.length} globals, ${roomSent.length} room messages; ${replayed} globals replayed from history`);
  });

  it('when history no longer reaches back, the resuming client is told recovered: false', async () => {
    const { a, alice, bob } = await world({ chatHistory: 5 });
    const ab = inbox(alice);
    await bob.chat.send('global', 'seen');
    await waitFor(() => ab.length === 1, 3000, 'alice saw one');
    const recoveries: ChatRecovery[] = [];
    alice.on('chat:recovery', (r) => recoveries.push(r));
    mesh.bridges.splice(mesh.bridges.indexOf(a), 1);
    const died = a.close();
    // Sent at once, while alice is away (her SDK waits at least 50 ms before it reconnects): 8 > 5 kept.
    await Promise.all(Array.from({ length: 8 }, (_, i) => bob.chat.send('global', `m${i}`)));
    await died;
    await waitFor(() => recoveries.length > 0, 5000, 'alice resumed');
    const global = recoveries[0]!.channels.find((c) => c.channel === 'global')!;
    expect(recoveries[0]!.recovered).to.equal(false);
    expect(global).to.include({ recovered: false, replayed: 5 });
    expect(texts(ab, 'global')).to.deep.equal(['bob: seen', 'bob: m3', 'bob: m4', 'bob: m5', 'bob: m6', 'bob: m7']);
    const again = await alice.chat.history('global', { after: ab[0]!.id });
    expect(again.recovered).to.equal(false);
  });

  it('refuses floods, long texts, muted players, bad channels and other areas with their codes', async () => {
    const { a, b, s1, alice, bob } = await world({ chatBurst: 5, chatPerMinute: 30, maxChatChars: 20 });
    const bb = inbox(bob);
    for (let i = 0; i < 5; i++) expect(await code(alice.chat.send('global', `m${i}`))).to.equal('ok');
    expect(await code(alice.chat.send('global', 'one too many'))).to.equal('RATE_LIMITED');
    expect(await code(bob.chat.send('global', 'x'.repeat(21)))).to.equal('CHAT_TOO_LONG');
    expect(await code(bob.chat.send('global', '\u0000\u0007\u202e'))).to.equal('BAD_INPUT');
    await bob.chat.send('global', 'a\u0000b\u202ec\nd');
    await waitFor(() => texts(bb, 'global').includes('bob: abcd'), 3000, 'control characters removed');
    expect(await code(bob.chat.send('nowhere', 'x'))).to.equal('BAD_CHANNEL');
    expect(await code(bob.chat.send('area:1,0', 'x'))).to.equal('BAD_CHANNEL');
    expect(await code(bob.chat.send('area:0,0', 'x'))).to.equal('BAD_CHANNEL', 'a client never names an area, not even its own');
    expect(await code(bob.chat.send('room:guild', 'x'))).to.equal('NOT_IN_ROOM');
    expect(await code(bob.chat.join('room:bad name'))).to.equal('BAD_CHANNEL');
    expect(await code(bob.chat.leave('room:never'))).to.equal('NOT_IN_ROOM');
    await s1.sdk.mute('bob', 60);
    expect(await code(bob.chat.send('global', 'hi'))).to.equal('MUTED');
    await s1.sdk.mute('bob', 0);
    expect(await code(bob.chat.send('global', 'hi again'))).to.equal('ok');
    expect(await code(s1.sdk.postChat('area:9,9', 'x'))).to.equal('BAD_CHANNEL');
    expect(await code(s1.sdk.postChat('area:1,0', 'to 1,0'))).to.equal('ok');
    for (const c of ['RATE_LIMITED', 'CHAT_TOO_LONG', 'BAD_CHANNEL', 'NOT_IN_ROOM', 'MUTED']) {
      expect((await errorCount(a, c)) + (await errorCount(b, c)), c).to.be.greaterThan(0);
    }
    const stored = (await alice.chat.history('global', { limit: 100 })).messages.map((m) => m.text);
    expect(stored).to.deep.equal(['m0', 'm1', 'm2', 'm3', 'm4', 'abcd', 'hi again'], 'nothing refused was kept');
    expect(alice.connected && bob.connected).to.equal(true);
  });

  it('the chat rate is one budget per player: reconnecting, on any node, buys no more messages', async () => {
    const { a, b } = await world({ chatBurst: 5, chatPerMinute: 30 });
    let posted = 0;
    let limited = 0;
    for (let i = 0; i < 8; i++) {
      // A new connection each time (the newer replaces the older), alternating nodes.
      const dave = await mesh.addClient(i % 2 ? a : b, 'dave');
      for (let j = 0; j < 5; j++) {
        if ((await code(dave.chat.send('global', `m${i}.${j}`))) === 'ok') posted++;
        else limited++;
      }
      dave.close();
    }
    // 5 at once, then 30 a minute (one every 2 s): within the few seconds this takes, at most 5 + 2.
    expect(posted).to.be.within(5, 7);
    expect(limited).to.equal(40 - posted);
  });

  it('whispers reach only players the world knows, and an inbox expires after its last message', async () => {
    const { alice, s1 } = await world({ chatInboxTtlMs: 60_000 });
    expect(await code(alice.chat.send('whisper:nobody-ever', 'hello?'))).to.equal('BAD_CHANNEL');
    expect(await code(s1.sdk.postChat('whisper:nobody-either', 'hello?'))).to.equal('BAD_CHANNEL');
    expect(await code(alice.chat.send('whisper:carl', 'hi carl'))).to.equal('ok', 'positive control: a known player');
    const redis = await mesh.connect();
    try {
      const base = `mb:{${mesh.world}}`;
      expect(await redis.exists(`${base}:chat:whisper:nobody-ever`, `${base}:chat:whisper:nobody-either`)).to.equal(0);
      expect(await redis.pttl(`${base}:chat:whisper:carl`)).to.be.within(1, 60_000);
    } finally {
      redis.disconnect();
    }
  });
});
