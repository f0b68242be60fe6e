// Runs one reference server: npm run stub -- --id s1 --power 2 --url http://127.0.0.1:8080
// The network secret comes from MESHBRIDGE_NETWORK_SECRET.
import { parseArgs } from 'node:util';
import { ReferenceServer } from './reference-server.js';

const { values } = parseArgs({
  options: {
    id: { type: 'string' },
    power: { type: 'string', default: '1' },
    url: { type: 'string', default: 'http://127.0.0.1:8080' },
    tick: { type: 'string', default: '10' },
    echo: { type: 'boolean', default: false },
    roam: { type: 'boolean', default: false },
  },
});
const secret = process.env.MESHBRIDGE_NETWORK_SECRET;
const power = Number(values.power);
const tickHz = Number(values.tick);
const problems = [
  !values.id && '--id is required',
  !secret && 'MESHBRIDGE_NETWORK_SECRET is not set',
  !(power > 0) && '--power must be a positive number',
  !(tickHz > 0) && '--tick must be a positive number',
].filter(Boolean);
if (problems.length > 0) {
  process.stderr.write(`gameserver-stub: ${problems.join('; ')}\n`);
  process.exit(2);
}
const server = new ReferenceServer({ serverId: values.id!, secret: secret!, power, url: values.url, tickHz, echo: values.echo, roam: values.roam });
server.sdk.on('bridge-error', (e) => process.stderr.write(`${values.id}: bridge error ${e.code}: ${e.message}\n`));
try {
  await server.start();
} catch (err) {
  const code = (err as { data?: { code?: string } }).data?.code ?? '';
  process.stderr.write(`gameserver-stub ${values.id}: could not register: ${code} ${(err as Error).message}\n`);
  process.exit(1);
}
process.stdout.write(`${values.id}: registered with ${values.url}\n`);
// SIGTERM / SIGINT: a graceful drain (areas and players move to the other servers), then exit.
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    process.stdout.write(`${values.id}: draining\n`);
    server.drainAndStop().then(
      () => { process.stdout.write(`${values.id}: drained\n`); process.exit(0); },
      (err: Error) => { process.stderr.write(`${values.id}: drain failed: ${err.message}\n`); server.stop(); process.exit(1); },
    );
  });
}
