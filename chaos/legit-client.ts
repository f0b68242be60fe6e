// The fuzz suite's legitimate player, in its own process so that the fuzzing loop cannot delay
// what it measures: sends an input every 50 ms and records each one's time to acknowledgement.
// Started with IPC (fork): { url, token, mark } in; on 'stop', replies with what it measured.
import { MeshClient } from '../client-sdk/index.js';

interface Start { url: string; token: string; mark: string }
const start = await new Promise<Start>((resolve) => process.once('message', (m) => resolve(m as Start)));
const client = new MeshClient({ urls: start.url, token: start.token });
const sentAt = new Map<number, number>();
const rtts: { at: number; ms: number }[] = [];
let marked = 0;
client.on('state', (item) => {
  if (JSON.stringify(item).includes(start.mark)) marked++;
  for (const [seq, t] of sentAt) {
    if (seq > client.ack) continue;
    rtts.push({ at: performance.timeOrigin + t, ms: performance.now() - t });
    sentAt.delete(seq);
  }
});
await client.connect();
const ticker = setInterval(() => sentAt.set(client.send({ dx: 1 }), performance.now()), 50);
process.send!({ ready: true });
process.once('message', () => {
  clearInterval(ticker);
  const deadline = Date.now() + 10_000;
  const finish = () => {
    if (client.pending > 0 && Date.now() < deadline) return void setTimeout(finish, 20);
    process.send!({ rtts, marked, pending: client.pending, ack: client.ack }, () => { client.close(); process.exit(0); });
  };
  finish();
});
