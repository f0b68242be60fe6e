// The rules of chat channels and texts, pure (unit-tested in test/rules.test.ts): which channel a
// client or a server means and may use, and what is left of a text once cleaned.
import { parseArea } from '../../shared/grid.js';
import { ErrorCode, ID_CHARS, ID_MAX_LENGTH } from '../../shared/protocol.js';
import { refusal, type Refusal } from '../relay/wire-error.js';

export const ROOM = new RegExp(`^room:([${ID_CHARS}]{1,${ID_MAX_LENGTH}})$`);
const WHISPER = new RegExp(`^whisper:([${ID_CHARS}]{1,${ID_MAX_LENGTH}})$`);
/** Control characters (C0, C1), zero-width and bidirectional controls: never part of a chat text. */
// eslint-disable-next-line no-control-regex -- matching control characters is the point
const CONTROL = /[\u0000-\u001f\u007f-\u009f\u200b-\u200f\u202a-\u202e\u2060-\u2069\ufeff]/g;

/**
 * The channel a client means, if it may use it: `area` is its own area (a client never names one);
 * any inbox to send to, only its own to read; rooms it is in.
 */
export function clientChannel(
  name: string, who: { player: string; area: string; channels: ReadonlySet<string> }, use: 'send' | 'read',
): string | Refusal {
  if (name === 'global') return name;
  if (name === 'area' || (use === 'read' && name === `area:${who.area}`)) return `area:${who.area}`;
  if (name.startsWith('area:')) return refusal(ErrorCode.BadChannel, 'say "area": the bridge picks yours; other areas are not yours');
  const whisper = WHISPER.exec(name);
  if (whisper) {
    return use === 'send' || whisper[1] === who.player ? name : refusal(ErrorCode.BadChannel, 'only your own whispers are yours to read');
  }
  if (ROOM.test(name)) return who.channels.has(name) ? name : refusal(ErrorCode.NotInRoom, `join ${name} first (chat:join)`);
  return refusal(ErrorCode.BadChannel, `no chat channel ${JSON.stringify(name.slice(0, 80))}: global, area, whisper:<player>, room:<name>`);
}

/** A server may post anywhere: global, any area of the grid, any inbox, any room. */
export function serverChannel(name: string, grid: { worldCols: number; worldRows: number }): string | undefined {
  if (name === 'global' || WHISPER.test(name) || ROOM.test(name)) return name;
  const area = name.startsWith('area:') ? parseArea(name.slice(5)) : undefined;
  return area && area[0] < grid.worldCols && area[1] < grid.worldRows ? name : undefined;
}

/** The text without control characters, trimmed; refused when empty or over `maxChars` characters. */
export function cleanText(raw: string, maxChars: number): string | Refusal {
  const text = raw.replace(CONTROL, '').trim();
  if (text.length === 0) return refusal(ErrorCode.BadInput, 'chat text is empty');
  const chars = [...text].length;
  if (chars > maxChars) return refusal(ErrorCode.ChatTooLong, `chat text of ${chars} characters, over ${maxChars}`);
  return text;
}
