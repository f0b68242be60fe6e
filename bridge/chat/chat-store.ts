// Chat in Redis: each channel's last `chatHistory` messages in a stream (ids grow per channel),
// posted and published in one script; mutes; who is in each room.
import type { ChatMessage } from '../../shared/protocol.js';
import type { Keys } from '../../shared/keys.js';
import type { ChatScripts } from '../authority/lua-scripts.js';
import type { RedisClient } from '../authority/redis-connection.js';

type StreamEntry = [id: string, fields: string[]];
const WHISPER_TO = /^whisper:(.+)$/;

/** A post stored and published, or why not: muted or over the rate (`ms` until it may post again), or an unknown recipient. */
export type ChatPosted = { id: string; at: number } | { refused: 'muted' | 'rate' | 'unknown'; ms: number };

export class ChatStore {
  constructor(
    private readonly redis: RedisClient,
    private readonly scripts: ChatScripts,
    private readonly keys: Keys,
    private readonly limits: { keep: number; perMinute: number; burst: number; inboxTtlMs: number },
  ) {}

  /**
   * Posts a message; `player`: the sending player, whose mute and rate apply (none for a server). Refused when the
   * player is muted or over its rate (with how long), or when a whisper names a player the world never saw.
   */
  async post(channel: string, from: string, text: string, player?: string): Promise<ChatPosted> {
    const k = this.keys;
    const stream = k.chatStream(channel);
    // Keys the script does not read (a server is never muted or limited; a channel that is no inbox) are the stream.
    const whisper = WHISPER_TO.exec(channel)?.[1];
    const l = this.limits;
    const r = (await this.scripts.chatPost(
      stream, player ? k.chatMute(player) : stream, player ? k.chatRate(player) : stream, whisper ? k.player(whisper) : stream,
      channel, from, text, l.keep, k.chatChannel(channel), player ? '1' : '0', l.perMinute, l.burst, whisper ? '1' : '0', l.inboxTtlMs,
    )) as [number, (string | number)?, number?];
    if (r[0] === 1) return { id: String(r[1]), at: Number(r[2]) };
    return { refused: r[0] === 0 ? 'muted' : r[0] === -1 ? 'rate' : 'unknown', ms: Number(r[1] ?? 0) };
  }

  /**
   * Messages after `after` (the latest `limit` without it), oldest first. `recovered` is false when
   * the history no longer reaches back to `after` (`0-0`: to the channel's first message).
   */
  async history(channel: string, after: string | undefined, limit: number): Promise<{ messages: ChatMessage[]; recovered: boolean }> {
    const key = this.keys.chatStream(channel);
    if (after === undefined) {
      const rows = (await this.redis.xrevrange(key, '+', '-', 'COUNT', limit)) as StreamEntry[];
      return { messages: rows.reverse().map((r) => toMessage(channel, r)), recovered: true };
    }
    // Trimming drops the oldest first: nothing after `after` is gone while `after` itself is still
    // there. (When it is gone, the one after it may be gone too: the client is told it may have missed some.)
    const fromStart = after === '0-0';
    const tx = this.redis.multi().xrange(key, `(${after}`, '+', 'COUNT', limit);
    // From the very beginning: nothing was ever trimmed (or the channel is still empty).
    if (fromStart) tx.xinfo('STREAM', key);
    else tx.xrange(key, after, after);
    const [rows, check] = (await tx.exec()) ?? [];
    const messages = ((rows?.[1] ?? []) as StreamEntry[]).map((r) => toMessage(channel, r));
    if (!fromStart) return { messages, recovered: ((check?.[1] ?? []) as StreamEntry[]).length > 0 };
    const fields = check?.[0] ? [] : ((check?.[1] ?? []) as unknown[]);
    const field = (name: string) => Number(fields[fields.indexOf(name) + 1] ?? 0);
    return { messages, recovered: field('entries-added') === field('length') };
  }

  /** The latest id in a channel ('0-0' when empty): where a newcomer stands. */
  async lastId(channel: string): Promise<string> {
    const rows = (await this.redis.xrevrange(this.keys.chatStream(channel), '+', '-', 'COUNT', 1)) as StreamEntry[];
    return rows[0]?.[0] ?? '0-0';
  }

  /** Mutes a player's chat for `seconds` (0 lifts it). */
  async mute(player: string, seconds: number): Promise<void> {
    const key = this.keys.chatMute(player);
    if (seconds === 0) await this.redis.del(key);
    else await this.redis.set(key, '1', 'EX', seconds);
  }

  async enterRoom(room: string, player: string): Promise<void> {
    await this.redis.sadd(this.keys.chatRoom(room), player);
  }

  async leaveRoom(room: string, player: string): Promise<void> {
    await this.redis.srem(this.keys.chatRoom(room), player);
  }

  roomMembers(room: string): Promise<string[]> {
    return this.redis.smembers(this.keys.chatRoom(room));
  }

  /** A live notice to a room's members (not kept). */
  async notice(channel: string, player: string, event: 'joined' | 'left'): Promise<void> {
    await this.redis.spublish(this.keys.chatChannel(channel), JSON.stringify({ channel, player, event }));
  }
}

function toMessage(channel: string, [id, fields]: StreamEntry): ChatMessage {
  const f: Record<string, string> = {};
  for (let i = 0; i + 1 < fields.length; i += 2) f[fields[i]!] = fields[i + 1]!;
  return { id, channel, from: f.from ?? '', text: f.text ?? '', at: Number(f.at) };
}
