// The mesh's decisions as pure functions of what the mesh looks like (no I/O, no clock): where a
// new area goes, which area an overloaded server gives away and to whom, in what order a drain
// moves areas. The planner and placement do the I/O around them; unit tests check them alone.
import { createHash } from 'node:crypto';
import type { OfferReply, ServerInfo } from '../../shared/protocol.js';
import type { AreaOwner } from '../authority/authority-map.js';

/** A server with the load the planner counts for it. */
export interface View {
  server: ServerInfo;
  load: number;
}

export const ratio = (v: View): number => v.load / v.server.power;

/** Rendezvous hash of (area, server): placing nodes agree per area and spread areas over servers. */
export const rank = (area: string, server: string): number => createHash('sha1').update(`${area}|${server}`).digest().readUInt32BE(0);

/**
 * The server with the lowest (load + players assigned since its last report) : power, then the
 * fewest areas, then the highest rendezvous rank for this area.
 */
export function pickLeastLoaded(
  area: string,
  candidates: { server: ServerInfo; pending: number; areas: number }[],
): ServerInfo | undefined {
  let best: ServerInfo | undefined;
  let bestKey: [number, number, number] | undefined;
  for (const c of candidates) {
    const key: [number, number, number] = [(c.server.load + c.pending) / c.server.power, c.areas, -rank(area, c.server.id)];
    if (!bestKey || (key[0] - bestKey[0] || key[1] - bestKey[1] || key[2] - bestKey[2]) < 0) {
      best = c.server;
      bestKey = key;
    }
  }
  return best;
}

/** Servers with their load as the sum of their areas' (current ownership), else their own report. */
export function serverViews(
  servers: Iterable<ServerInfo>,
  areas: Iterable<[string, AreaOwner]>,
  areaLoads: ReadonlyMap<string, number>,
): View[] {
  const views = new Map<string, View>();
  for (const s of servers) views.set(s.id, { server: s, load: 0 });
  const counted = new Set<string>();
  for (const [area, owner] of areas) {
    const v = views.get(owner.server);
    const load = areaLoads.get(area);
    if (v && load !== undefined) {
      v.load += load;
      counted.add(owner.server);
    }
  }
  for (const v of views.values()) if (!counted.has(v.server.id)) v.load = v.server.load;
  return [...views.values()];
}

export interface RebalanceOption {
  area: string;
  load: number;
  /** Servers that stay at or under the threshold with the area. */
  takers: View[];
}

/**
 * Netsplit, for one overloaded source: its areas that could move (loaded, not cooling down, with
 * at least one taker that stays at or under the threshold), best first: the move that leaves the
 * lower max(source ratio, best taker ratio), then the smaller area (seed 004: "ideally something small").
 */
export function rebalanceOptions(
  source: View, views: View[], owned: { area: string; load: number }[], cooling: ReadonlySet<string>, threshold: number,
): RebalanceOption[] {
  return owned
    .filter((a) => a.load > 0 && !cooling.has(a.area))
    .map(({ area, load }) => {
      const takers = views.filter((v) => v !== source && (v.load + load) / v.server.power <= threshold);
      const best = Math.min(...takers.map((t) => (t.load + load) / t.server.power));
      return { area, load, takers, score: Math.max((source.load - load) / source.server.power, best) };
    })
    .filter((o) => o.takers.length > 0)
    .sort((a, b) => a.score - b.score || a.load - b.load)
    .map(({ area, load, takers }) => ({ area, load, takers }));
}

/** Servers above the threshold, the most loaded first. */
export const overloaded = (views: View[], threshold: number): View[] =>
  views.filter((v) => ratio(v) > threshold).sort((a, b) => ratio(b) - ratio(a));

/** Acceptors of an offer of `load`, best first: priority, then the lowest ratio after taking it. */
export function rankAcceptors<T extends { view: View; reply: OfferReply }>(replies: T[], load: number): T[] {
  return replies
    .filter((r) => r.reply.accept)
    .sort((a, b) => Number(b.reply.priority === true) - Number(a.reply.priority === true)
      || (a.view.load + load) / a.view.server.power - (b.view.load + load) / b.view.server.power);
}

/** The least loaded view by ratio (a recovery's or an emergency drain's target), or undefined. */
export const lowestRatio = (views: View[]): View | undefined => [...views].sort((a, b) => ratio(a) - ratio(b))[0];

/** A drain moves the largest areas first, while the most servers can still take them. */
export const drainOrder = (owned: { area: string; load: number }[]): { area: string; load: number }[] =>
  [...owned].sort((a, b) => b.load - a.load);
