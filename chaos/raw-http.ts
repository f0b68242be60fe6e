// One HTTP request written byte for byte on a TCP socket to 127.0.0.1, so that headers no HTTP client would
// send (Origin: null, a bad Host, mismatched Content-Length, oversized headers, a body that trickles) reach the
// node as an attacker would send them. Resolves with the status and the body the node answered, or 0 when the
// connection closed without an answer.
import { connect } from 'node:net';

export interface RawAnswer { status: number; body: string }

export interface RawRequest {
  method?: string;
  path: string;
  headers?: Record<string, string>;
  /** The body, written after the head (Content-Length is not added: say it in `headers` or leave it out on purpose). */
  body?: string;
  /** Written in pieces this many ms apart (a slow body). */
  trickleMs?: number;
}

/** A WebSocket upgrade to the Socket.IO endpoint, with these extra headers. */
export function upgradeRequest(headers: Record<string, string>): RawRequest {
  return {
    path: '/socket.io/?EIO=4&transport=websocket',
    headers: {
      Connection: 'Upgrade', Upgrade: 'websocket', 'Sec-WebSocket-Version': '13', 'Sec-WebSocket-Key': 'dGhlIHNhbXBsZSBub25jZQ==',
      ...headers,
    },
  };
}

export function rawHttp(port: number, r: RawRequest, timeoutMs = 5000): Promise<RawAnswer> {
  const headers = { Host: `127.0.0.1:${port}`, Connection: 'close', ...r.headers };
  const head = `${r.method ?? 'GET'} ${r.path} HTTP/1.1\r\n${Object.entries(headers).map(([k, v]) => `${k}: ${v}\r\n`).join('')}\r\n`;
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    let got = '';
    const done = () => {
      clearTimeout(timer);
      socket.destroy();
      const status = /^HTTP\/1\.1 (\d{3})/.exec(got);
      resolve({ status: status ? Number(status[1]) : 0, body: got.slice(got.indexOf('\r\n\r\n') + 4) });
    };
    const timer = setTimeout(done, timeoutMs);
    socket.on('data', (d) => {
      got += d.toString('latin1');
      // An upgrade that succeeded stays open: its status line is the answer.
      if (got.startsWith('HTTP/1.1 101')) done();
    });
    socket.on('error', done);
    socket.on('close', done);
    socket.on('connect', () => {
      socket.write(head);
      const body = r.body ?? '';
      if (!r.trickleMs) return void socket.write(body);
      let at = 0;
      const step = () => {
        if (socket.destroyed || at >= body.length) return;
        socket.write(body.slice(at, at + 4));
        at += 4;
        setTimeout(step, r.trickleMs);
      };
      step();
    });
  });
}
