// HTTP surface of a node: health, readiness, metrics, dev login, the public network listing, the
// operator's dashboard data and a small admin API. Every 4xx carries { error: { code, message } };
// a 500 is our fault and carries the request id its log line has (no exception here ends the process).
import { readFileSync } from 'node:fs';
import cors from 'cors';
import express, { type NextFunction, type Request, type RequestHandler, type Response } from 'express';
import type { Logger } from 'winston';
import type { BridgeConfig } from '../../shared/config.js';
import { z } from 'zod';
import { ErrorCode, ID_CHARS, IdSchema } from '../../shared/protocol.js';
import type { AuthorityCache } from '../authority/authority-cache.js';
import type { AuthorityMap } from '../authority/authority-map.js';
import type { ControlPlane } from '../mesh/control-plane.js';
import type { MeshPlanner } from '../mesh/mesh-planner.js';
import type { Transfers } from '../mesh/transfer.js';
import { secretsEqual, type TokenVerifier } from '../relay/auth.js';
import { WireError } from '../relay/wire-error.js';
import type { EdgeGuard } from './edge-guard.js';
import type { Metrics } from './metrics.js';
import type { RecentChanges } from './recent-changes.js';
import type { AreaChannels } from '../interest/area-channels.js';
import { DashboardInterest } from '../interest/dashboard-interest.js';
import type { ChatStore } from '../chat/chat-store.js';
import type { WorldSync } from '../sync/world-sync.js';
import type { NetworkListing } from './network-listing.js';

export interface HttpDeps {
  config: BridgeConfig;
  verifier: TokenVerifier;
  cache: AuthorityCache;
  metrics: Metrics;
  transfers: Transfers;
  control: ControlPlane;
  planner: MeshPlanner;
  map: AuthorityMap;
  /** The latest state of each area this node received (players are drawn from `data.players`). */
  latestAreaState: ReadonlyMap<string, unknown>;
  logger: Logger;
  isReady: () => boolean;
  /** The latest ownership changes this node saw, newest first (the dashboard shows them). */
  recent: RecentChanges;
  /** The area channels: an open dashboard is interested in every area. */
  channels: AreaChannels;
  listing: NetworkListing;
  sync: WorldSync;
  chat: ChatStore;
  edge: EdgeGuard;
}

const dashboard = readFileSync(new URL('./dashboard.html', import.meta.url), 'utf8');

export function createHttpApi(d: HttpDeps): express.Express {
  const c = d.config;
  const dashboardInterest = new DashboardInterest(d.channels, c);
  /** Every HTTP refusal is counted like the wire's, under side "http". */
  const fail = (res: Response, status: number, code: string, message: string) => {
    d.metrics.errors.inc({ code, side: 'http' });
    res.status(status).json({ error: { code, message } });
  };
  const bearer = (req: Request, ...tokens: (string | undefined)[]) => {
    const header = req.get('authorization') ?? '';
    return header.startsWith('Bearer ') && tokens.some((t) => t !== undefined && secretsEqual(header.slice(7), t));
  };
  /**
   * Operator views (the dashboard's data and chat pane) name every player and where it stands: they take the
   * dashboard's read-only token or the admin token, unless the operator opened them (dashboardOpen).
   */
  const operator: RequestHandler = (req, res, next) => {
    if (c.dashboardOpen) return next();
    if (!c.dashboardToken && !c.adminToken) {
      const why = 'operator views are disabled (set MESHBRIDGE_DASHBOARD_TOKEN or MESHBRIDGE_ADMIN_TOKEN)';
      return void fail(res, 404, 'DASHBOARD_DISABLED', why);
    }
    if (!bearer(req, c.dashboardToken, c.adminToken)) return void fail(res, 401, ErrorCode.BadToken, 'dashboard or admin token required');
    next();
  };
  const app = express();
  app.disable('x-powered-by');
  app.use((_req, _res, next) => { d.edge.trip('http'); next(); });
  app.use(express.json({ limit: '16kb' }));

  app.get('/healthz', (_req, res) => { res.json({ ok: true, node: c.nodeId }); });
  app.get('/readyz', (_req, res) => {
    if (d.isReady()) res.json({ ready: true, node: c.nodeId });
    else fail(res, 503, ErrorCode.NotReady, 'redis not reachable or scripts not loaded');
  });
  app.get('/metrics', async (_req, res) => {
    res.set('content-type', d.metrics.registry.contentType).send(await d.metrics.registry.metrics());
  });

  // Browsers on the allowed origins may log in and read the listing (preflight answered); nothing else is cross-origin.
  const crossOrigin = cors({ origin: c.corsOrigins?.split(' ') ?? false, methods: ['GET', 'POST'] });
  app.options(['/v1/login', '/v1/network'], crossOrigin);
  app.use(['/v1/login', '/v1/network'], crossOrigin);
  app.post('/v1/login', async (req, res) => {
    if (!c.devLogin) return void fail(res, 404, 'DEV_LOGIN_DISABLED', 'development login is disabled (MESHBRIDGE_DEV_LOGIN)');
    const player = IdSchema.safeParse((req.body as { player?: unknown } | undefined)?.player);
    if (!player.success) return void fail(res, 400, ErrorCode.BadInput, `body must be { "player": "<id>" } (${ID_CHARS})`);
    res.json({ token: await d.verifier.issue(player.data), player: player.data });
  });

  /** The network's one public listing (R12); the dashboard draws it. */
  app.get('/v1/network', (_req, res) => {
    const servers = [...d.cache.servers.values()];
    const areas: Record<string, { server: string; epoch: number; players: number }> = {};
    for (const [id, o] of d.cache.areas) areas[id] = { ...o, players: 0 };
    let players = 0;
    for (const p of d.cache.players.values()) {
      if (p.server === '') continue;
      players++;
      const a = areas[p.area];
      if (a) a.players++;
    }
    const { name, url } = d.listing.listing();
    res.json({
      name,
      url,
      world: c.world,
      grid: { cols: c.worldCols, rows: c.worldRows },
      servers: servers.map((s) => ({ ...s, areas: Object.keys(areas).filter((a) => areas[a]!.server === s.id) })),
      areas,
      players,
      load: servers.reduce((sum, s) => sum + s.load, 0),
      recent: d.recent.list(),
    });
  });
  app.get('/dashboard', (_req, res) => { res.type('html').send(dashboard); });
  /** The global chat's latest messages after `after` (the dashboard's chat pane). */
  app.get('/v1/chat', operator, async (req, res) => {
    const after = typeof req.query.after === 'string' && /^\d{1,15}-\d{1,15}$/.test(req.query.after) ? req.query.after : undefined;
    res.json(await d.chat.history('global', after, 50));
  });

  /**
   * What the dashboard draws beyond the listing: bridge nodes, area loads and the threshold, this
   * node's counters (the page turns them into rates), failed handoffs, and players' positions when
   * an area's state follows the convention `{ players: [{ id, x, y }], areaSize? }`.
   */
  app.get('/v1/dashboard', operator, async (_req, res) => {
    dashboardInterest.touch();
    // Counters summed over the live nodes as of their last heartbeat: behind a balancer any node answers the same.
    const nodes = await d.map.nodes();
    const counters: Record<string, number> = { inputs: 0, state: 0, handoffs: 0, errors: 0, drops: 0 };
    for (const n of nodes) if (n.alive) for (const k in counters) counters[k]! += n.totals[k] ?? 0;
    const players: Record<string, { id: string; x: number; y: number }[]> = {};
    let areaSize = 100;
    for (const [area, data] of d.latestAreaState) {
      const list = (data as { players?: unknown } | null)?.players;
      if (!Array.isArray(list)) continue;
      const size = (data as { areaSize?: unknown }).areaSize;
      if (typeof size === 'number' && size > 0) areaSize = size;
      players[area] = (list as unknown[]).slice(0, 200).filter(isDot).map(({ id, x, y }) => ({ id, x, y }));
    }
    res.json({
      node: c.nodeId,
      threshold: c.rebalanceThreshold,
      nodes: nodes.map(({ totals: _totals, ...n }) => n),
      areaLoads: Object.fromEntries(await d.map.loadAreaLoads()),
      counters,
      failures: d.transfers.recentFailures().slice(-10).reverse(),
      sync: await d.sync.summary(),
      players,
      areaSize,
    });
  });

  const admin = express.Router();
  admin.use((req, res, next) => {
    if (!c.adminToken) return void fail(res, 404, 'ADMIN_DISABLED', 'admin API is disabled (set MESHBRIDGE_ADMIN_TOKEN)');
    if (!bearer(req, c.adminToken)) return void fail(res, 401, ErrorCode.BadToken, 'admin token required');
    next();
  });
  admin.get('/areas', (_req, res) => { res.json(Object.fromEntries(d.cache.areas)); });
  admin.get('/servers', (_req, res) => { res.json([...d.cache.servers.values()]); });
  // From the mesh (Redis), not this node's cache: any node answers the same.
  admin.get('/players/:id', async (req, res) => {
    const id = req.params.id ?? '';
    const rec = IdSchema.safeParse(id).success ? (await d.map.loadPlayers([id])).get(id) : undefined;
    if (!rec || (rec.epoch === 0 && rec.session === '')) return void fail(res, 404, 'UNKNOWN_PLAYER', `no player ${id} in the mesh`);
    const { snapshot: _saved, ...record } = rec;
    res.json({ player: id, ...record, connected: rec.session !== '' });
  });
  const MoveArea = z.object({ server: IdSchema });
  admin.post('/areas/:id/move', async (req, res) => {
    const body = MoveArea.safeParse(req.body);
    if (!body.success) return void fail(res, 400, ErrorCode.BadInput, 'body must be { "server": "<id>" }');
    const area = req.params.id ?? '';
    const owner = d.cache.areas.get(area);
    if (!owner) return void fail(res, 404, 'UNKNOWN_AREA', `no area ${area} is owned or known`);
    if (!d.cache.servers.has(body.data.server)) return void fail(res, 404, 'UNKNOWN_SERVER', `no server ${body.data.server}`);
    // An area whose owner is dead or gone cannot export: it is restored from its last autosave.
    const status = d.cache.servers.get(owner.server)?.status;
    const orphaned = owner.server === '' || status === 'dead' || status === 'gone';
    res.json({ area, server: body.data.server, epoch: await d.transfers.moveArea(area, body.data.server, orphaned ? 'recover' : 'admin') });
  });
  const MovePlayer = z.object({ area: IdSchema });
  admin.post('/players/:id/move', async (req, res) => {
    const body = MovePlayer.safeParse(req.body);
    if (!body.success) return void fail(res, 400, ErrorCode.BadInput, 'body must be { "area": "<id>" }');
    const r = await d.transfers.movePlayer(req.params.id ?? '', body.data.area);
    if (!r.ok) return void fail(res, 409, r.code, r.message);
    res.json(r);
  });
  admin.post('/servers/:id/drain', async (req, res) => {
    const s = d.cache.servers.get(req.params.id ?? '');
    if (!s) return void fail(res, 404, 'UNKNOWN_SERVER', `no server ${req.params.id ?? ''}`);
    if (s.status !== 'ready' && s.status !== 'disconnected') return void fail(res, 409, 'NOT_SERVING', `server ${s.id} is ${s.status}`);
    const why = d.planner.cannotDrain(s.id);
    if (why) return void fail(res, 409, ErrorCode.NoServer, why);
    await d.control.add('drain', { server: s.id, epoch: s.epoch }, `drain:${s.id}:${s.epoch}`);
    res.status(202).json({ draining: s.id, epoch: s.epoch });
  });
  /** Cancels a drain: the areas not moved yet stay, and the server takes work again. */
  admin.delete('/servers/:id/drain', async (req, res) => {
    const s = d.cache.servers.get(req.params.id ?? '');
    if (!s) return void fail(res, 404, 'UNKNOWN_SERVER', `no server ${req.params.id ?? ''}`);
    if (!(await d.map.setServerStatus(s.id, s.epoch, 'ready')))
      return void fail(res, 409, 'NOT_DRAINING', `server ${s.id} is not draining`);
    res.json({ server: s.id, status: 'ready' });
  });
  app.use('/v1/admin', admin);

  app.use((_req, res) => { fail(res, 404, 'NOT_FOUND', 'no such endpoint'); });
  // Express hands every exception of a route or middleware here, thrown or rejected.
  app.use((err: Error & { status?: number; type?: string }, _req: Request, res: Response, _next: NextFunction) => {
    if (err instanceof WireError) return void fail(res, 409, err.code, err.message);
    if (err.type === 'entity.parse.failed') return void fail(res, 400, ErrorCode.BadInput, 'body is not valid JSON');
    if (err.type === 'entity.too.large') return void fail(res, 413, ErrorCode.BadInput, 'body too large');
    // The request's own fault, as body-parser and the router say it (bad percent-encoding, an unknown charset, …).
    const status = err.status ?? 0;
    if (status >= 400 && status < 500) return void fail(res, status, ErrorCode.BadInput, err.message);
    const requestId = d.edge.fault('http', err);
    if (res.headersSent) return void res.destroy();
    d.metrics.errors.inc({ code: ErrorCode.Internal, side: 'http' });
    const message = `internal error (request ${requestId} in the node's log)`;
    res.status(500).json({ error: { code: ErrorCode.Internal, message, requestId } });
  });
  return app;
}

/** A player drawn on the dashboard: `{ id, x, y }` in an area's state. */
function isDot(p: unknown): p is { id: string; x: number; y: number } {
  const d = p as { id?: unknown; x?: unknown; y?: unknown } | null;
  return typeof d === 'object' && d !== null && typeof d.id === 'string' && typeof d.x === 'number' && typeof d.y === 'number';
}
