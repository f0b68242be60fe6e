// Schemas of the wire contract (zod), and hot-path guards with the same rules: the bridge checks
// every message at its edges with them. The contract's constants and types are in
// ./protocol-core.ts (re-exported here); docs/protocol.md is the prose form.
import { z } from 'zod';
import { CHAT_MAX_HISTORY_LIMIT, ID_CHARS, ID_MAX_LENGTH, ID_PATTERN, RPC_MAX_TIMEOUT_MS } from './protocol-core.js';
import type {
  ChunkRef, SyncManifestRequest,
  RpcAnswer, RpcRequest, ServerMessage, WatchRequest,
  AreaExport,
  AskedEvent,
  ClientHandshake,
  ClientInput,
  HandoffRequest,
  ImportReply,
  LoadReport,
  OfferReply,
  PlayerState,
  ServerHandshake,
  ServerReply,
  Snapshot,
  StateItem,
} from './protocol-core.js';

export * from './protocol-core.js';

const id = z.string().min(1).max(ID_MAX_LENGTH).regex(ID_PATTERN, `1–${ID_MAX_LENGTH} of ${ID_CHARS} (no ':')`);
export const IdSchema = id;
const seq = z.number().int().positive().max(Number.MAX_SAFE_INTEGER);

export const ClientHandshakeSchema = z.object({
  token: z.string().min(1).max(4096),
  /** Optional: if given it must equal the token's subject. */
  player: id.optional(),
  /** Optional: the highest seq acknowledged to this client so far (where it stands after a crash). */
  ack: z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER).optional(),
  saved: z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER).optional(),
  chat: z
    .record(z.string().max(80), z.string().regex(/^\d{1,15}-\d{1,15}$/))
    .refine((c) => Object.keys(c).length <= 64, 'at most 64 channels')
    .optional(),
}) satisfies z.ZodType<ClientHandshake>;

/** `input` from a client. `data` is opaque to the bridge (size-limited). */
export const ClientInputSchema = z.strictObject({
  seq,
  data: z.unknown(),
}) satisfies z.ZodType<ClientInput>;

export const ServerHandshakeSchema = z.object({
  serverId: id,
  secret: z.string().min(1).max(1024),
  power: z.number().positive().finite(),
  protocol: z.number().int(),
  /** Players this server already simulates, with the last input seq it applied (on reconnect). */
  players: z.record(id, z.number().int().nonnegative()).optional(),
  /** The session epoch this server last had (on reconnect); a server declared dead is fenced. */
  epoch: z.number().int().positive().optional(),
}) satisfies z.ZodType<ServerHandshake>;

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
]) satisfies z.ZodType<StateItem>;
export const StateBatchSchema = z.array(StateItemSchema).min(1).max(1024);

// Hot-path guards: the same rules as the schemas above, checked without copying the payload
// (zod's parse builds a new object per item). When a guard says no, parse with the schema to
// get the precise error for the peer.
const isId = (v: unknown): v is string => typeof v === 'string' && ID_PATTERN.test(v);
const isEpoch = (v: unknown): boolean => Number.isSafeInteger(v) && (v as number) > 0;
function isAcks(v: unknown): boolean {
  if (v === undefined) return true;
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return false;
  for (const k in v) {
    const seq = (v as Record<string, unknown>)[k];
    if (!Number.isSafeInteger(seq) || (seq as number) < 0 || !isId(k)) return false;
  }
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
    if (i.kind === 'area') {
      if (!isId(i.area) || !isEpoch(i.epoch) || !isAcks(i.acks) || !onlyKeys(i, AREA_KEYS)) return false;
    } else if (i.kind === 'player') {
      if (!isId(i.player) || !isEpoch(i.epoch) || !isAcks(i.acks) || !onlyKeys(i, PLAYER_KEYS)) return false;
    } else if (i.kind !== 'all' || !onlyKeys(i, ALL_KEYS)) return false;
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
export const LoadReportSchema = z.object({
  load: z.number().nonnegative().finite().optional(),
  power: z.number().positive().finite().optional(),
  metrics: metrics.optional(),
  areas: z.record(id, metrics).optional(),
}) satisfies z.ZodType<LoadReport>;

export const PlayerStateSchema = z.object({ snapshot: z.unknown(), seq: z.number().int().nonnegative() }) satisfies z.ZodType<PlayerState>;
export const SnapshotSchema = z.object({
  areas: z.record(id, z.unknown()).optional(),
  players: z.record(id, PlayerStateSchema).optional(),
}) satisfies z.ZodType<Snapshot>;
export const HandoffRequestSchema = z.object({ player: id, area: id }) satisfies z.ZodType<HandoffRequest>;
export const OfferReplySchema = z.object({ accept: z.boolean(), priority: z.boolean().optional() }) satisfies z.ZodType<OfferReply>;
export const ImportReplySchema = z.object({ ok: z.boolean(), reason: z.string().optional() }) satisfies z.ZodType<ImportReply>;
export const AreaExportSchema = z.object({ state: z.unknown(), players: z.record(id, PlayerStateSchema) }) satisfies z.ZodType<AreaExport>;
/** The schema every reply to an asked event must pass (a game server's reply is never trusted as is). */
export const ServerReplySchemas: { [E in AskedEvent]: z.ZodType<ServerReply<E>> } = {
  'player:export': PlayerStateSchema,
  'player:import': ImportReplySchema,
  'area:offer': OfferReplySchema,
  'area:export': AreaExportSchema,
  'area:import': ImportReplySchema,
};

export const WatchRequestSchema = z.strictObject({ areas: z.array(id).min(1).max(256) }) satisfies z.ZodType<WatchRequest>;
export const RpcRequestSchema = z.strictObject({
  to: id,
  method: z.string().min(1).max(64),
  payload: z.unknown().optional(),
  timeoutMs: z.number().int().min(1).max(RPC_MAX_TIMEOUT_MS).optional(),
}) satisfies z.ZodType<RpcRequest>;
export const ServerMessageSchema = z.strictObject({
  to: z.union([id, z.literal('*')]),
  topic: z.string().min(1).max(64),
  payload: z.unknown().optional(),
}) satisfies z.ZodType<ServerMessage>;
export const RpcAnswerSchema = z.union([
  z.object({ error: z.string().max(1024) }),
  z.object({ result: z.unknown() }),
]) satisfies z.ZodType<RpcAnswer>;

/** Chunk ids: like other ids, and `/` too (e.g. `2,1/0`). */
const chunkId = z.string().min(1).max(128).regex(/^[A-Za-z0-9_.,:@/-]+$/, 'letters, digits and _.,:@/- only');
const sha256 = z.string().regex(/^[0-9a-f]{64}$/, 'hex SHA-256 (64 lowercase hex digits)');
const bytes = z.custom<Uint8Array>((v) => v instanceof Uint8Array, 'binary (a Buffer / bytes attachment)');
export const ChunkPutSchema = z.strictObject({ id: chunkId, version: seq, hash: sha256, data: bytes });
export const ChunkGetSchema = z.strictObject({ ids: z.array(chunkId).min(1) });
export const SyncManifestRequestSchema = z.strictObject({
  since: z.number().int().nonnegative().optional(),
}) satisfies z.ZodType<SyncManifestRequest>;
/** The convention by which an area export or autosave refers to chunks: `{ chunks: [{ id, version }], ... }`. */
export const ChunkRefsSchema = z.object({ chunks: z.array(z.object({ id: chunkId, version: seq })).max(4096) }) satisfies z.ZodType<
  { chunks: ChunkRef[] }
>;

/** A chat channel as named on the wire (what it means is the chat relay's to decide). */
export const ChatChannelSchema = z.string().min(1).max(80);
export const ChatSendSchema = z.strictObject({ channel: ChatChannelSchema, text: z.string().max(100_000) });
export const ChatChannelRequestSchema = z.strictObject({ channel: ChatChannelSchema });
export const ChatHistoryRequestSchema = z.strictObject({
  channel: ChatChannelSchema,
  after: z.string().regex(/^\d{1,15}-\d{1,15}$/, 'a chat message id like 1700000000000-0').optional(),
  limit: z.number().int().min(1).max(CHAT_MAX_HISTORY_LIMIT).optional(),
});
export const ChatMuteSchema = z.strictObject({ player: id, seconds: z.number().int().min(0).max(30 * 86_400) });
