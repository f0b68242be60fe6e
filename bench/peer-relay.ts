// The peer: the relay a team would build by hand from the ecosystem's parts, to compare with in the
// same run. Socket.IO nodes joined by @socket.io/redis-adapter: a client's input is emitted to the
// game server's room, the server's answer to the player's room; the adapter carries both between
// nodes through Redis. No authority map, no ordering or delivery guarantees: the minimum.
//   node mode:  peer-relay.ts node <port> <redis url>      prints "listening <port>"
//   game mode:  peer-relay.ts game <node url>              an echo server; prints "ready"
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createAdapter } from '@socket.io/redis-adapter';
import { Redis } from 'ioredis';
import { Server } from 'socket.io';
import { io as connect } from 'socket.io-client';

const [mode, target, redisUrl] = process.argv.slice(2);

if (mode === 'node') {
  const pub = new Redis(redisUrl!);
  const sub = pub.duplicate();
  const http = createServer();
  const io = new Server(http, { transports: ['websocket'], serveClient: false, adapter: createAdapter(pub, sub) });
  let next = 0;
  io.on('connection', (socket) => {
    if ((socket.handshake.auth as { role?: string }).role === 'game') {
      void socket.join('game');
      socket.on('state', (m: { player: string; item: unknown }) => { io.to(`p:${m.player}`).emit('state', m.item); });
      return;
    }
    const player = `${process.pid}-${next++}`;
    void socket.join(`p:${player}`);
    socket.on('input', (input: { seq: number; data: unknown }) => {
      io.to('game').emit('input', { player, seq: input.seq, data: input.data });
    });
  });
  http.listen(Number(target ?? 0), '127.0.0.1', () => process.stdout.write(`listening ${(http.address() as AddressInfo).port}\n`));
} else if (mode === 'game') {
  const socket = connect(target, { transports: ['websocket'], auth: { role: 'game' } });
  socket.on('input', (m: { player: string; seq: number; data: unknown }) => {
    const item = { kind: 'player', player: m.player, epoch: 1, data: { seq: m.seq, data: m.data }, acks: { [m.player]: m.seq } };
    socket.emit('state', { player: m.player, item });
  });
  socket.on('connect', () => process.stdout.write('ready\n'));
} else {
  process.stderr.write('usage: peer-relay.ts node <port> <redis url> | game <node url>\n');
  process.exit(2);
}
