// Chat across the whole network (seed 004 "Chat", R15, R24): every client is in `global`, its
// area's channel and its whisper inbox, plus the rooms it joins. A message is kept in its channel's
// stream and published once (one script); Redis hands it to the nodes with a member of the channel
// only (each node subscribes while it has one), and each node to its members. A resuming client
// names the last id it saw per channel and gets what it missed, exactly once and in order, before
// anything live; where history no longer reaches back it is told so. Live messages go to a
// Socket.IO room per channel: encoded once per node, not once per client.
import type { Logger } from 'winston';
import type { BridgeConfig } from '../../shared/config.js';
import type { Keys } from '../../shared/keys.js';
import {
  ChatChannelRequestSchema, ChatHistoryRequestSchema, ChatMuteSchema, ChatSendSchema, ErrorCode, ID_CHARS, SYSTEM_SENDER_PREFIX,
  chatIdAfter,
  type ChatMessage, type ChatNotice, type ClientHandshake,
} from '../../shared/protocol.js';
import type { AuthorityCache } from '../authority/authority-cache.js';
import type { Subscriber } from '../bus/subscriber.js';
import type { Metrics } from '../ops/metrics.js';
import type { ClientGateway } from '../relay/client-gateway.js';
import type { ClientNamespace } from '../relay/socket-server.js';
import type { ServerGateway } from '../relay/server-gateway.js';
import type { ServerLink } from '../relay/server-link.js';
import { refusal, type Refusal, type Respond } from '../relay/wire-error.js';
import type { ClientSession } from '../sessions/client-session.js';
import type { SessionLifecycle } from '../sessions/session-lifecycle.js';
import { ROOM, cleanText, clientChannel, serverChannel } from './chat-channels.js';
import type { ChatPosted, ChatStore } from './chat-store.js';

export interface ChatRelayDeps {
  config: BridgeConfig;
  keys: Keys;
  store: ChatStore;
  cache: AuthorityCache;
  sub: Subscriber;
  clients: ClientGateway;
  /** Where live messages are broadcast, one Socket.IO room per channel. */
  nsp: ClientNamespace;
  servers: ServerGateway;
  lifecycle: SessionLifecycle;
  metrics: Metrics;
  logger: Logger;
}

/** A session's part in chat: its channels, and where it stood per channel when it resumed. */
interface Member {
  channels: Set<string>;
  /**
   * The last id sent per channel while replaying history. Kept after the replay until a newer live
   * message arrives: one posted during the replay can be read from history and still be on its way
   * through pub/sub, and must not be sent twice.
   */
  cursors: Map<string, string>;
  /** Replaying history after a resume: live messages wait here meanwhile, and its rooms are joined after. */
  buffer: ChatMessage[] | undefined;
}

const roomOf = (channel: string): string => `chat:${channel}`;

export class ChatRelay {
  private readonly members = new WeakMap<ClientSession, Member>();
  /** Local members per channel, and the node's subscription to it while there is one. */
  private readonly local = new Map<string, { sessions: Set<ClientSession>; subscribed: Promise<void> }>();

  constructor(private readonly d: ChatRelayDeps) {
    d.lifecycle.observe({ enter: (s) => this.enter(s), moved: (s) => this.moved(s), leave: (s) => this.leave(s) });
    d.clients.handle('chat', (s, p, respond) => this.send(s, p, respond));
    d.clients.handle('chat:join', (s, p, respond) => this.join(s, p, respond));
    d.clients.handle('chat:leave', (s, p, respond) => this.leaveRoom(s, p, respond));
    d.clients.handle('chat:history', (s, p, respond) => this.history(s, p, respond));
    d.clients.handle('chat:presence', (s, p, respond) => this.presence(s, p, respond));
    d.servers.handle('chat', (link, p, respond) => this.post(link, p, respond));
    d.servers.handle('chat:mute', (link, p, respond) => this.mute(link, p, respond));
  }

  // ---- sessions --------------------------------------------------------------------------------

  private enter(s: ClientSession): void {
    const given = (s.socket.handshake.auth as ClientHandshake).chat ?? {};
    const member: Member = { channels: new Set(), cursors: new Map(Object.entries(given)), buffer: [] };
    this.members.set(s, member);
    // A resume rejoins the rooms it names, as many as a client may be in.
    const rooms = Object.keys(given).filter((c) => ROOM.test(c)).slice(0, this.d.config.maxRoomsPerClient);
    const subscribed = ['global', `area:${s.area}`, `whisper:${s.player}`, ...rooms].map((c) => this.add(s, member, c));
    this.resume(s, member, rooms, subscribed)
      .catch((err: Error) => this.d.logger.warn('chat resume failed', { player: s.player, err: err.message }))
      .finally(() => this.live(s, member));
  }

  /** Replays what the session missed per channel it named, then lets live messages through. */
  private async resume(s: ClientSession, member: Member, rooms: string[], subscribed: Promise<void>[]): Promise<void> {
    await Promise.all(subscribed);
    for (const room of rooms) await this.enterRoom(s, room);
    const report: { channel: string; recovered: boolean; replayed: number; last: string }[] = [];
    for (const channel of member.channels) {
      const after = member.cursors.get(channel);
      if (after === undefined) {
        // New to this channel: it starts from the latest message (the client keeps it as its cursor).
        report.push({ channel, recovered: true, replayed: 0, last: await this.d.store.lastId(channel) });
        continue;
      }
      const { messages, recovered } = await this.d.store.history(channel, after, this.d.config.chatHistory);
      let replayed = 0;
      for (const m of messages) if (this.emitTo(s, member, m)) replayed++;
      report.push({ channel, recovered, replayed, last: member.cursors.get(channel)! });
    }
    this.live(s, member);
    s.socket.emit('chat:recovery', { recovered: report.every((r) => r.recovered), channels: report });
  }

  /** Sends what arrived during the replay (not what the replay sent), then the session hears its channels live. */
  private live(s: ClientSession, member: Member): void {
    if (!member.buffer) return;
    const waiting = member.buffer;
    member.buffer = undefined;
    for (const m of waiting) this.emitTo(s, member, m);
    if (this.members.get(s) === member) for (const c of member.channels) void s.socket.join(roomOf(c));
  }

  private moved(s: ClientSession): void {
    const member = this.members.get(s);
    if (!member) return;
    const area = `area:${s.area}`;
    if (member.channels.has(area)) return;
    for (const c of member.channels) if (c.startsWith('area:')) this.remove(s, member, c);
    const entered = async () => {
      await this.add(s, member, area);
      const last = await this.d.store.lastId(area);
      s.socket.emit('chat:recovery', { recovered: true, channels: [{ channel: area, recovered: true, replayed: 0, last }] });
    };
    entered().catch((err: Error) => this.d.logger.warn('area chat not entered', { player: s.player, err: err.message }));
  }

  private leave(s: ClientSession): void {
    const member = this.members.get(s);
    if (!member) return;
    this.members.delete(s);
    for (const c of [...member.channels]) {
      this.remove(s, member, c);
      if (ROOM.test(c)) this.exitRoom(s.player, c);
    }
  }

  // ---- what clients send -----------------------------------------------------------------------

  private async send(s: ClientSession, raw: unknown, respond: Respond): Promise<void> {
    const member = this.members.get(s);
    const parsed = ChatSendSchema.safeParse(raw);
    if (!member || !parsed.success) return respond(refusal(ErrorCode.BadInput, 'chat must be { channel, text }'));
    const channel = clientChannel(parsed.data.channel, { player: s.player, area: s.area, channels: member.channels }, 'send');
    if (typeof channel !== 'string') return respond(channel);
    const text = cleanText(parsed.data.text, this.d.config.maxChatChars);
    if (typeof text !== 'string') return respond(text);
    const out = await this.d.store.post(channel, s.player, text, s.player);
    if ('refused' in out) return respond(this.refusalOf(out));
    this.d.metrics.chatPosted.inc({ by: 'player' });
    respond({ ok: true, id: out.id, channel });
  }

  private async join(s: ClientSession, raw: unknown, respond: Respond): Promise<void> {
    const member = this.members.get(s);
    const parsed = ChatChannelRequestSchema.safeParse(raw);
    if (!member || !parsed.success || !ROOM.test(parsed.data.channel)) {
      return respond(refusal(ErrorCode.BadChannel, `chat:join takes { channel: "room:<name>" } (${ID_CHARS})`));
    }
    const channel = parsed.data.channel;
    if (!member.channels.has(channel)) {
      const rooms = [...member.channels].filter((c) => ROOM.test(c)).length;
      if (rooms >= this.d.config.maxRoomsPerClient) {
        return respond(refusal(ErrorCode.TooManyRooms, `in ${rooms} rooms already (maxRoomsPerClient): leave one first`));
      }
      await this.add(s, member, channel);
      await this.enterRoom(s, channel);
    }
    // Read after the node hears the room: a message after `last` reaches the client live.
    respond({ ok: true, channel, last: await this.d.store.lastId(channel) });
  }

  private async leaveRoom(s: ClientSession, raw: unknown, respond: Respond): Promise<void> {
    const member = this.members.get(s);
    const parsed = ChatChannelRequestSchema.safeParse(raw);
    if (!member || !parsed.success || !ROOM.test(parsed.data.channel)) {
      return respond(refusal(ErrorCode.BadChannel, 'chat:leave takes { channel: "room:<name>" }'));
    }
    const channel = parsed.data.channel;
    if (!member.channels.has(channel)) return respond(refusal(ErrorCode.NotInRoom, `not in ${channel}`));
    this.remove(s, member, channel);
    this.exitRoom(s.player, channel);
    respond({ ok: true });
  }

  private async history(s: ClientSession, raw: unknown, respond: Respond): Promise<void> {
    const member = this.members.get(s);
    const parsed = ChatHistoryRequestSchema.safeParse(raw);
    if (!member || !parsed.success) {
      return respond(refusal(ErrorCode.BadInput, 'chat:history must be { channel, after?: message id, limit?: 1..100 }'));
    }
    const channel = clientChannel(parsed.data.channel, { player: s.player, area: s.area, channels: member.channels }, 'read');
    if (typeof channel !== 'string') return respond(channel);
    const { messages, recovered } = await this.d.store.history(channel, parsed.data.after, parsed.data.limit ?? 50);
    respond({ ok: true, channel, messages, recovered });
  }

  private async presence(s: ClientSession, raw: unknown, respond: Respond): Promise<void> {
    const member = this.members.get(s);
    const parsed = ChatChannelRequestSchema.safeParse(raw);
    if (!member || !parsed.success) return respond(refusal(ErrorCode.BadInput, 'chat:presence must be { channel }'));
    const name = parsed.data.channel;
    const room = ROOM.exec(name);
    if (room) {
      const players = (await this.d.store.roomMembers(room[1]!)).sort();
      return respond({ ok: true, channel: name, count: players.length, players });
    }
    const online = [...this.d.cache.players.values()].filter((p) => p.server !== '');
    if (name === 'global') return respond({ ok: true, channel: name, count: online.length });
    if (name === 'area') {
      return respond({ ok: true, channel: `area:${s.area}`, count: online.filter((p) => p.area === s.area).length });
    }
    respond(refusal(ErrorCode.BadChannel, 'chat:presence takes global, area or room:<name>'));
  }

  // ---- what servers send -----------------------------------------------------------------------

  private async post(link: ServerLink, raw: unknown, respond: Respond): Promise<void> {
    const parsed = ChatSendSchema.safeParse(raw);
    if (!parsed.success) return respond(refusal(ErrorCode.BadInput, 'chat must be { channel, text }'));
    const channel = serverChannel(parsed.data.channel, this.d.config);
    if (!channel) {
      const message = 'channel must be global, area:<area>, whisper:<player> or room:<name>';
      return respond(refusal(ErrorCode.BadChannel, message));
    }
    const text = cleanText(parsed.data.text, this.d.config.maxChatChars);
    if (typeof text !== 'string') return respond(text);
    const out = await this.d.store.post(channel, `${SYSTEM_SENDER_PREFIX}${link.serverId}`, text);
    if ('refused' in out) return respond(this.refusalOf(out)); // never muted nor limited; a whisper may name no one
    this.d.metrics.chatPosted.inc({ by: 'server' });
    respond({ ok: true, id: out.id, channel });
  }

  private refusalOf(out: Extract<ChatPosted, { refused: string }>): Refusal {
    const s = Math.ceil(out.ms / 1000);
    if (out.refused === 'muted') return refusal(ErrorCode.Muted, `muted for ${s} s more`);
    if (out.refused === 'rate') {
      return refusal(ErrorCode.RateLimited, `more than ${this.d.config.chatPerMinute} chat messages a minute; wait ${s} s`);
    }
    return refusal(ErrorCode.BadChannel, 'no such player to whisper to');
  }

  private async mute(link: ServerLink, raw: unknown, respond: Respond): Promise<void> {
    const parsed = ChatMuteSchema.safeParse(raw);
    if (!parsed.success) {
      return respond(refusal(ErrorCode.BadInput, 'chat:mute must be { player, seconds: 0..2592000 }'));
    }
    await this.d.store.mute(parsed.data.player, parsed.data.seconds);
    this.d.logger.info('chat mute', { by: link.serverId, ...parsed.data });
    respond({ ok: true });
  }

  // ---- delivery --------------------------------------------------------------------------------

  /** Makes the session a member of `channel` here; resolves once the node hears the channel. */
  private add(s: ClientSession, member: Member, channel: string): Promise<void> {
    member.channels.add(channel);
    let entry = this.local.get(channel);
    if (!entry) {
      const subscribed = this.d.sub.listen(this.d.keys.chatChannel(channel), (raw) => this.heard(channel, raw));
      entry = { sessions: new Set(), subscribed };
      this.local.set(channel, entry);
    }
    entry.sessions.add(s);
    if (!member.buffer) void s.socket.join(roomOf(channel));
    return entry.subscribed;
  }

  private remove(s: ClientSession, member: Member, channel: string): void {
    member.channels.delete(channel);
    void s.socket.leave(roomOf(channel));
    const entry = this.local.get(channel);
    if (!entry) return;
    entry.sessions.delete(s);
    if (entry.sessions.size > 0) return;
    this.local.delete(channel);
    void this.d.sub.unlisten(this.d.keys.chatChannel(channel));
  }

  private heard(channel: string, raw: string): void {
    const entry = this.local.get(channel);
    if (!entry) return;
    const m = JSON.parse(raw) as ChatMessage | ChatNotice;
    this.d.metrics.chatHeard.inc();
    if ('event' in m) {
      for (const s of entry.sessions) if (s.player !== m.player) s.socket.emit('chat:notice', m);
      return;
    }
    const message: ChatMessage = { id: m.id, channel: m.channel, from: m.from, text: m.text, at: Number(m.at) };
    let waiting = 0;
    const seen: string[] = [];
    for (const s of entry.sessions) {
      const member = this.members.get(s);
      if (member?.buffer) {
        member.buffer.push(message);
        waiting++;
        continue;
      }
      const last = member?.cursors.get(channel);
      if (last === undefined) continue;
      if (chatIdAfter(message.id, last)) member!.cursors.delete(channel);
      else seen.push(s.socket.id); // replayed from history already
    }
    this.d.metrics.chatDelivered.inc(entry.sessions.size - waiting - seen.length);
    (seen.length > 0 ? this.d.nsp.to(roomOf(channel)).except(seen) : this.d.nsp.to(roomOf(channel))).emit('chat', message);
  }

  /** While replaying: sends a message the session has not seen yet (ids only grow per channel). */
  private emitTo(s: ClientSession, member: Member, m: ChatMessage): boolean {
    const last = member.cursors.get(m.channel);
    if (last !== undefined && !chatIdAfter(m.id, last)) return false;
    member.cursors.set(m.channel, m.id);
    this.d.metrics.chatDelivered.inc();
    s.socket.emit('chat', m);
    return true;
  }

  private async enterRoom(s: ClientSession, channel: string): Promise<void> {
    await this.d.store.enterRoom(channel.slice(5), s.player);
    await this.d.store.notice(channel, s.player, 'joined');
  }

  private exitRoom(player: string, channel: string): void {
    const done = async () => {
      await this.d.store.leaveRoom(channel.slice(5), player);
      await this.d.store.notice(channel, player, 'left');
    };
    done().catch((err: Error) => this.d.logger.warn('room leave not recorded', { player, channel, err: err.message }));
  }

}
