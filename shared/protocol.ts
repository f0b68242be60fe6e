// The wire contract between clients, bridge nodes and game servers (protocol v1).
// docs/protocol.md is the prose form of this file; keep both in the same commit.
import { z } from 'zod';

export const PROTOCOL_VERSION = 1;
export const CLIENT_NAMESPACE = '/client';
export const SERVER_NAMESPACE = '/server';

/** Every refusal on the wire carries one of these codes. */
export const ErrorCode = {
  BadHandshake: 'BAD_HANDSHAKE',
  BadToken: 'BAD_TOKEN',
  PlayerMismatch: 'PLAYER_MISMATCH',
  BadSecret: 'BAD_SECRET',
  ProtocolMismatch: 'PROTOCOL_MISMATCH',
  UnknownEvent: 'UNKNOWN_EVENT',
  BadInput: 'BAD_INPUT',
  InputTooLarge: 'INPUT_TOO_LARGE',
  RateLimited: 'RATE_LIMITED',
  ForbiddenPlayer: 'FORBIDDEN_PLAYER',
  BadState: 'BAD_STATE',
  NotOwner: 'NOT_OWNER',
  StaleEpoch: 'STALE_EPOCH',
  NoServer: 'NO_SERVER',
  SessionReplaced: 'SESSION_REPLACED',
  Fenced: 'FENCED',
  HandoffFailed: 'HANDOFF_FAILED',
  NotReady: 'NOT_READY',
  Internal: 'INTERNAL',
  /** Not sent: a frame that is not a Socket.IO packet closes the connection; counted under this code. */
  BadFrame: 'BAD_FRAME',
} as const;
export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

export interface ErrorPayload {
  code: ErrorCode;
  message: string;
}

const id = z.string().min(1).max(64).regex(/^[A-Za-z0-9_.,:@-]+$/, 'letters, digits and _.,:@- only');
export const IdSchema = id;
const seq = z.number().int().positive().max(Number.MAX_SAFE_INTEGER);

// ---- client namespace ----------------------------------------------------------------------

export const ClientHandshakeSchema = z.object({
  token: z.string().min(1).max(4096),
  /** Optional: if given it must equal the token's subject. */
  player: id.optional(),
  /** Optional: the highest seq acknowledged to this client so far (where it stands after a crash). */
  ack: z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER).optional(),
});
export type ClientHandshake = z.infer<typeof ClientHandshakeSchema>;

/** `input` from a client. `data` is opaque to the bridge (size-limited). */
export const ClientInputSchema = z.strictObject({
  seq,
  data: z.unknown(),
});
export type ClientInput = z.infer<typeof ClientInputSchema>;

export interface SessionPayload {
  player: string;
  server: string;
  area: string;
  epoch: number;
  /** The last input seq the owning server was given (= applied); the client numbers new inputs after it. */
  ack: number;
  node: string;
  /** This node's input rate limit: re-sends are paced under it. */
  limits: { inputsPerSecond: number; inputBurst: number };
}

export type AuthorityStatus = 'transferring' | 'recovering' | 'active';
export interface AuthorityPayload {
  status: AuthorityStatus;
  server: string;
  area: string;
  epoch: number;
}

export interface ClientToBridgeEvents {
  input: (input: ClientInput) => void;
}
export interface BridgeToClientEvents {
  session: (s: SessionPayload) => void;
  state: (item: StateItem) => void;
  authority: (a: AuthorityPayload) => void;
  error: (e: ErrorPayload) => void;
}

// ---- server namespace ----------------------------------------------------------------------

export const ServerHandshakeSchema = z.object({
  serverId: id,
  secret: z.string().min(1).max(1024),
  power: z.number().positive().finite(),
  protocol: z.number().int(),
  /** Players this server already simulates, with the last input seq it applied (on reconnect). */
  players: z.record(id, z.number().int().nonnegative()).optional(),
  /** The session epoch this server last had (on reconnect); a server declared dead is fenced. */
  epoch: z.number().int().positive().optional(),
});
export type ServerHandshake = z.infer<typeof ServerHandshakeSchema>;

/** One state message from a server, addressed to an area, a player, or everyone. */
export const StateItemSchema = z.discriminatedUnion('kind', [
  z.strictObject({
    kind: z.literal('area'),
    area: id,
    epoch: z.number().int().positive(),
    data: z.unknown(),
    acks: z.record(id, z.number().int().nonnegative()).optional(),
  }),
  z.strictObject({
    kind: z.literal('player'),
    player: id,
    epoch: z.number().int().positive(),
    data: z.unknown(),
    acks: z.record(id, z.number().int().nonnegative()).optional(),
  }),
  z.strictObject({ kind: z.literal('all'), data: z.unknown() }),
]);
export type StateItem = z.infer<typeof StateItemSchema>;
export const StateBatchSchema = z.array(StateItemSchema).min(1).max(1024);

// Hot-path guards: the same rules as the schemas above, checked without copying the payload
// (zod's parse builds a new object per item). When a guard says no, parse with the schema to
// get the precise error for the peer.
const isId = (v: unknown): v is string => typeof v === 'string' && v.length > 0 && v.length <= 64 && ID_CHARS.test(v);
const ID_CHARS = /^[A-Za-z0-9_.,:@-]+$/;
const isEpoch = (v: unknown): boolean => Number.isSafeInteger(v) && (v as number) > 0;
function isAcks(v: unknown): boolean {
  if (v === undefined) return true;
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return false;
  for (const k in v) if (!Number.isSafeInteger((v as Record<string, unknown>)[k]) || !isId(k)) return false;
  return true;
}
const AREA_KEYS = new Set(['kind', 'area', 'epoch', 'data', 'acks']);
const PLAYER_KEYS = new Set(['kind', 'player', 'epoch', 'data', 'acks']);
const ALL_KEYS = new Set(['kind', 'data']);
function onlyKeys(o: object, allowed: Set<string>): boolean {
  for (const k in o) if (!allowed.has(k)) return false;
  return true;
}
export function isStateBatch(v: unknown): v is StateItem[] {
  if (!Array.isArray(v) || v.length === 0 || v.length > 1024) return false;
  for (const i of v as Record<string, unknown>[]) {
    if (typeof i !== 'object' || i === null || Array.isArray(i)) return false;
    if (i.kind === 'area') { if (!isId(i.area) || !isEpoch(i.epoch) || !isAcks(i.acks) || !onlyKeys(i, AREA_KEYS)) return false; }
    else if (i.kind === 'player') { if (!isId(i.player) || !isEpoch(i.epoch) || !isAcks(i.acks) || !onlyKeys(i, PLAYER_KEYS)) return false; }
    else if (i.kind !== 'all' || !onlyKeys(i, ALL_KEYS)) return false;
  }
  return true;
}
export function isClientInput(v: unknown): v is ClientInput {
  if (typeof v !== 'object' || v === null) return false;
  const seq = (v as { seq?: unknown }).seq;
  if (!Number.isSafeInteger(seq) || (seq as number) <= 0) return false;
  for (const k in v) if (k !== 'seq' && k !== 'data') return false;
  return true;
}

const metrics = z.record(z.string().max(32), z.number().finite()).refine((m) => Object.keys(m).length <= 32, 'at most 32 metrics');
/**
 * A load report; it also renews the server's lease. Either `load` directly, or metrics the
 * bridge turns into load and power with its configured formulas: `areas` per owned area (load),
 * `metrics` for the server (power).
 */
export const LoadReportSchema = z.object({
  load: z.number().nonnegative().finite().optional(),
  power: z.number().positive().finite().optional(),
  metrics: metrics.optional(),
  areas: z.record(id, metrics).optional(),
});
export type LoadReport = z.infer<typeof LoadReportSchema>;

export interface InputItem {
  player: string;
  seq: number;
  data: unknown;
}
export interface AreaGrant {
  area: string;
  epoch: number;
}
export interface PlayerAttach {
  player: string;
  area: string;
  epoch: number;
  /** Last input seq applied for this player; the next input delivered is seq + 1. */
  seq: number;
  /** The player's state as last exported or saved (absent for a new player). */
  snapshot?: unknown;
  /**
   * Set after crash recovery: inputs after `seq` were applied by a server that died, and are gone
   * with its state. The next input delivered may be any seq above `seq`.
   */
  resync?: boolean;
}
export interface PlayerDetach {
  player: string;
  reason: 'left' | 'moved';
}
export interface PlayerState {
  snapshot: unknown;
  /** Last input seq applied. */
  seq: number;
}
export const PlayerStateSchema = z.object({ snapshot: z.unknown(), seq: z.number().int().nonnegative() });
export const SnapshotSchema = z.object({
  areas: z.record(id, z.unknown()).optional(),
  players: z.record(id, PlayerStateSchema).optional(),
});
export type Snapshot = z.infer<typeof SnapshotSchema>;
export const HandoffRequestSchema = z.object({ player: id, area: id });
export type HandoffRequest = z.infer<typeof HandoffRequestSchema>;
export type HandoffResult = { ok: true; server: string; area: string; epoch: number } | { ok: false; code: ErrorCode; message: string };
export type DrainReply = { ok: true } | { ok: false; code: ErrorCode; message: string };
export interface AreaOffer {
  area: string;
  load: number;
  from: string;
  /** Drain leftovers: the server must accept (it may move the area on later). */
  emergency: boolean;
}
export const OfferReplySchema = z.object({ accept: z.boolean(), priority: z.boolean().optional() });
export type OfferReply = z.infer<typeof OfferReplySchema>;
export const ImportReplySchema = z.object({ ok: z.boolean(), reason: z.string().optional() });
export type ImportReply = z.infer<typeof ImportReplySchema>;
export const AreaExportSchema = z.object({ state: z.unknown(), players: z.record(id, PlayerStateSchema) });
export type AreaExport = z.infer<typeof AreaExportSchema>;
export interface PresencePayload {
  player: string;
  status: 'joined' | 'left';
}
export interface ServerInfo {
  id: string;
  power: number;
  load: number;
  status: ServerStatus;
  node: string;
  epoch: number;
}
export type ServerStatus = 'ready' | 'disconnected' | 'draining' | 'dead' | 'gone';
export interface WelcomePayload {
  serverId: string;
  /** Session epoch: bumps at every registration, fences a stale connection of the same id. */
  epoch: number;
  node: string;
  world: { cols: number; rows: number };
  /** Report `load` at least three times per lease, or be declared dead. */
  leaseMs: number;
  areas: AreaGrant[];
  /** The players this server owns now; it drops any others it still holds. */
  players: string[];
  servers: ServerInfo[];
}
type Ack<T> = (reply: T) => void;

export interface BridgeToServerEvents {
  welcome: (w: WelcomePayload) => void;
  inputs: (batch: InputItem[]) => void;
  'player:attach': (p: PlayerAttach) => void;
  'player:detach': (p: PlayerDetach) => void;
  'area:assign': (a: AreaGrant) => void;
  'area:release': (a: AreaGrant) => void;
  /** Handoff, phase 1 (inputs for the player are frozen): hand over its state and last seq. */
  'player:export': (p: { player: string; area: string; to: string }, ack: Ack<PlayerState>) => void;
  /** Handoff, phase 2: can you take this player? Load it; it is yours at `player:attach`. */
  'player:import': (p: { player: string; area: string; from: string } & PlayerState, ack: Ack<ImportReply>) => void;
  /** The handoff of a player you exported failed: keep simulating it. */
  'player:resume': (p: { player: string }) => void;
  /** Rebalance or drain: would you take this area? */
  'area:offer': (o: AreaOffer, ack: Ack<OfferReply>) => void;
  /** Migration, phase 1 (inputs of its players are frozen): hand over the area and its players. */
  'area:export': (p: { area: string; to: string }, ack: Ack<AreaExport>) => void;
  /** Migration or recovery, phase 2: load this area and its players; yours at `area:assign`. */
  'area:import': (p: { area: string; from: string; reason: 'rebalance' | 'drain' | 'recover' | 'admin' } & AreaExport, ack: Ack<ImportReply>) => void;
  /** A migration of an area you exported failed: keep simulating it. */
  'area:resume': (p: { area: string }) => void;
  presence: (p: PresencePayload) => void;
  /** Your drain is complete: you own nothing and are deregistered. */
  drained: () => void;
  error: (e: ErrorPayload) => void;
}
export interface ServerToBridgeEvents {
  state: (batch: StateItem[]) => void;
  load: (report: LoadReport) => void;
  /** "Autosave": the state of owned areas and players, kept for recovery and the next join. */
  snapshot: (s: Snapshot) => void;
  /** Move one owned player to `area` (e.g. a warp gate), without the client reconnecting. */
  handoff: (h: HandoffRequest, ack: Ack<HandoffResult>) => void;
  /** Graceful shutdown: move everything away, then `drained`. Refused (NO_SERVER) when no other server could take the areas. */
  drain: (ack: Ack<DrainReply>) => void;
}
