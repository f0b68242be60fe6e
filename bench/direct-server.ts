// The baseline: a plain Socket.IO server that answers each input with the same state message a
// client gets through the bridge. Port from argv; prints "listening <port>".
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Server } from 'socket.io';

const http = createServer();
const io = new Server(http, { transports: ['websocket'], serveClient: false });
let next = 0;
io.on('connection', (socket) => {
  const player = `d${next++}`;
  socket.on('input', (input: { seq: number; data: unknown }) => {
    socket.emit('state', { kind: 'player', player, epoch: 1, data: { seq: input.seq, data: input.data }, acks: { [player]: input.seq } });
  });
});
http.listen(Number(process.argv[2] ?? 0), '127.0.0.1', () => {
  process.stdout.write(`listening ${(http.address() as AddressInfo).port}\n`);
});
