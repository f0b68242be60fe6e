// Load generator (forked by bench/run.ts, driven over IPC): N Socket.IO clients that send inputs
// at a set total rate and time each input -> state round trip. Plain socket.io-client for both the
// direct baseline and the bridge, so both sides pay the same client costs.
import { SignJWT } from 'jose';
import { io, type Socket } from 'socket.io-client';

export type LoadCommand =
  | { cmd: 'connect'; url: string; count: number; jwtSecret?: string; prefix: string }
  | { cmd: 'run'; rate: number; seconds: number }
  /** Chat fan-out: every client records global messages' delivery time; with `send`, client 0 sends `rate` a second. */
  | { cmd: 'chat'; rate: number; seconds: number; send: boolean }
  /** The last `count` clients stop reading their TCP socket (they still send): slow clients. */
  | { cmd: 'stop-reading'; count: number }
  | { cmd: 'close' };
export interface ChatResult {
  sent: number;
  received: number;
  p50: number;
  p99: number;
}
export interface RunResult {
  offered: number;
  achieved: number;
  sent: number;
  received: number;
  p50: number;
  p99: number;
  max: number;
}

interface Client {
  socket: Socket;
  seq: number;
}
let clients: Client[] = [];
let samples = new Float64Array(0);
let count = 0;
let chatSamples: number[] = [];
/** Wall-clock ms with µs resolution, comparable across processes. */
const wallNow = () => performance.timeOrigin + performance.now();

async function connect(c: Extract<LoadCommand, { cmd: 'connect' }>): Promise<number> {
  const key = c.jwtSecret ? new TextEncoder().encode(c.jwtSecret) : undefined;
  const batch: Promise<void>[] = [];
  for (let i = 0; i < c.count; i++) {
    const player = `${c.prefix}${i}`;
    // Tokens must expire (the bridge refuses one without `exp`).
    const token = key
      ? await new SignJWT({}).setProtectedHeader({ alg: 'HS256' }).setSubject(player).setExpirationTime('2h').sign(key)
      : undefined;
    const auth = token ? { token } : {};
    const socket = io(c.url, { transports: ['websocket'], forceNew: true, reconnection: false, auth });
    const client: Client = { socket, seq: 0 };
    socket.on('state', (item: { data?: { data?: { t?: number } } }) => {
      const t = item.data?.data?.t;
      if (t !== undefined && count < samples.length) samples[count++] = performance.now() - t;
    });
    socket.on('chat', (m: { text: string }) => { chatSamples.push(wallNow() - Number(m.text)); });
    // Through the bridge a client may send once its session exists; directly, once connected.
    batch.push(new Promise((resolve, reject) => {
      socket.once(key ? 'session' : 'connect', () => resolve());
      socket.on('connect_error', reject); // `on`: a second refusal must not go unhandled and kill the process
    }));
    clients.push(client);
    if (batch.length >= 200) await Promise.all(batch.splice(0));
  }
  await Promise.all(batch);
  return clients.length;
}

async function run(rate: number, seconds: number): Promise<RunResult> {
  samples = new Float64Array(Math.ceil(rate * seconds * 1.2) + 1000);
  count = 0;
  let sent = 0;
  let next = 0;
  const started = performance.now();
  await new Promise<void>((resolve) => {
    const timer = setInterval(() => {
      const elapsed = (performance.now() - started) / 1000;
      const due = Math.min(rate * elapsed, rate * seconds);
      while (sent < due) {
        const c = clients[next++ % clients.length]!;
        c.socket.emit('input', { seq: ++c.seq, data: { t: performance.now() } });
        sent++;
      }
      if (elapsed >= seconds) {
        clearInterval(timer);
        resolve();
      }
    }, 2);
  });
  // Answers still in flight count, within a grace of 250 ms (anything slower fails p99 anyway).
  await new Promise((r) => setTimeout(r, 250));
  const measured = samples.subarray(0, count).sort();
  const q = (p: number) => (count === 0 ? Infinity : measured[Math.min(count - 1, Math.floor(p * count))]!);
  return { offered: rate, achieved: count / seconds, sent, received: count, p50: q(0.5), p99: q(0.99), max: q(1) };
}

function stopReading(n: number): number {
  type Tcp = { io: { engine: { transport: { ws?: { _socket?: { pause(): void } } } } } };
  const slow = clients.slice(-n);
  for (const c of slow) (c.socket as unknown as Tcp).io.engine.transport.ws?._socket?.pause();
  return slow.length;
}

async function chat(rate: number, seconds: number, send: boolean): Promise<ChatResult> {
  chatSamples = [];
  let sent = 0;
  if (send) {
    const sender = clients[0]!.socket;
    const started = performance.now();
    while (performance.now() - started < seconds * 1000) {
      const due = Math.min(rate * ((performance.now() - started) / 1000), rate * seconds);
      for (; sent < due; sent++) sender.emit('chat', { channel: 'global', text: String(wallNow()) });
      await new Promise((r) => setTimeout(r, 2));
    }
  } else await new Promise((r) => setTimeout(r, seconds * 1000));
  await new Promise((r) => setTimeout(r, 500)); // messages still on their way
  const sorted = chatSamples.sort((x, y) => x - y);
  const q = (p: number) => (sorted.length === 0 ? Infinity : sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]!);
  return { sent, received: sorted.length, p50: q(0.5), p99: q(0.99) };
}

process.on('message', (m: LoadCommand) => {
  const reply = (v: unknown) => process.send!(v);
  if (m.cmd === 'connect') connect(m).then((n) => reply({ connected: n }), (err: Error) => reply({ error: err.message }));
  else if (m.cmd === 'run') void run(m.rate, m.seconds).then(reply);
  else if (m.cmd === 'chat') void chat(m.rate, m.seconds, m.send).then(reply);
  else if (m.cmd === 'stop-reading') reply({ paused: stopReading(m.count) });
  else {
    for (const c of clients) c.socket.disconnect();
    clients = [];
    reply({ closed: true });
  }
});
