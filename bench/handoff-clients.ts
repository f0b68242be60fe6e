// P4's players, in their own process (forked by bench/run.ts, driven over IPC): two movers sending
// ~500 inputs/s each, and background players at 20 Hz, all SDK clients (they re-send what a move
// may lose, as a game would). The bench moves the movers between servers meanwhile.
import { SignJWT } from 'jose';
import { MeshClient } from '../client-sdk/index.js';

export type HandoffClientsCommand =
  | { cmd: 'connect'; urls: string[]; jwtSecret: string; movers: number; background: number }
  | { cmd: 'start' }
  | { cmd: 'stop' };

let movers: MeshClient[] = [];
let background: MeshClient[] = [];
let running = false;
const senders: Promise<void>[] = [];
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function client(urls: string[], key: Uint8Array, player: string, i: number): Promise<MeshClient> {
  const token = await new SignJWT({}).setProtectedHeader({ alg: 'HS256' }).setSubject(player).setExpirationTime('2h').sign(key);
  const c = new MeshClient({ urls: [urls[i % urls.length]!], token, resendAfterMs: 300, maxUnacked: 1_000_000 });
  await c.connect();
  return c;
}

async function sendWhileRunning(clients: MeshClient[], data: object, everyMs: number): Promise<void> {
  while (running) {
    for (const c of clients) c.send(data);
    await sleep(everyMs);
  }
}

process.on('message', (m: HandoffClientsCommand) => {
  const reply = (v: unknown) => process.send!(v);
  if (m.cmd === 'connect') {
    const key = new TextEncoder().encode(m.jwtSecret);
    void (async () => {
      movers = await Promise.all(Array.from({ length: m.movers }, (_, i) => client(m.urls, key, `m${i}`, i)));
      background = await Promise.all(Array.from({ length: m.background }, (_, i) => client(m.urls, key, `bg${i}`, i)));
      reply({ movers: movers.map((c) => c.player), areas: movers.map((c) => c.session?.area) });
    })().catch((err: Error) => reply({ error: err.message }));
  } else if (m.cmd === 'start') {
    running = true;
    senders.push(sendWhileRunning(movers, { dx: 1 }, 2), sendWhileRunning(background, { dy: 1 }, 50));
    reply({ started: true });
  } else if (m.cmd === 'stop') {
    running = false;
    void (async () => {
      await Promise.all(senders);
      const deadline = Date.now() + 20_000;
      while (movers.some((c) => c.pending > 0) && Date.now() < deadline) await sleep(20);
      reply({ inputs: movers.reduce((s, c) => s + c.ack, 0), pending: movers.reduce((s, c) => s + c.pending, 0) });
      for (const c of [...movers, ...background]) c.close();
    })();
  }
});
