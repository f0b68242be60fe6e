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
  NotReady: 'NOT_READY',
  Internal: 'INTERNAL',
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
  /** Highest input seq known applied by a server; the client numbers new inputs after it. */
  ack: number;
  node: string;
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
});
export type ServerHandshake = z.infer<typeof ServerHandshakeSchema>;

/** One state message from a server, addressed to an area, a player, or everyone. */
export const StateItemSchema = z.discriminatedUnion('kind', [
  z.object({
    kind: z.literal('area'),
    area: id,
    epoch: z.number().int().positive(),
    data: z.unknown(),
    acks: z.record(id, z.number().int().nonnegative()).optional(),
  }),
  z.object({
    kind: z.literal('player'),
    player: id,
    epoch: z.number().int().positive(),
    data: z.unknown(),
    acks: z.record(id, z.number().int().nonnegative()).optional(),
  }),
  z.object({ kind: z.literal('all'), data: z.unknown() }),
]);
export type StateItem = z.infer<typeof StateItemSchema>;
export const StateBatchSchema = z.array(StateItemSchema).min(1).max(1024);

export const LoadReportSchema = z.object({
  load: z.number().nonnegative().finite(),
  power: z.number().positive().finite().optional(),
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
}
export interface PlayerDetach {
  player: string;
  reason: 'left' | 'moved';
}
export interface ServerInfo {
  id: string;
  power: number;
  load: number;
  status: ServerStatus;
  node: string;
  epoch: number;
}
export type ServerStatus = 'ready' | 'disconnected';
export interface WelcomePayload {
  serverId: string;
  /** Session epoch: bumps at every registration, fences a stale connection of the same id. */
  epoch: number;
  node: string;
  areas: AreaGrant[];
  servers: ServerInfo[];
}

export interface BridgeToServerEvents {
  welcome: (w: WelcomePayload) => void;
  inputs: (batch: InputItem[]) => void;
  'player:attach': (p: PlayerAttach) => void;
  'player:detach': (p: PlayerDetach) => void;
  'area:assign': (a: AreaGrant) => void;
  'area:release': (a: AreaGrant) => void;
  error: (e: ErrorPayload) => void;
}
export interface ServerToBridgeEvents {
  state: (batch: StateItem[]) => void;
  load: (report: LoadReport) => void;
}
