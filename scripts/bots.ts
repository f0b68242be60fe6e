// Bot players: each logs in through the dev login and wanders at 10 Hz.
// npm run bots -- --count 12 --urls http://127.0.0.1:8080,http://127.0.0.1:8081
import { parseArgs } from 'node:util';
import { MeshClient } from '../client-sdk/index.js';

const USAGE = `usage: npm run bots -- [--count N] [--urls URL,URL,...] [--hz N]
  --count N     how many bot players (default 12)
  --urls URLS   bridge URLs, comma-separated; each bot fails over along them (default http://127.0.0.1:8080)
  --hz N        inputs per second per bot (default 10)
The bridges must serve POST /v1/login (MESHBRIDGE_DEV_LOGIN=true).`;

let values;
try {
  ({ values } = parseArgs({
    options: {
      count: { type: 'string', default: '12' },
      urls: { type: 'string', default: 'http://127.0.0.1:8080' },
      hz: { type: 'string', default: '10' },
      help: { type: 'boolean', short: 'h', default: false },
    },
  }));
} catch (err) {
  process.stderr.write(`bots: ${(err as Error).message}\n${USAGE}\n`);
  process.exit(2);
}
if (values.help) {
  process.stdout.write(`${USAGE}\n`);
  process.exit(0);
}
if (!(Number(values.count) >= 1) || !(Number(values.hz) > 0)) {
  process.stderr.write(`bots: --count must be 1 or more and --hz above 0\n${USAGE}\n`);
  process.exit(2);
}
const urls = values.urls.split(',');
const count = Number(values.count);
const clients: MeshClient[] = [];

async function login(url: string, player: string): Promise<string> {
  const res = await fetch(`${url}/v1/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ player }),
  });
  if (!res.ok) throw new Error(`login ${player}: ${res.status} ${await res.text()}`);
  return ((await res.json()) as { token: string }).token;
}

for (let i = 0; i < count; i++) {
  const player = `bot${i + 1}`;
  // Spread bots over the nodes; each fails over to the others.
  const order = [...urls.slice(i % urls.length), ...urls.slice(0, i % urls.length)];
  const client = new MeshClient({ urls: order, token: await login(order[0]!, player) });
  client.on('error', (e) => process.stderr.write(`${player}: ${e.code} ${e.message}\n`));
  const s = await client.connect();
  process.stdout.write(`${player}: joined area ${s.area} on ${s.server} via ${s.node}\n`);
  // What the bot sees across borders: neighbouring areas (other servers' included) arrive as area state.
  let own = s.area;
  const seen = new Map<string, number>();
  client.on('authority', (a) => {
    if (a.area !== own) seen.clear(); // a new neighbourhood
    own = a.area;
  });
  client.on('state', (item) => {
    const players = (item.data as { players?: unknown[] } | null)?.players;
    if (item.kind === 'area' && item.area !== own && Array.isArray(players)) seen.set(item.area, players.length);
  });
  setInterval(() => {
    const across = [...seen].filter(([, n]) => n > 0).map(([area, n]) => `${n} in ${area}`);
    if (across.length > 0) process.stdout.write(`${player} in ${own} sees across the border: ${across.join(', ')}\n`);
    seen.clear();
  }, 15_000).unref();
  // Chat: now and then a line to everyone, to the area or to another bot; bot1 logs what it hears.
  if (i === 0) client.on('chat', (m) => process.stdout.write(`${player} hears [${m.channel}] ${m.from}: ${m.text}\n`));
  setInterval(() => {
    const roll = Math.random();
    const [channel, text] = roll < 0.4 ? ['global', `hello from ${own}`]
      : roll < 0.8 ? ['area', `anyone near ${own}?`]
      : [`whisper:bot${1 + Math.floor(Math.random() * count)}`, 'psst'];
    if (client.connected) client.chat.send(channel, text).catch(() => {}); // e.g. RATE_LIMITED: the next one will do
  }, 20_000 + Math.random() * 40_000).unref();
  let heading = Math.random() * 2 * Math.PI;
  setInterval(() => {
    heading += (Math.random() - 0.5) * 0.6;
    if (client.connected) client.send({ dx: Math.cos(heading), dy: Math.sin(heading) });
  }, 1000 / Number(values.hz));
  clients.push(client);
}
process.once('SIGTERM', () => {
  for (const c of clients) c.close();
  process.exit(0);
});
