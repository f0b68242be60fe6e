// Bridge configuration: defaults < optional JSON file (MESHBRIDGE_CONFIG) < environment.
// Validated once at start; every bad setting is reported on its own line.
import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import { z } from 'zod';
import { LoadModel } from './load-model.js';

const int = (min: number) => z.coerce.number().int().min(min);
const bool = z.union([z.boolean(), z.string()]).transform((v, ctx) => {
  if (typeof v === 'boolean') return v;
  if (v === 'true' || v === '1') return true;
  if (v === 'false' || v === '0') return false;
  ctx.addIssue({ code: 'custom', message: `"${v}" is not one of true, false, 1, 0` });
  return z.NEVER;
});
/** A comma-separated list (or an array, from the JSON file), each entry checked by `problem`. */
const list = (problem: (entry: string) => string | undefined) =>
  z.union([z.array(z.string()), z.string()]).transform((v, ctx) => {
    const entries = (typeof v === 'string' ? v.split(',') : v).map((x) => x.trim()).filter(Boolean);
    for (const e of entries) {
      const message = problem(e);
      if (message) ctx.addIssue({ code: 'custom', message });
    }
    return entries;
  }).default([]);
export const DEFAULT_LOAD_FORMULA = 'players * (1 + mass / 1000) * (1 + projectiles / 100)';
export const DEFAULT_POWER_FORMULA = 'ram * cpu * cores / max(ping, 1)';

export const BridgeConfigSchema = z.object({
  nodeId: z
    .string()
    .regex(/^[A-Za-z0-9_.-]{1,64}$/)
    .default(() => `${hostname()}-${randomBytes(3).toString('hex')}`),
  host: z.string().default('0.0.0.0'),
  port: int(0).max(65535).default(8080),
  redisUrl: z
    .string()
    .url()
    .refine((u) => /^rediss?:\/\//.test(u), 'must start with redis:// or rediss://')
    .default('redis://127.0.0.1:6379'),
  /**
   * A Redis Cluster instead of one server: some of its nodes' URLs ("redis://10.0.0.1:7000,redis://10.0.0.2:7000"),
   * the first one's password for all. Hot channels then use sharded pub/sub (docs/operations.md "Redis Cluster").
   */
  redisClusterNodes: list((u) => (/^rediss?:\/\/[^/]+:\d+\/?$/.test(u) ? undefined : `"${u}" is not redis://host:port`)),
  /** Redis Sentinel: its sentinels ("10.0.0.1:26379,10.0.0.2:26379"); the master is looked up by redisSentinelName. */
  redisSentinels: list((s) => (/^[^:\s]+:\d+$/.test(s) ? undefined : `"${s}" is not host:port`)),
  redisSentinelName: z.string().regex(/^[A-Za-z0-9_.-]{1,64}$/).default('mymaster'),
  prefix: z
    .string()
    .regex(/^[A-Za-z0-9_.-]{1,32}$/)
    .default('mb'),
  world: z
    .string()
    .regex(/^[A-Za-z0-9_.-]{1,32}$/)
    .default('world'),
  /** The network password servers present. */
  networkSecret: z.string().min(8, 'must be at least 8 characters'),
  /**
   * Per-server credentials: a server whose id is listed must present its own key, not the network
   * secret (one leaked secret then hands out no listed id). "s1:key1,s2:key2" or a JSON object.
   */
  serverKeys: z
    .union([
      z.record(z.string(), z.string().min(16, 'each key must be at least 16 characters')),
      z.string().transform((v, ctx) => {
        const out: Record<string, string> = {};
        for (const pair of v
          .split(',')
          .map((x) => x.trim())
          .filter(Boolean)) {
          const at = pair.indexOf(':');
          if (at < 1 || pair.length - at - 1 < 16) {
            ctx.addIssue({
              code: 'custom',
              message: `"${pair.slice(0, at > 0 ? at : 16)}…": write id:key, the key at least 16 characters`,
            });
            return z.NEVER;
          }
          out[pair.slice(0, at)] = pair.slice(at + 1);
        }
        return out;
      }),
    ])
    .default({}),
  /** With serverKeys: refuse ids that are not listed (no server joins with the network secret alone). */
  serverKeysOnly: bool.default(false),
  /** HS256 shared secret for client tokens (or set jwtPublicKey). */
  jwtSecret: z.string().min(16, 'must be at least 16 characters').optional(),
  /** PEM SPKI public key for RS256/ES256/EdDSA client tokens. */
  jwtPublicKey: z.string().optional(),
  /** Issue tokens at POST /v1/login (development only; needs jwtSecret). */
  devLogin: bool.default(false),
  /** Bearer token for /v1/admin (disabled when unset); it opens the operator views too. */
  adminToken: z.string().min(16, 'must be at least 16 characters').optional(),
  /** An HTTP request (headers and body, not a WebSocket once upgraded) must arrive whole within this, or is answered 408. */
  httpRequestTimeoutMs: int(100).default(10_000),
  /** Read-only bearer token for the operator views: the dashboard's data and its chat pane (they name every player). */
  dashboardToken: z.string().min(16, 'must be at least 16 characters').optional(),
  /** Operator views without a token: only where no one else reaches the node (`npm start` sets it, and says so). */
  dashboardOpen: bool.default(false),
  logLevel: z.enum(['error', 'warn', 'info', 'debug']).default('info'),
  /**
   * Browser origins allowed to log in, read the listing and connect as clients ("https://a.example https://b.example").
   * `null` allows pages with an opaque origin (file://, sandboxed frames): any such page, so only on purpose.
   */
  corsOrigins: z
    .string()
    .regex(/^(https?:\/\/[^\s/]+|null)( (https?:\/\/[^\s/]+|null))*$/, 'space-separated origins like "https://play.example.com" (or null)')
    .optional(),
  /** The world is a grid of areas with ids "col,row". */
  worldCols: int(1).max(1000).default(4),
  worldRows: int(1).max(1000).default(4),
  /** Where new players start: space-separated area ids; a player always gets the same one. */
  spawnAreas: z
    .string()
    .regex(/^\d+,\d+( \d+,\d+)*$/, 'space-separated area ids like "0,0 2,1"')
    .default('0,0'),
  maxInputBytes: int(16).default(4096),
  /** Deepest JSON nesting of any message (the event's argument array counts as one level). */
  maxJsonDepth: int(4).max(1000).default(32),
  inputsPerSecond: int(1).default(120),
  /**
   * Acknowledged inputs an autosave does not cover yet that a client keeps at most (sent in session.limits): within
   * it a server crash costs no input. 2,400 is 2 min at 20 Hz; a server that never autosaves costs its clients this.
   */
  heldInputs: int(0).default(2400),
  inputBurst: int(1).default(240),
  maxMessageBytes: int(1024).default(1_000_000),
  serverLeaseMs: int(500).default(5000),
  /**
   * A server whose connection drops (without a drain) and does not reconnect within this is
   * recovered: its players go to other servers. One that hangs while connected stops answering the heartbeat, is
   * closed after `pingIntervalMs + pingTimeoutMs`, and is then recovered in the same way.
   */
  serverReconnectGraceMs: int(100).default(1000),
  /**
   * Socket.IO heartbeat of every connection (servers and clients): a ping each `pingIntervalMs`, closed after
   * `pingTimeoutMs` without a pong. Both sides notice a frozen peer within their sum, which must stay well inside
   * `serverLeaseMs`, so a server moves off a frozen node before it is declared dead. Unset: lease / 5 and
   * 2 × lease / 5, within 100–1,000 and 1,000–2,000 ms (1,000 and 2,000 at the default lease).
   */
  pingIntervalMs: int(100).optional(),
  pingTimeoutMs: int(100).optional(),
  sessionGraceMs: int(0).default(10_000),
  /** A client with more than this unread is slow: it gets the latest state only (coalesced). */
  clientBufferBytes: int(1024).default(1_048_576),
  /** A client slow for this long is disconnected with SLOW_CLIENT. */
  slowClientMs: int(100).default(10_000),
  nodeHeartbeatMs: int(100).default(1000),
  cacheAckTimeoutMs: int(50).default(1000),
  /** Load of one area from the metrics a server reports for it (filtrex expression). */
  loadFormula: z.string().default(DEFAULT_LOAD_FORMULA),
  /** Power of a server from its reported metrics; servers that report none keep their handshake power. */
  powerFormula: z.string().default(DEFAULT_POWER_FORMULA),
  /** Rebalance when a server's load:power is above this; a move must leave the taker at or below it. */
  rebalanceThreshold: z.coerce.number().positive().default(10),
  rebalanceIntervalMs: int(100).default(5000),
  /** An area that moved stays put this long (no ping-pong). */
  areaCooldownMs: int(0).default(60_000),
  /** How long a server has to answer an export, import or offer. */
  handoffTimeoutMs: int(50).default(2000),
  /** Inputs kept per frozen player during a handoff; more are dropped (the SDK re-sends them). */
  freezeBufferMax: int(16).default(1024),
  leaseCheckMs: int(100).default(1000),
  /** A client receives the area state of every area within this Chebyshev distance of its own. */
  interestRadius: int(0).max(8).default(1),
  /** A server receives ghosts (read-only state) of the areas within this distance of the areas it owns. */
  ghostRadius: int(0).max(8).default(1),
  /** Areas a server may watch with area:watch, beyond its default ghosts. */
  maxWatchedAreas: int(0).max(4096).default(64),
  /** Server-to-server calls and messages a server may send per second (and its burst). */
  rpcPerSecond: int(1).default(100),
  rpcBurst: int(1).default(200),
  /** Largest rpc or message payload, in bytes of JSON. */
  maxRpcBytes: int(64).default(65_536),
  /** Largest world chunk a server may upload with sync:put. */
  maxChunkBytes: int(1).max(64 * 1024 * 1024).default(1_048_576),
  /** How often uploaded chunks are announced to the other servers (each server at its own phase within it). */
  syncIntervalMs: int(50).default(1000),
  /** Bytes a server may fetch with sync:get per second (a token bucket; over it: THROTTLED with a retry-after). */
  syncBytesPerSecond: int(1024).default(8 * 1024 * 1024),
  /** Chunk ids one sync:get may name. */
  maxSyncIds: int(1).max(10_000).default(256),
  /** Bytes one sync:get reply may carry (the chunks it names, summed): larger asks are refused; ask for fewer ids. */
  maxSyncReplyBytes: int(1024).default(8 * 1024 * 1024),
  /** Chunk uploads (sync:put) a server may make per second, burst 4× (over it: THROTTLED with a retry-after). */
  syncPutsPerSecond: int(1).default(100),
  /** Where the network's leader node posts the public listing (JSON, POST); off when unset. */
  listingUrl: z.string().url().refine((u) => /^https?:\/\//.test(u), 'must start with http:// or https://').optional(),
  listingIntervalMs: int(100).default(30_000),
  /** How long the listing leader's lease lasts; the next oldest node takes over within it once the leader dies. */
  listingLeaseMs: int(300).default(5_000),
  /** The name the listing gives the network (default: the world). */
  networkName: z.string().min(1).max(128).optional(),
  /** The URL players connect to, published in the listing. */
  publicUrl: z.string().url().optional(),
  /** Messages each chat channel keeps in Redis (history, and what a resuming client can recover). */
  chatHistory: int(1).max(100_000).default(100),
  /** Chat rooms one client may be in at once (each is a channel its node listens to). */
  maxRoomsPerClient: int(0).max(10_000).default(32),
  /** Chat messages a player may send per minute, and its burst: one budget per player, across connections and nodes. */
  chatPerMinute: int(1).default(30),
  chatBurst: int(1).default(5),
  /** A whisper inbox is kept this long after its last message (7 days), and only for a player the world knows. */
  chatInboxTtlMs: int(1000).default(7 * 24 * 3600 * 1000),
  /** Longest chat text, in characters (after control characters are removed). */
  maxChatChars: int(1).max(10_000).default(500),
});

export type BridgeConfig = z.infer<typeof BridgeConfigSchema>;

/**
 * How long a move may stop a player's inputs — held where its client connects (the freeze) and refused at
 * the source's link once exported (the seal) — before the move is presumed dead and the player is released
 * to its old owner. One bound for both: a move's steps (export, import, commit) are each bounded by
 * handoffTimeoutMs, so four of them outlast any move still alive.
 */
export function moveHoldMs(c: Pick<BridgeConfig, 'handoffTimeoutMs'>): number {
  return c.handoffTimeoutMs * 4;
}

/** The Socket.IO heartbeat in force: as set, or derived from the lease. */
export function heartbeat(c: Pick<BridgeConfig, 'serverLeaseMs' | 'pingIntervalMs' | 'pingTimeoutMs'>): {
  pingInterval: number; pingTimeout: number;
} {
  const clamp = (v: number, lo: number, hi: number) => Math.min(hi, Math.max(lo, Math.floor(v)));
  return {
    pingInterval: c.pingIntervalMs ?? clamp(c.serverLeaseMs / 5, 100, 1000),
    pingTimeout: c.pingTimeoutMs ?? clamp((c.serverLeaseMs * 2) / 5, 1000, 2000),
  };
}
export type BridgeConfigInput = z.input<typeof BridgeConfigSchema>;

/** Environment variable for each setting: nodeId -> MESHBRIDGE_NODE_ID. */
export function envName(key: string): string {
  return `MESHBRIDGE_${key.replace(/[A-Z]/g, (c) => `_${c}`).toUpperCase()}`;
}

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
  }
}

const num = (v: unknown): number | undefined => (v === undefined || v === '' ? undefined : Number(v));

/** Rules that span settings; checked on the raw input so they are reported with all others. */
function crossFieldProblems(input: Record<string, unknown>): string[] {
  const set = (k: string) => input[k] !== undefined && input[k] !== '' && !(Array.isArray(input[k]) && input[k].length === 0);
  const devLogin = input.devLogin === true || input.devLogin === 'true' || input.devLogin === '1';
  const problems: string[] = [];
  if (!set('jwtSecret') && !set('jwtPublicKey'))
    problems.push(`jwtSecret (${envName('jwtSecret')}): set it, or jwtPublicKey (${envName('jwtPublicKey')})`);
  if (devLogin && !set('jwtSecret')) problems.push(`devLogin (${envName('devLogin')}): needs jwtSecret to sign tokens`);
  const lease = Number(input.serverLeaseMs ?? 5000);
  if ((set('pingIntervalMs') || set('pingTimeoutMs')) && Number.isFinite(lease)) {
    const hb = heartbeat({ serverLeaseMs: lease, pingIntervalMs: num(input.pingIntervalMs), pingTimeoutMs: num(input.pingTimeoutMs) });
    if (hb.pingInterval + hb.pingTimeout >= lease) {
      problems.push(`pingIntervalMs + pingTimeoutMs (${hb.pingInterval} + ${hb.pingTimeout} ms) must be below serverLeaseMs (${lease} ms):`
        + ' servers must notice a frozen node before their lease runs out');
    }
  }
  if (set('redisClusterNodes') && set('redisSentinels'))
    problems.push(`redisClusterNodes (${envName('redisClusterNodes')}): a cluster has no sentinels; set one of it and redisSentinels`);
  return problems;
}

export function parseBridgeConfig(input: Record<string, unknown>): BridgeConfig {
  const result = BridgeConfigSchema.safeParse(input);
  const problems = crossFieldProblems(input);
  if (!result.success) {
    for (const i of result.error.issues) {
      const key = String(i.path[0] ?? '');
      const message = i.code === 'invalid_type' && input[key] === undefined ? 'required' : i.message;
      problems.push(key ? `${key} (${envName(key)}): ${message}` : message);
    }
  }
  // Checked on the raw values, so they are reported together with every other problem.
  const text = (key: string, fallback: string) => (typeof input[key] === 'string' && input[key] !== '' ? (input[key]) : fallback);
  const formulas = [
    ['loadFormula', text('loadFormula', DEFAULT_LOAD_FORMULA), DEFAULT_POWER_FORMULA],
    ['powerFormula', DEFAULT_LOAD_FORMULA, text('powerFormula', DEFAULT_POWER_FORMULA)],
  ] as const;
  for (const [key, load, power] of formulas) {
    try {
      new LoadModel(load, power);
    } catch (err) {
      problems.push(`${key} (${envName(key)}): ${(err as Error).message.replace(/\s*\n\s*/g, ' ')}`); // one problem, one line
    }
  }
  const [cols, rows] = [Number(input.worldCols ?? 4), Number(input.worldRows ?? 4)];
  const outside = text('spawnAreas', '0,0').split(' ').filter((a) => {
    const [col, row] = a.split(',').map(Number);
    return col! >= cols || row! >= rows;
  });
  if (outside.length > 0) problems.push(`spawnAreas (${envName('spawnAreas')}): ${outside.join(' ')} outside the ${cols}×${rows} grid`);
  if (problems.length > 0 || !result.success) throw new ConfigError(problems);
  return result.data;
}

/** MESHBRIDGE_* variables that are no setting, each with the nearest setting's variable. */
export function unknownVariables(env: NodeJS.ProcessEnv): string[] {
  const known = new Set(['MESHBRIDGE_CONFIG', ...Object.keys(BridgeConfigSchema.shape).map(envName)]);
  return Object.keys(env)
    .filter((k) => k.startsWith('MESHBRIDGE_') && !known.has(k))
    .map((k) => `${k} is not a setting${nearest(k, [...known]) ? `; did you mean ${nearest(k, [...known])}?` : ''}`);
}

function nearest(word: string, candidates: string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = Math.max(3, Math.floor(word.length / 3)) + 1;
  for (const c of candidates) {
    const d = editDistance(word, c);
    if (d < bestDistance) [best, bestDistance] = [c, d];
  }
  return best;
}

function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) cur[j] = Math.min(prev[j]! + 1, cur[j - 1]! + 1, prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    prev = cur;
  }
  return prev[b.length]!;
}

/**
 * Reads the optional JSON file named by MESHBRIDGE_CONFIG, then the environment on top.
 * `warn` is told of MESHBRIDGE_* variables that are no setting (a typo would otherwise be silent).
 */
export function loadBridgeConfig(
  env: NodeJS.ProcessEnv = process.env, overrides: BridgeConfigInput | object = {}, warn: (message: string) => void = () => {},
): BridgeConfig {
  for (const w of unknownVariables(env)) warn(w);
  let fromFile: Record<string, unknown> = {};
  const file = env.MESHBRIDGE_CONFIG;
  if (file) {
    try {
      fromFile = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
    } catch (err) {
      throw new ConfigError([`MESHBRIDGE_CONFIG (${file}): ${(err as Error).message}`]);
    }
  }
  const fromEnv: Record<string, unknown> = {};
  for (const key of Object.keys(BridgeConfigSchema.shape)) {
    const value = env[envName(key)];
    if (value !== undefined && value !== '') fromEnv[key] = value;
  }
  return parseBridgeConfig({ ...fromFile, ...fromEnv, ...overrides });
}
