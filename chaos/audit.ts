// The exactly-once audit of the chaos suite: replays every game server's journal of one player in
// time order and checks the delivery rule of docs/mesh.md. A pure function of the journals, so the
// rule itself is unit-tested (test/chaos-audit.test.ts).
//
// The rule. Inputs are applied once each, in seq order, across every server the player visits.
// The one exception is crash recovery (an attach with `resync`, at the seq of the last autosave
// s): the restored state holds 1..s; inputs the dead server applied after s are rolled back, and
// the new owner continues after some x (s <= x). Its client keeps every input an autosave does not
// cover, so x = s and the rolled-back inputs are applied again (zero loss); seqs in (s, x] would be
// lost: each must have been applied by the dead server, and they are counted (`rolledBack`: the
// chaos suite requires 0, since its clients stay up). Anything else is a violation.

export type JournalEvent =
  | { kind: 'apply'; at: number; server: string; player: string; seq: number }
  | { kind: 'attach'; at: number; server: string; player: string; seq: number; resync: boolean };

export interface PlayerAudit {
  player: string;
  applied: number;
  /** Inputs applied by a dead server after its last autosave and not re-applied (the rule's exception). */
  rolledBack: number;
  violations: string[];
  /** When (journal time) each thing happened, so that a run can give figures per fault. */
  times: { applied: number[]; replayed: number[]; rolledBack: number[]; violations: number[] };
}

export function parseJournal(text: string): JournalEvent[] {
  const out: JournalEvent[] = [];
  for (const line of text.split('\n')) {
    const f = line.split(' ');
    if (f[0] === 'I' && f.length === 5) out.push({ kind: 'apply', at: Number(f[1]), server: f[2]!, player: f[3]!, seq: Number(f[4]) });
    else if (f[0] === 'A' && f.length === 6)
      out.push({ kind: 'attach', at: Number(f[1]), server: f[2]!, player: f[3]!, seq: Number(f[4]), resync: f[5] === '1' });
  }
  return out;
}

/**
 * Audits one player. `events` are its journal events from every server; `acked` is the last seq
 * its client saw acknowledged once everything settled (every seq up to it must be accounted for).
 */
export function auditPlayer(player: string, events: JournalEvent[], acked: number): PlayerAudit {
  const sorted = [...events].sort((a, b) => a.at - b.at);
  const violations: string[] = [];
  /** Seqs in the player's state, in order; `holes` were rolled back (applied, then lost in a crash). */
  const state: number[] = [];
  /** Seq rolled back (by the resync attach at that time) and not applied again yet. */
  const rolled = new Map<number, number>();
  const everApplied = new Set<number>();
  const times: PlayerAudit['times'] = { applied: [], replayed: [], rolledBack: [], violations: [] };
  const violate = (at: number, v: string) => {
    violations.push(v);
    times.violations.push(at);
  };
  let owner = '';
  let resumeFloor: number | undefined; // after a resync attach: the autosave seq
  let applied = 0;
  for (const e of sorted) {
    if (e.kind === 'attach') {
      owner = e.server;
      if (e.resync) {
        while (state.length > 0 && state.at(-1)! > e.seq) rolled.set(state.pop()!, e.at);
        resumeFloor = e.seq;
      }
      continue;
    }
    applied++;
    times.applied.push(e.at);
    if (e.server !== owner && owner !== '') violate(e.at, `seq ${e.seq} applied by ${e.server} while ${owner} owned the player`);
    const last = state.at(-1) ?? 0;
    if (resumeFloor !== undefined) {
      // The first input after a crash: anything in (floor, seq) must have been applied before.
      for (let q = Math.max(last, resumeFloor) + 1; q < e.seq; q++) {
        if (!everApplied.has(q)) violate(e.at, `seq ${q} lost: skipped after recovery but never applied`);
      }
      resumeFloor = undefined;
    } else if (e.seq <= last) {
      violate(e.at, `seq ${e.seq} applied again (after ${last})`);
      continue;
    } else if (e.seq !== last + 1) {
      for (let q = last + 1; q < e.seq; q++) violate(e.at, `seq ${q} lost: seq ${e.seq} applied after ${last}`);
    }
    if (rolled.delete(e.seq)) times.replayed.push(e.at);
    state.push(e.seq);
    everApplied.add(e.seq);
  }
  const top = state.at(-1) ?? 0;
  if (top < acked) violate(sorted.at(-1)?.at ?? 0, `acknowledged up to ${acked} but applied only up to ${top}`);
  // Rolled back for good: popped by a resync and skipped by the seqs applied after it.
  for (const [q, at] of rolled) if (q <= top) times.rolledBack.push(at);
  return { player, applied, rolledBack: times.rolledBack.length, violations, times };
}

export function auditAll(events: JournalEvent[], acked: Map<string, number>): PlayerAudit[] {
  const byPlayer = new Map<string, JournalEvent[]>();
  for (const e of events) {
    const list = byPlayer.get(e.player);
    if (list) list.push(e);
    else byPlayer.set(e.player, [e]);
  }
  return [...acked].map(([player, ack]) => auditPlayer(player, byPlayer.get(player) ?? [], ack));
}
