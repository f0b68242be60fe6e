// The wire contract between clients, bridge nodes and game servers (protocol v1): constants, codes
// and types, with no dependency, so the SDKs (and browsers) load no validator. The schemas that
// check these shapes at the bridge's edges are in ./protocol.ts. docs/protocol.md is the prose
// form of both; keep all three in the same commit.

export const PROTOCOL_VERSION = 1;
export const CLIENT_NAMESPACE = '/client';
export const SERVER_NAMESPACE = '/server';

/**
 * The characters of every id the protocol carries (players, servers, areas, rooms; 1–64 of them).
 * No `:`: the bridge builds Redis keys and chat senders by joining with `:` (`server:<id>:players`,
 * `system:<serverId>`), so an id with one could name another id's records or forge a server's post.
 */
export const ID_CHARS = 'A-Za-z0-9_.,@-';
export const ID_MAX_LENGTH = 64;
/** A whole id: `^[A-Za-z0-9_.,@-]{1,64}$`. */
export const ID_PATTERN = new RegExp(`^[${ID_CHARS}]{1,${ID_MAX_LENGTH}}$`);
/** The `from` of a chat message a game server posted: never a player id, which cannot contain `:`. */
export const SYSTEM_SENDER_PREFIX = 'system:';

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
  /** An rpc got no answer within its timeoutMs (the target, or its node, may have died). */
  Timeout: 'TIMEOUT',
  /** The target of an rpc answered with an error. */
  RemoteError: 'REMOTE_ERROR',
  /** sync:put: the bytes do not hash (SHA-256, hex) to the given hash. */
  BadHash: 'BAD_HASH',
  /** sync:put: the chunk is larger than maxChunkBytes. */
  ChunkTooLarge: 'CHUNK_TOO_LARGE',
  /** sync:put: the store holds this version of the chunk or a newer one (versions only move forward). */
  StaleVersion: 'STALE_VERSION',
  /** sync:get over this server's syncBytesPerSecond budget; retry after `retryAfterMs`. */
  Throttled: 'THROTTLED',
  /** sync:get named a chunk id the store does not hold. */
  UnknownChunk: 'UNKNOWN_CHUNK',
  /** A sync request from a connection that is no longer its server's current registration. */
  NotRegistered: 'NOT_REGISTERED',
  /** A chat text longer than maxChatChars (after control characters are removed). */
  ChatTooLong: 'CHAT_TOO_LONG',
  /** A chat channel that does not exist, or is not yours to name (another area, another's whispers). */
  BadChannel: 'BAD_CHANNEL',
  /** A chat message or history request for a room this client has not joined. */
  NotInRoom: 'NOT_IN_ROOM',
  /** chat:join past maxRoomsPerClient rooms (each is a channel the client's node listens to): leave one first. */
  TooManyRooms: 'TOO_MANY_ROOMS',
  /** The player was muted by a game server; the message says for how long still. */
  Muted: 'MUTED',
  /** The client left more than clientBufferBytes unread for slowClientMs: disconnected. */
  SlowClient: 'SLOW_CLIENT',
  /** Not sent: a frame that is not a Socket.IO packet closes the connection; counted under this code. */
  BadFrame: 'BAD_FRAME',
  /**
   * HTTP: a browser origin not in corsOrigins (also `null` and origins that are not URLs) was refused: 403 on HTTP
   * routes and polling, 400 on a WebSocket upgrade (the status engine.io answers); the body names this code.
   */
  OriginNotAllowed: 'ORIGIN_NOT_ALLOWED',
} as const;
export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

export interface ErrorPayload {
  code: ErrorCode;
  message: string;
}

// ---- client namespace ----------------------------------------------------------------------

export interface ClientHandshake {
  token: string;
  /** Optional: if given it must equal the token's subject. */
  player?: string;
  /** Optional: the highest seq acknowledged to this client so far (where it stands after a crash). */
  ack?: number;
  /**
   * Optional, on a resume: the client still holds (and can re-send) every input above this seq — it dropped only
   * inputs an autosave covers (`saved`) or the oldest past `limits.heldInputs`. Without it: the session's `ack`.
   */
  saved?: number;
  /** Optional, on a resume: the last chat message id seen per channel; the bridge sends what came after. */
  chat?: Record<string, string>;
}

/** `input` from a client. `data` is opaque to the bridge (size-limited). */
export interface ClientInput {
  seq: number;
  data?: unknown;
}

export interface SessionPayload {
  player: string;
  server: string;
  area: string;
  epoch: number;
  /** The last input seq the owning server was given (= applied); the client numbers new inputs after it. */
  ack: number;
  node: string;
  /**
   * This node's input rate limit (re-sends are paced under it), and `heldInputs`: how many acknowledged inputs
   * not yet covered by an autosave the client keeps at most (it drops the oldest past it; see `saved`).
   */
  limits: { inputsPerSecond: number; inputBurst: number; heldInputs: number };
}

export type AuthorityStatus = 'transferring' | 'recovering' | 'active';
export interface AuthorityPayload {
  status: AuthorityStatus;
  server: string;
  area: string;
  epoch: number;
}

/**
 * A chat message. Channels: `global`, `area:<area>` (sent as `area`: the sender's own area),
 * `whisper:<player>` (that player's inbox) and `room:<name>`. Ids grow per channel (Redis stream ids,
 * `<ms>-<n>`).
 */
export interface ChatMessage {
  id: string;
  channel: string;
  /** The sending player, or `system:<serverId>` for a game server (a player id never contains `:`, so it cannot forge one). */
  from: string;
  text: string;
  at: number;
}
export type ChatReply<T extends object = object> = ({ ok: true } & T) | { ok: false; code: ErrorCode; message: string };
export type ChatSendReply = ChatReply<{ id: string; channel: string }>;
export type ChatHistoryReply = ChatReply<{ channel: string; messages: ChatMessage[]; recovered: boolean }>;
/** Room: its players (on every node); area and global: how many players there are. */
export type ChatPresenceReply = ChatReply<{ channel: string; count: number; players?: string[] }>;
/** A player joined or left a room you are in (live only, not kept in history). */
export interface ChatNotice {
  channel: string;
  player: string;
  event: 'joined' | 'left';
}
/** After a resume that named chat channels: what was sent again, and where history no longer reached back. */
export interface ChatRecovery {
  recovered: boolean;
  /** `last`: the id the channel stands at for you now (keep it as your cursor if you have none). */
  channels: { channel: string; recovered: boolean; replayed: number; last: string }[];
}
export type ChatJoinReply = ChatReply<{ channel: string; last: string }>;
export const CHAT_MAX_HISTORY_LIMIT = 100;

/** True if chat id `a` comes after `b` (ids are `<ms>-<n>`: both parts compared as numbers). */
export function chatIdAfter(a: string, b: string): boolean {
  const [am, an] = a.split('-').map(Number) as [number, number];
  const [bm, bn] = b.split('-').map(Number) as [number, number];
  return am > bm || (am === bm && an > bn);
}

export interface ClientToBridgeEvents {
  input: (input: ClientInput) => void;
  chat: (m: { channel: string; text: string }, ack: Ack<ChatSendReply>) => void;
  'chat:join': (r: { channel: string }, ack: Ack<ChatJoinReply>) => void;
  'chat:leave': (r: { channel: string }, ack: Ack<ChatReply>) => void;
  'chat:history': (r: { channel: string; after?: string; limit?: number }, ack: Ack<ChatHistoryReply>) => void;
  'chat:presence': (r: { channel: string }, ack: Ack<ChatPresenceReply>) => void;
}
export interface BridgeToClientEvents {
  session: (s: SessionPayload) => void;
  state: (item: StateItem) => void;
  authority: (a: AuthorityPayload) => void;
  error: (e: ErrorPayload) => void;
  chat: (m: ChatMessage) => void;
  'chat:notice': (n: ChatNotice) => void;
  'chat:recovery': (r: ChatRecovery) => void;
}

// ---- server namespace ----------------------------------------------------------------------

export interface ServerHandshake {
  serverId: string;
  secret: string;
  power: number;
  protocol: number;
  /** Players this server already simulates, with the last input seq it applied (on reconnect). */
  players?: Record<string, number>;
  /** The session epoch this server last had (on reconnect); a server declared dead is fenced. */
  epoch?: number;
}

/** One state message from a server, addressed to an area, a player, or everyone. */
export type StateItem =
  | { kind: 'area'; area: string; epoch: number; data?: unknown; acks?: Record<string, number>; saved?: Record<string, number> }
  | { kind: 'player'; player: string; epoch: number; data?: unknown; acks?: Record<string, number>; saved?: Record<string, number> }
  | { kind: 'all'; data?: unknown };
/**
 * `saved` (bridge → client only; a server never sends it): per player, the last seq its owner's latest stored
 * autosave covers. A client keeps every input above it, acknowledged or not: after a crash the new owner starts
 * from that autosave and the client re-sends what came after, so a crash costs no input while the client lives.
 */
export type SavedSeqs = Record<string, number>;

/**
 * A load report; it also renews the server's lease. Either `load` directly, or metrics the
 * bridge turns into load and power with its configured formulas: `areas` per owned area (load),
 * `metrics` for the server (power).
 */
export interface LoadReport {
  load?: number;
  power?: number;
  metrics?: Record<string, number>;
  areas?: Record<string, Record<string, number>>;
}

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
export interface Snapshot {
  areas?: Record<string, unknown>;
  players?: Record<string, PlayerState>;
}
export interface HandoffRequest {
  player: string;
  area: string;
}
export type HandoffResult = { ok: true; server: string; area: string; epoch: number } | { ok: false; code: ErrorCode; message: string };
export type DrainReply = { ok: true } | { ok: false; code: ErrorCode; message: string };
export interface AreaOffer {
  area: string;
  load: number;
  from: string;
  /** Drain leftovers: the server must accept (it may move the area on later). */
  emergency: boolean;
}
export interface OfferReply {
  accept: boolean;
  priority?: boolean;
}
export interface ImportReply {
  ok: boolean;
  reason?: string;
}
export interface AreaExport {
  state?: unknown;
  players: Record<string, PlayerState>;
}
/** One area's state as its owner pushed it, delivered read-only to a server that watches the area. */
export interface GhostItem {
  area: string;
  server: string;
  epoch: number;
  data: unknown;
}
/** `area:watch` / `area:unwatch`: areas to receive ghosts of, beyond the default neighbourhood. */
export interface WatchRequest {
  areas: string[];
}
/** Server -> bridge `rpc` (with an acknowledgement): call `method` on server `to`. */
export interface RpcRequest {
  to: string;
  method: string;
  payload?: unknown;
  /** Default 5000, at most 30000. */
  timeoutMs?: number;
}
export type RpcResult = { ok: true; result: unknown } | { ok: false; code: ErrorCode; message: string };
/** Bridge -> target server `rpc` (with an acknowledgement). */
export interface RpcCall {
  from: string;
  method: string;
  payload: unknown;
}
/** The target's answer: `{ result }`, or `{ error }` (a message; the caller gets REMOTE_ERROR). */
export interface RpcAnswer {
  result?: unknown;
  error?: string;
}
/** Server -> bridge `message`: one-way, to one server or `*` (every ready server but the sender). */
export interface ServerMessage {
  to: string;
  topic: string;
  payload?: unknown;
}
/** Bridge -> server `message`. */
export interface ServerMessageDelivery {
  from: string;
  topic: string;
  payload: unknown;
}
/** A chunk of world data as the store indexes it: `hash` is the SHA-256 of its bytes (hex). */
export interface ChunkMeta {
  id: string;
  version: number;
  hash: string;
  size: number;
  /** The server that uploaded this version. */
  owner: string;
  /** When it was stored (ms, Redis clock). */
  at: number;
}
/** A chunk with its bytes: `sync:put`'s payload and `sync:get`'s answer. */
export interface ChunkData {
  id: string;
  version: number;
  hash: string;
  data: Uint8Array;
}
/** A chunk that an area export or autosave refers to instead of inlining it. */
export interface ChunkRef {
  id: string;
  version: number;
}
/** Bridge -> server: chunks that changed (`full`: every chunk the store holds, at registration). */
export interface SyncManifest {
  /** The server that uploaded them, or `store` for a full manifest. */
  from: string;
  chunks: ChunkMeta[];
  full: boolean;
}
export type SyncPutReply =
  | { ok: true; stored: boolean }
  | { ok: false; code: ErrorCode; message: string; version?: number; retryAfterMs?: number };
export type SyncGetReply =
  | { ok: true; chunks: ChunkData[] }
  | { ok: false; code: ErrorCode; message: string; retryAfterMs?: number; ids?: string[] };
/**
 * Server -> bridge `sync:manifest`: the chunks changed at or after `since` (all of them without it):
 * how a server that skipped rounds catches up.
 */
export interface SyncManifestRequest {
  since?: number;
}
export type SyncManifestReply =
  | { ok: true; full: boolean; at: number; chunks: ChunkMeta[] }
  | { ok: false; code: ErrorCode; message: string };
export type LeaseReply = { ok: true; ms: number };
export type SyncReadyReply = { ok: true } | { ok: false; code: ErrorCode; message: string };
/** The owner of the `store`'s full manifests. */
export const SYNC_FROM_STORE = 'store';

export const RPC_MAX_TIMEOUT_MS = 30_000;
export const RPC_DEFAULT_TIMEOUT_MS = 5_000;

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
/** `syncing`: registered, fetching the world's chunks; takes no work until it sends `sync:ready`. */
export type ServerStatus = 'syncing' | 'ready' | 'disconnected' | 'draining' | 'dead' | 'gone';
export interface WelcomePayload {
  serverId: string;
  /** Session epoch: bumps at every registration, fences a stale connection of the same id. */
  epoch: number;
  node: string;
  world: { cols: number; rows: number };
  /** Report `load` at least three times per lease, or be declared dead. */
  leaseMs: number;
  /**
   * Apply what the bridge sends only within this many ms of sending your registration (and after, of sending
   * a `lease` it answered): past it, hold what arrives and ask `lease` first (a frozen process's stale inputs).
   */
  confirmMs: number;
  areas: AreaGrant[];
  /** The players this server owns now; it drops any others it still holds. */
  players: string[];
  servers: ServerInfo[];
  /** `syncing` for a fresh registration: a full `sync:manifest` follows; send `sync:ready` once you hold what you need. */
  status: 'syncing' | 'ready';
}
export type Ack<T> = (reply: T) => void;

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
  'area:import': (
    p: { area: string; from: string; reason: 'rebalance' | 'drain' | 'recover' | 'admin'; chunks?: ChunkData[] } & AreaExport,
    ack: Ack<ImportReply>,
  ) => void;
  /** A migration of an area you exported failed: keep simulating it. */
  'area:resume': (p: { area: string }) => void;
  presence: (p: PresencePayload) => void;
  /** Your drain is complete: you own nothing and are deregistered. */
  drained: () => void;
  error: (e: ErrorPayload) => void;
  /** Read-only state of watched areas (their owners' pushes), batched. */
  ghost: (batch: GhostItem[]) => void;
  /** Another server calls you: answer `{ result }` or `{ error }`. */
  rpc: (call: RpcCall, ack: Ack<RpcAnswer>) => void;
  message: (m: ServerMessageDelivery) => void;
  'sync:manifest': (m: SyncManifest) => void;
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
  'area:watch': (w: WatchRequest) => void;
  'area:unwatch': (w: WatchRequest) => void;
  rpc: (r: RpcRequest, ack: Ack<RpcResult>) => void;
  message: (m: ServerMessage) => void;
  /** Upload a changed chunk (`data`: its bytes, sent as binary). */
  'sync:put': (c: ChunkData, ack: Ack<SyncPutReply>) => void;
  /** Fetch chunks by id (at most maxSyncIds), within this server's byte budget. */
  'sync:get': (r: { ids: string[] }, ack: Ack<SyncGetReply>) => void;
  'sync:manifest': (r: SyncManifestRequest, ack: Ack<SyncManifestReply>) => void;
  /** Done syncing after registration: the server becomes `ready`. */
  'sync:ready': (ack: Ack<SyncReadyReply>) => void;
  /** Is this link still current? Answered only while it is: apply what arrives until `ms` after you sent this. */
  lease: (ack: Ack<LeaseReply>) => void;
  /** Post to any chat channel (as `system:<serverId>`). */
  chat: (m: { channel: string; text: string }, ack: Ack<ChatSendReply>) => void;
  /** Mute a player's chat for `seconds` (0 lifts it). */
  'chat:mute': (m: { player: string; seconds: number }, ack: Ack<ChatReply>) => void;
}

/** Events the bridge sends a game server and waits on an acknowledgement for (the mesh's questions). */
export type AskedEvent = 'player:export' | 'player:import' | 'area:offer' | 'area:export' | 'area:import';
/** What the bridge sends with a server event. */
export type ServerEventPayload<E extends keyof BridgeToServerEvents> = Parameters<BridgeToServerEvents[E]>[0];
/** What a game server answers to an asked event. */
export type ServerReply<E extends AskedEvent> = Parameters<BridgeToServerEvents[E]>[1] extends Ack<infer R> ? R : never;
