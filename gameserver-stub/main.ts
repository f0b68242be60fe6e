// Runs one reference server: npm run stub -- --id s1 --power 2 --url http://127.0.0.1:8080
// The network secret comes from MESHBRIDGE_NETWORK_SECRET.
import { parseArgs } from 'node:util';
import { ReferenceServer } from './reference-server.js';

const USAGE = `usage: npm run stub -- --id <server id> [options]
  --id ID            this server's id (required)
  --url URLS         bridge URL, or several separated by commas to fail over (default http://127.0.0.1:8080)
  --power N          how much work this server can do (default 1)
  --tick HZ          simulation ticks per second (default 10)
  --snapshot-ms MS   autosave period, 0 = off (default 1000)
  --roam             players walk across areas (handoffs)
  --echo             answer every input at once (benchmarks)
  --journal FILE     append every applied input and attach to FILE (the chaos suite audits it)
  --exit-on-fenced   exit (status 3) when the bridge declares this session over, instead of registering afresh
environment: MESHBRIDGE_NETWORK_SECRET (required; or this server's own key)
rpc methods it answers (other servers call them through the bridge):
  playersNear { x, y, reach }  ->  [{ id, x, y }]   its players within reach world units of the point`;

let values;
try {
  ({ values } = parseArgs({
    options: {
      id: { type: 'string' },
      power: { type: 'string', default: '1' },
      url: { type: 'string', default: 'http://127.0.0.1:8080' },
      tick: { type: 'string', default: '10' },
      'snapshot-ms': { type: 'string', default: '1000' },
      echo: { type: 'boolean', default: false },
      roam: { type: 'boolean', default: false },
      journal: { type: 'string' },
      'exit-on-fenced': { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  }));
} catch (err) {
  process.stderr.write(`gameserver-stub: ${(err as Error).message}\n${USAGE}\n`);
  process.exit(2);
}
if (values.help) {
  process.stdout.write(`${USAGE}\n`);
  process.exit(0);
}
const secret = process.env.MESHBRIDGE_NETWORK_SECRET;
const power = Number(values.power);
const tickHz = Number(values.tick);
const snapshotMs = Number(values['snapshot-ms']);
const problems = [
  !values.id && '--id is required',
  !secret && 'MESHBRIDGE_NETWORK_SECRET is not set',
  !(power > 0) && '--power must be a positive number',
  !(tickHz > 0) && '--tick must be a positive number',
  !(snapshotMs >= 0) && '--snapshot-ms must be 0 or more',
].filter(Boolean);
if (problems.length > 0) {
  process.stderr.write(`gameserver-stub: ${problems.join('; ')}\n${USAGE}\n`);
  process.exit(2);
}
const urls = values.url.split(',').map((u) => u.trim()).filter(Boolean);
const server = new ReferenceServer({
  serverId: values.id!, secret: secret!, power, url: urls, tickHz, snapshotMs, echo: values.echo, roam: values.roam,
  log: (line) => process.stdout.write(`${new Date().toISOString()} ${line}\n`),
  ...(values.journal ? { journalFile: values.journal } : {}),
});
server.sdk.on('bridge-error', (e) => {
  process.stderr.write(`${values.id}: bridge error ${e.code}: ${e.message}\n`);
  if (e.code === 'FENCED' && values['exit-on-fenced']) {
    server.stop();
    process.exit(3);
  }
});
const stamp = () => new Date().toISOString();
server.sdk.on('disconnect', (reason) => process.stdout.write(`${stamp()} ${values.id}: disconnected (${reason})\n`));
server.sdk.on('welcome', (w) => process.stdout.write(`${stamp()} ${values.id}: session ${w.epoch} on ${w.node}\n`));
// Drained (on SIGTERM below, or because an operator drained it): nothing left to serve.
server.sdk.once('drained', () => {
  process.stdout.write(`${values.id}: drained\n`);
  server.stop();
  process.exit(0);
});
try {
  await server.start();
} catch (err) {
  const code = (err as { data?: { code?: string } }).data?.code ?? '';
  process.stderr.write(`gameserver-stub ${values.id}: could not register with ${urls.join(', ')}: ${code} ${(err as Error).message}\n`);
  process.exit(1);
}
process.stdout.write(`${values.id}: registered with ${urls.join(', ')}\n`);
// SIGTERM / SIGINT: a graceful drain (areas and players move to the other servers), then exit.
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    process.stdout.write(`${values.id}: draining\n`);
    server.drainAndStop().catch((err: Error) => {
      process.stderr.write(`${values.id}: drain failed: ${err.message}\n`);
      server.stop();
      process.exit(1);
    });
  });
}
