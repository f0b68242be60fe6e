// `npm run conformance -- --server '<command>' [--only 3,7]`: checks that a game server, in any
// language, keeps the promises of the /server protocol (docs/protocol.md), from the outside. It
// starts Redis and two bridge nodes on free ports, a Node reference server beside the server under
// test, and players; it moves, hands off, cuts, freezes, kills and drains the server under test and
// audits what it applied (its journal) with the chaos suite's exactly-once rule. One PASS/FAIL line
// per check, with figures; exit 1 on any failure. What the command must do: docs/conformance.md.
import { spawn, type ChildProcess } from 'node:child_process';
import { appendFileSync, existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import type { BridgeNode } from '../bridge/bridge-node.js';
import { auditAll, parseJournal } from '../chaos/audit.js';
import type { MeshClient } from '../client-sdk/index.js';
import { PROTOCOL_VERSION, SERVER_NAMESPACE } from '../shared/protocol.js';
import { Mesh, NETWORK_SECRET, RedisServer, sleep, waitFor } from '../test/harness.js';
import { handshakeOutcome, rawSocket } from '../test/helpers.js';

const USAGE = `usage: npm run conformance -- --server '<command>' [--bot '<command>'] [--only 3,7]
  <command> is run by sh; in it {url} is the bridges' URLs (comma-separated: a failover list), {id} the
  server id to use, {secret} the network secret (also in MESHBRIDGE_NETWORK_SECRET), {journal} the file
  to append each applied input and attach to. Its output is kept in sut.log beside the journals. See docs/conformance.md.
  --bot: a player implementation (check 7), run with {url} (a failover list whose first node the kit kills -9)
  and {token} (the player's JWT); it plays until done, then prints \`ACK <n>\` (its last acknowledged seq) and exits 0.
  example: npm run conformance -- --server 'npx tsx gameserver-stub/main.ts --id {id} --url {url} --journal {journal}'`;

const { values } = parseArgs({
  options: { server: { type: 'string' }, bot: { type: 'string' }, only: { type: 'string' }, help: { type: 'boolean', short: 'h' } },
});
if (values.help || !values.server) {
  process.stdout.write(`${USAGE}\n`);
  process.exit(values.help ? 0 : 2);
}
const only = values.only ? new Set(values.only.split(',').map(Number)) : undefined;
const SUT = 'sut';
const REF = 'ref';
const dir = mkdtempSync(join(tmpdir(), 'meshbridge-conformance-'));
const journals = { sut: join(dir, 'sut.journal'), ref: join(dir, 'ref.journal') };
const LEASE_MS = 3000;
const GRACE_MS = 1000;

/** The server under test, as a process the kit can signal. */
class ServerUnderTest {
  child: ChildProcess | undefined;
  output = '';
  exit: Promise<number | null> = Promise.resolve(null);

  constructor(private readonly command: string, private readonly urls: string[]) {}

  start(): void {
    const cmd = this.command.replaceAll('{url}', this.urls.join(',')).replaceAll('{id}', SUT)
      .replaceAll('{secret}', NETWORK_SECRET).replaceAll('{journal}', journals.sut);
    const child = spawn('sh', ['-c', `exec ${cmd}`], {
      env: { ...process.env, MESHBRIDGE_NETWORK_SECRET: NETWORK_SECRET }, stdio: ['ignore', 'pipe', 'pipe'],
    });
    const keep = (b: Buffer) => {
      this.output = (this.output + b.toString()).slice(-8000);
      appendFileSync(join(dir, 'sut.log'), b);
    };
    child.stdout.on('data', keep);
    child.stderr.on('data', keep);
    this.exit = new Promise((resolve) => child.once('exit', (code) => resolve(code)));
    this.child = child;
    process.once('exit', () => child.kill('SIGKILL'));
  }

  signal(sig: NodeJS.Signals): void {
    this.child?.kill(sig);
  }
}

interface Outcome { ok: boolean; detail: string }
const results: { n: number; name: string; outcome: Outcome }[] = [];
const log = (s: string) => process.stdout.write(`${s}\n`);

const redis = await RedisServer.start();
const mesh = new Mesh(redis);
const opts = { serverLeaseMs: LEASE_MS, serverReconnectGraceMs: GRACE_MS, leaseCheckMs: 200, worldCols: 4, worldRows: 4 };
const [a, b] = [await mesh.addBridge(opts), await mesh.addBridge(opts)];
const nodes: BridgeNode[] = [a, b];
const sut = new ServerUnderTest(values.server, [mesh.url(a), mesh.url(b)]);
const ref = await mesh.addServer(b, REF, { journalFile: journals.ref, snapshotMs: 300 });
const players: MeshClient[] = [];
/** Players that are not the kit's own clients (the --bot), with the ack they reported. */
const otherPlayers = new Map<string, number>();
const ready = (id: string) => nodes.every((n) => n.testHook.cache.servers.get(id)?.status === 'ready');
const ownerOf = (area: string) => a.testHook.cache.areas.get(area)?.server;

/** The exactly-once audit over both servers' journals; every player's inputs up to its ack. */
function audit(): { applied: number; replayed: number; violations: string[] } {
  const text = (f: string) => (existsSync(f) ? readFileSync(f, 'utf8') : '');
  const events = [...parseJournal(text(journals.sut)), ...parseJournal(text(journals.ref))];
  const audits = auditAll(events, new Map([...players.map((p): [string, number] => [p.player!, p.ack]), ...otherPlayers]));
  return {
    applied: audits.reduce((n, x) => n + x.applied, 0),
    replayed: audits.reduce((n, x) => n + x.times.replayed.length, 0),
    violations: audits.flatMap((x) => x.violations.map((v) => `${x.player}: ${v}`)).concat(
      audits.filter((x) => x.rolledBack > 0).map((x) => `${x.player}: ${x.rolledBack} rolled back and never applied again`),
    ),
  };
}

/** Sends at `hz` per player until stopped (bounded: at most 60 s). */
function steady(list: MeshClient[], hz = 40): () => Promise<void> {
  let running = true;
  const loop = (async () => {
    const until = Date.now() + 60_000;
    while (running && Date.now() < until) {
      for (const p of list) p.send({ dx: Math.random() - 0.5, dy: Math.random() - 0.5 });
      await sleep(1000 / hz);
    }
  })();
  return async () => {
    running = false;
    await loop;
    await waitFor(() => list.every((p) => p.pending === 0), 15_000, 'every input acknowledged');
  };
}

const journalLines = (prefix: string) => (existsSync(journals.sut) ? readFileSync(journals.sut, 'utf8') : '').split('\n')
  .filter((l) => l.startsWith(prefix));

async function check(n: number, name: string, run: () => Promise<string>): Promise<void> {
  if (only && !only.has(n)) return;
  const started = performance.now();
  let outcome: Outcome;
  try {
    outcome = { ok: true, detail: await run() };
  } catch (err) {
    const gone = sut.child && sut.child.exitCode !== null
      ? ` [the server exited (${sut.child.exitCode ?? sut.child.signalCode}): ${sut.output.slice(-400).replaceAll('\n', ' | ')}]` : '';
    outcome = { ok: false, detail: (err as Error).message.split('\n').slice(0, 6).join(' | ') + gone };
  }
  if (outcome.detail.startsWith('SKIP: ')) {
    log(`SKIP ${String(n).padStart(2)}  ${name} — ${outcome.detail.slice(6)}`);
    return;
  }
  results.push({ n, name, outcome });
  const ms = (performance.now() - started).toFixed(0);
  log(`${outcome.ok ? 'PASS' : 'FAIL'} ${String(n).padStart(2)}  ${name} — ${outcome.detail} (${ms} ms)`);
}

log(`conformance: two bridge nodes ${mesh.url(a)} ${mesh.url(b)}, reference server '${REF}', server under test '${SUT}'; files in ${dir}`);
sut.start();
let registeredAfter = 0;
await check(1, 'registers, fetches the world data and sends sync:ready', async () => {
  const t = performance.now();
  await waitFor(() => ready(SUT), 20_000, `'${SUT}' ready on both nodes (its output: ${sut.output.slice(-300)})`);
  registeredAfter = performance.now() - t;
  return `ready on both nodes ${registeredAfter.toFixed(0)} ms after start`;
});
if (!ready(SUT)) await waitFor(() => ready(SUT), 20_000, `'${SUT}' ready`).catch(() => undefined);
await a.testHook.assignArea('0,0', SUT).catch(() => undefined);
await a.testHook.assignArea('1,0', REF).catch(() => undefined);

await check(2, 'inputs exactly once and in order under a flood', async () => {
  if (ownerOf('0,0') !== SUT) throw new Error(`area 0,0 is not the server's (${ownerOf('0,0')})`);
  const flood = await mesh.addClient([a, b], 'flood', { maxUnacked: 100_000 });
  players.push(flood);
  for (let i = 0; i < 2000; i++) flood.send({ dx: 1 });
  await waitFor(() => flood.pending === 0, 20_000, 'the flood acknowledged');
  const r = audit();
  if (r.violations.length > 0) throw new Error(r.violations.slice(0, 5).join('; '));
  return `2000 inputs, ${journalLines('I ').length} applications journaled, 0 lost, 0 twice`;
});

await check(3, '20 handoffs both ways with the reference server, under input', async () => {
  const walker = await mesh.addClient([a, b], 'walker', { maxUnacked: 100_000 });
  players.push(walker);
  await waitFor(() => a.testHook.cache.players.get('walker')?.server === SUT, 5000, 'walker on the server under test');
  const stop = steady([walker]);
  for (let i = 0; i < 20; i++) {
    const r = await a.testHook.handoff('walker', i % 2 === 0 ? '1,0' : '0,0');
    if (!r.ok) throw new Error(`handoff ${i + 1}: ${r.code} ${r.message}`);
    await sleep(50);
  }
  await stop();
  const r = audit();
  if (r.violations.length > 0) throw new Error(r.violations.slice(0, 5).join('; '));
  return `20 handoffs, ${walker.ack} inputs of the walker applied once, in order`;
});

await check(4, 'area moves both ways (with a player inside, under input)', async () => {
  const mover = await mesh.addClient([a, b], 'mover', { maxUnacked: 100_000 });
  players.push(mover);
  const stop = steady([mover]);
  for (const target of [REF, SUT, REF, SUT]) {
    await a.testHook.moveArea('0,0', target);
    await waitFor(() => ownerOf('0,0') === target, 5000, `0,0 on ${target}`);
    await sleep(200);
  }
  await stop();
  const r = audit();
  if (r.violations.length > 0) throw new Error(r.violations.slice(0, 5).join('; '));
  return `4 moves, ${mover.ack} inputs applied once, in order`;
});

await check(5, 'a dropped connection: back within the grace with its epoch, nothing lost or applied twice', async () => {
  const before = nodes.map((n) => n.testHook.linkEpoch(SUT)).find((e) => e !== undefined);
  const stop = steady(players);
  await sleep(300);
  const t = performance.now();
  if (!nodes.some((n) => n.testHook.dropLink(SUT))) throw new Error('no link to drop');
  await waitFor(() => nodes.some((n) => (n.testHook.linkEpoch(SUT) ?? 0) > (before ?? 0)), GRACE_MS * 3, 'the server back');
  const back = performance.now() - t;
  await sleep(500);
  await stop();
  if (ownerOf('0,0') !== SUT) throw new Error('its area was recovered: it did not resume within the grace');
  if (journalLines('A ').some((l) => l.endsWith(' 1'))) throw new Error('a player was re-attached with resync (it lost its session)');
  const r = audit();
  if (r.violations.length > 0) throw new Error(r.violations.slice(0, 5).join('; '));
  return `back ${back.toFixed(0)} ms after the cut (grace ${GRACE_MS} ms), session epoch ${before} → ${before! + 1}, 0 lost`;
});

await check(6, 'answers rpc: a result or { error }, never silence', async () => {
  const answer = await ref.sdk.call(SUT, 'conformance.unknown-method', { x: 1 }, 3000).then(
    () => 'result', (e: Error & { code?: string }) => e.code ?? e.message,
  );
  if (answer !== 'REMOTE_ERROR' && answer !== 'result') throw new Error(`an unknown method answered ${answer}, not REMOTE_ERROR`);
  return `an unknown method: ${answer}`;
});

await check(7, 'a player implementation (--bot) through handoffs, area moves and a bridge kill -9', async () => {
  if (!values.bot) return 'SKIP: no --bot given';
  // A third node, as its own process, that the bot connects to first: the one killed.
  const doomed = await mesh.spawnBridge('doomed', {
    MESHBRIDGE_SERVER_LEASE_MS: String(LEASE_MS), MESHBRIDGE_SERVER_RECONNECT_GRACE_MS: String(GRACE_MS), MESHBRIDGE_LEASE_CHECK_MS: '200',
  });
  await a.testHook.moveArea('0,0', SUT).catch(() => undefined);
  const urls = [doomed.url, mesh.url(a), mesh.url(b)].join(',');
  const cmd = values.bot.replaceAll('{url}', urls).replaceAll('{token}', await mesh.token('bot'));
  const child = spawn('sh', ['-c', `exec ${cmd}`], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (d: Buffer) => { out += d.toString(); });
  child.stderr.on('data', (d: Buffer) => { out += d.toString(); });
  const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
  process.once('exit', () => child.kill('SIGKILL'));
  await waitFor(() => a.testHook.cache.players.get('bot')?.server !== undefined, 15_000, 'the bot\'s session')
    .catch((err: Error) => { throw new Error(`${err.message} (its output: ${out.slice(-300)})`); });
  let moves = 0;
  for (let i = 0; i < 10; i++) {
    const r = await a.testHook.handoff('bot', i % 2 === 0 ? '1,0' : '0,0');
    if (!r.ok) throw new Error(`handoff ${i + 1}: ${r.code} ${r.message}`);
    moves++;
    await sleep(100);
  }
  // The bot's area to the reference server and back (it ends where check 8 expects it: on the server under test).
  const area = a.testHook.cache.players.get('bot')!.area;
  for (const target of [ownerOf(area) === SUT ? REF : SUT, SUT]) {
    if (ownerOf(area) === target) continue;
    await a.testHook.moveArea(area, target);
    moves++;
    await sleep(200);
  }
  doomed.child.kill('SIGKILL');
  const code = await Promise.race([exited, sleep(60_000).then(() => 'timeout' as const)]);
  const ack = /ACK (\d+)/.exec(out);
  if (code !== 0 || !ack) throw new Error(`the bot exited ${code}: ${out.slice(-400)}`);
  otherPlayers.set('bot', Number(ack[1]));
  const r = audit();
  if (r.violations.length > 0) throw new Error(r.violations.slice(0, 5).join('; '));
  const resumed = out.split('\n').filter((l) => l.startsWith('SESSION')).length;
  return `${ack[1]} inputs of the bot applied once, in order, through ${moves} moves and a kill -9 of its node (${resumed} sessions)`;
});

await check(8, 'frozen past its grace (SIGSTOP): recovered elsewhere, and once woken applies nothing stale', async () => {
  const stop = steady(players);
  await sleep(300);
  sut.signal('SIGSTOP');
  await waitFor(() => ownerOf('0,0') === REF, 15_000, 'its area recovered onto the reference server').finally(() => sut.signal('SIGCONT'));
  const woke = Date.now();
  await sleep(1500);
  await stop();
  const late = parseJournal(journalLines('I ').join('\n')).filter((e) => e.at >= woke && e.server === SUT);
  if (late.length > 0) throw new Error(`${late.length} inputs applied after waking (stale: its areas were gone)`);
  const r = audit();
  if (r.violations.length > 0) throw new Error(r.violations.slice(0, 5).join('; '));
  await waitFor(() => ready(SUT), 15_000, 'registered afresh after FENCED');
  return `nothing applied after waking; ${r.replayed} inputs replayed onto the autosave by the new owner; registered afresh`;
});

await check(9, 'kill -9: recovered from its autosave; its old epoch is FENCED; a new process registers afresh', async () => {
  await a.testHook.moveArea('0,0', SUT).catch(() => undefined);
  await waitFor(() => ownerOf('0,0') === SUT, 5000, '0,0 back on the server under test');
  const stop = steady(players);
  await sleep(1000); // an autosave or two
  const epoch = nodes.map((n) => n.testHook.linkEpoch(SUT)).find((e) => e !== undefined)!;
  sut.signal('SIGKILL');
  await sut.exit;
  await waitFor(() => ownerOf('0,0') === REF, 10_000, 'its area recovered onto the reference server');
  await sleep(500);
  await stop();
  const auth = { serverId: SUT, secret: NETWORK_SECRET, power: 1, protocol: PROTOCOL_VERSION, epoch };
  const stale = rawSocket(mesh.url(a), SERVER_NAMESPACE, auth);
  const outcome = await handshakeOutcome(stale);
  stale.close();
  if (outcome !== 'FENCED') throw new Error(`a reconnect with the dead session's epoch: ${outcome}, not FENCED`);
  const r = audit();
  if (r.violations.length > 0) throw new Error(r.violations.slice(0, 5).join('; '));
  sut.start();
  await waitFor(() => ready(SUT), 20_000, 'the new process ready');
  return `recovered; ${r.replayed} inputs applied after its last autosave replayed, 0 lost; old epoch ${epoch} FENCED; new process ready`;
});

await check(10, 'SIGTERM: drains (its areas move away), then exits 0', async () => {
  await a.testHook.moveArea('0,0', SUT).catch(() => undefined);
  await waitFor(() => ownerOf('0,0') === SUT, 5000, '0,0 on the server under test');
  const stop = steady(players);
  await sleep(300);
  sut.signal('SIGTERM');
  const code = await Promise.race([sut.exit, sleep(15_000).then(() => 'timeout' as const)]);
  await stop();
  if (code !== 0) throw new Error(`exit ${code} after SIGTERM (output: ${sut.output.slice(-300)})`);
  if (ownerOf('0,0') !== REF) throw new Error('its area did not move to the reference server');
  const r = audit();
  if (r.violations.length > 0) throw new Error(r.violations.slice(0, 5).join('; '));
  return `drained and exited 0; ${r.applied} applications audited over the run, 0 lost, 0 twice`;
});

sut.signal('SIGKILL');
await mesh.close();
await redis.stop();
const failed = results.filter((r) => !r.outcome.ok);
log(`conformance: ${results.length - failed.length} of ${results.length} checks passed`);
process.exit(failed.length === 0 ? 0 : 1);
