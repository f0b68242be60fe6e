// The client SDK's own rules, against a plain Socket.IO server on port 0 that plays the bridge's
// part of the protocol (a session with limits, acks on state).
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { expect } from 'chai';
import { Server } from 'socket.io';
import { MeshClient, UNREACHABLE } from '../client-sdk/index.js';
import { CLIENT_NAMESPACE } from '../shared/protocol.js';
import { freePort, sleep, waitFor } from './harness.js';

describe('client SDK', () => {
  let io: Server;
  let url: string;
  const received: { seq: number; at: number }[] = [];
  beforeEach(async () => {
    received.length = 0;
    const http = createServer();
    io = new Server(http, { transports: ['websocket'] });
    io.of(CLIENT_NAMESPACE).on('connection', (socket) => {
      socket.on('input', (i: { seq: number }) => received.push({ seq: i.seq, at: performance.now() }));
      socket.emit('session', {
        player: 'p',
        server: 's',
        area: '0,0',
        epoch: 1,
        ack: 0,
        node: 'n',
        limits: { inputsPerSecond: 100, inputBurst: 20 },
      });
    });
    await new Promise<void>((r) => http.listen(0, '127.0.0.1', () => r()));
    url = `http://127.0.0.1:${(http.address() as AddressInfo).port}`;
  });
  afterEach(async () => { await io.close(); });

  it('re-sends a backlog paced at half the bridge\'s input limit, oldest first', async () => {
    const client = new MeshClient({ urls: url, token: 't', resendAfterMs: 60_000 });
    for (let i = 0; i < 100; i++) client.send({ i }); // queued: not connected yet
    const start = performance.now();
    await client.connect();
    await waitFor(() => received.length === 100, 5000, 'the whole backlog');
    const inFirst100ms = received.filter((r) => r.at - start < 100).length;
    const took = received.at(-1)!.at - start;
    client.close();
    expect(received.map((r) => r.seq)).to.deep.equal(Array.from({ length: 100 }, (_, i) => i + 1));
    expect(inFirst100ms, 'a burst of half the bridge\'s burst, then the rate').to.be.at.most(10 + 5);
    expect(took, '90 inputs at 50/s').to.be.at.least(1500);
  });

  it('never takes an ack for an input it did not send', async () => {
    const client = new MeshClient({ urls: url, token: 't' });
    await client.connect();
    client.send({});
    client.send({});
    await waitFor(() => received.length === 2, 2000, 'sent');
    const [socket] = [...io.of(CLIENT_NAMESPACE).sockets.values()];
    socket!.emit('state', { kind: 'player', player: 'p', epoch: 1, data: null, acks: { p: 999 } });
    socket!.emit('state', { kind: 'player', player: 'p', epoch: 1, data: null, acks: { p: 1 } });
    await waitFor(() => client.ack === 1, 2000, 'the true ack taken');
    await sleep(50);
    expect(client.ack).to.equal(1);
    expect(client.pending).to.equal(1);
    client.close();
  });

  it('connect() resolves with the session that follows a refusal it retried, and rejects on one for good', async () => {
    let refusals = 2;
    io.of(CLIENT_NAMESPACE).use((socket, next) => {
      if (socket.handshake.auth.token === 'bad') return next(Object.assign(new Error('token refused'), { data: { code: 'BAD_TOKEN' } }));
      if (refusals-- > 0) return next(Object.assign(new Error('no game server can take this player now'), { data: { code: 'NO_SERVER' } }));
      next();
    });
    const client = new MeshClient({ urls: url, token: 't' });
    const refused: string[] = [];
    client.on('refused', (e) => void refused.push(e.data?.code ?? ''));
    const session = await client.connect();
    client.close();
    expect(refused).to.deep.equal(['NO_SERVER', 'NO_SERVER']);
    expect(session.player).to.equal('p');
    const bad = new MeshClient({ urls: url, token: 'bad' });
    const outcome = await bad.connect().then(() => 'connected', (e: Error) => e.message);
    bad.close();
    expect(outcome).to.equal('token refused');
  });

  it('connect() settles when no bridge answers (down, or the page\'s origin refused): UNREACHABLE, then it stops', async () => {
    const dead = `http://127.0.0.1:${await freePort()}`;
    const client = new MeshClient({ urls: dead, token: 't', connectTimeoutMs: 600 });
    const refusals: string[] = [];
    client.on('refused', (e) => void refusals.push(e.message));
    const started = performance.now();
    const code = await client.connect().then(() => 'connected', (e: Error & { data?: { code?: string } }) => e.data?.code);
    expect(code).to.equal(UNREACHABLE);
    expect(performance.now() - started).to.be.within(550, 2000);
    expect(refusals.length, 'it retried meanwhile').to.be.greaterThan(1);
    const after = refusals.length;
    await sleep(500);
    expect(refusals.length, 'and stopped once it gave up').to.equal(after);
  });
});
