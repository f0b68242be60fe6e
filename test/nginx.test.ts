// deploy/nginx.conf as shipped, on the nginx this machine has (Debian's), in front of two real bridge
// nodes: only the addresses are rewritten (compose's bridge-1/bridge-2 and port 8080 become local ones).
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'chai';
import { io } from 'socket.io-client';
import { CLIENT_NAMESPACE } from '../shared/protocol.js';
import { Mesh, freePort, waitFor } from './harness.js';
import { sharedRedis } from './setup.js';

const NGINX = process.env.NGINX_PATH ?? (existsSync('/usr/sbin/nginx') ? '/usr/sbin/nginx' : 'nginx');

/** The shipped file, pointed at these ports; returns the nginx command's arguments. */
function configure(dir: string, listen: number, upstreams: [number, number]): string[] {
  const conf = readFileSync('deploy/nginx.conf', 'utf8')
    .replace('bridge-1:8080', `127.0.0.1:${upstreams[0]}`)
    .replace('bridge-2:8080', `127.0.0.1:${upstreams[1]}`)
    .replace('listen 8080;', `listen 127.0.0.1:${listen};`);
  writeFileSync(join(dir, 'nginx.conf'), conf);
  const globals = `daemon off; pid ${join(dir, 'nginx.pid')}; error_log ${join(dir, 'error.log')};`;
  return ['-p', dir, '-c', join(dir, 'nginx.conf'), '-g', globals];
}

describe('deploy/nginx.conf in front of two bridge nodes (real nginx)', () => {
  let mesh: Mesh;
  let nginx: ChildProcess | undefined;
  before(function () {
    if (spawnSync(NGINX, ['-v']).status !== 0) {
      throw new Error('nginx not found: this test runs the shipped deploy/nginx.conf; install it with `sudo apt-get install -y nginx`');
    }
  });
  beforeEach(() => { mesh = new Mesh(sharedRedis()); });
  afterEach(async () => {
    nginx?.kill('SIGQUIT');
    await mesh.close();
  });

  it('loads (nginx -t), keeps the port in Host, and sends new sockets to a restarted node at once', async function () {
    this.timeout(30_000);
    const ports: [number, number] = [await freePort(), await freePort()];
    const [a] = [await mesh.addBridge({ port: ports[0] }), await mesh.addBridge({ port: ports[1] })];
    await mesh.addServer(a, 's1');
    const lb = await freePort();
    const dir = mkdtempSync(join(tmpdir(), 'meshbridge-nginx-'));
    const args = configure(dir, lb, ports);
    const check = spawnSync(NGINX, ['-t', ...args], { encoding: 'utf8' });
    expect(check.status, check.stderr).to.equal(0);
    nginx = spawn(NGINX, args, { stdio: 'ignore' });
    const url = `http://127.0.0.1:${lb}`;
    await waitFor(async () => (await fetch(`${url}/healthz`).catch(() => undefined))?.ok === true, 5000, 'nginx up');

    // A page served from the balancer's own origin (a non-default port) is the node's own origin: not refused.
    const tokens = await Promise.all(Array.from({ length: 10 }, (_, i) => mesh.token(`p${i}`)));
    const open = (i: number, origin?: string) => new Promise<string>((resolve) => {
      const s = io(`${url}${CLIENT_NAMESPACE}`, {
        transports: ['websocket'], forceNew: true, reconnection: false, auth: { token: tokens[i] },
        ...(origin ? { extraHeaders: { origin } } : {}),
      });
      s.once('session', (session: { node: string }) => resolve(session.node));
      s.once('connect_error', (e: Error) => { s.close(); resolve(`refused: ${e.message}`); });
      sockets.push(s);
    });
    const sockets: ReturnType<typeof io>[] = [];
    try {
      expect(await open(0, url)).not.to.match(/^refused/);
      expect(await open(1, 'http://127.0.0.1:1')).to.match(/^refused/, 'positive control: another origin is refused');

      // Node b stops; new sockets all go to a meanwhile. Back on its port, it is the emptiest: it gets the new ones.
      await mesh.bridges[1]!.close();
      for (let i = 2; i < 4; i++) expect(await open(i)).to.equal(a.id);
      const back = await mesh.addBridge({ port: ports[1] });
      const nodes: string[] = [];
      for (let i = 4; i < 10; i++) nodes.push(await open(i));
      expect(nodes.filter((n) => n === back.id).length, nodes.join(' ')).to.be.at.least(4);
    } finally {
      for (const s of sockets) s.close();
    }
  });
});
