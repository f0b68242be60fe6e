// The chaos suite's exactly-once audit, on hand-written journals: it must pass what the rule
// allows and catch every kind of breach (a pure rule, so in-memory inputs).
import { expect } from 'chai';
import { auditPlayer, parseJournal, type JournalEvent } from '../chaos/audit.js';

let t = 0;
const apply = (server: string, ...seqs: number[]): JournalEvent[] =>
  seqs.map((seq) => ({ kind: 'apply', at: ++t, server, player: 'p', seq }));
const attach = (server: string, seq: number, resync = false): JournalEvent[] => [
  { kind: 'attach', at: ++t, server, player: 'p', seq, resync },
];
const run = (acked: number, ...parts: JournalEvent[][]) => auditPlayer('p', parts.flat(), acked);

describe('chaos audit (the exactly-once rule)', () => {
  it('passes inputs applied once, in order, across a handoff', () => {
    const r = run(6, attach('s1', 0), apply('s1', 1, 2, 3), attach('s2', 3), apply('s2', 4, 5, 6));
    expect(r).to.include({ applied: 6, rolledBack: 0 });
    expect(r.violations).to.deep.equal([]);
  });

  it('catches a duplicate, a gap and a reordering', () => {
    expect(run(3, attach('s1', 0), apply('s1', 1, 2, 2, 3)).violations).to.deep.equal(['seq 2 applied again (after 2)']);
    expect(run(3, attach('s1', 0), apply('s1', 1, 3)).violations).to.include('seq 2 lost: seq 3 applied after 1');
    expect(run(3, attach('s1', 0), apply('s1', 2, 1, 3)).violations.length).to.be.greaterThan(0);
  });

  it('allows the documented crash rollback and counts it', () => {
    // s1 autosaved at 2, applied up to 5 (acked up to 4), died; s2 restores 2 and resumes after the ack.
    const r = run(7, attach('s1', 0), apply('s1', 1, 2, 3, 4, 5), attach('s2', 2, true), apply('s2', 5, 6, 7));
    expect(r.violations).to.deep.equal([]);
    expect(r.rolledBack).to.equal(2); // 3 and 4: applied after the autosave, gone with s1
  });

  it('zero loss: what the dead server applied after its autosave, applied again, is counted as replayed, with when', () => {
    const r = run(6, attach('s1', 0), apply('s1', 1, 2, 3, 4), attach('s2', 2, true), apply('s2', 3, 4, 5, 6));
    expect(r.violations).to.deep.equal([]);
    expect(r.rolledBack).to.equal(0);
    expect(r.times.replayed).to.have.length(2);
    expect(r.times.applied).to.have.length(8);
    expect(r.times.replayed[0]).to.be.above(r.times.applied[3]!); // after the dead server's applications
  });

  it('catches a recovery that skips an input nobody applied', () => {
    const r = run(7, attach('s1', 0), apply('s1', 1, 2, 3), attach('s2', 2, true), apply('s2', 6, 7));
    expect(r.violations).to.deep.equal([
      'seq 4 lost: skipped after recovery but never applied',
      'seq 5 lost: skipped after recovery but never applied',
    ]);
  });

  it('catches an input applied by a server that does not own the player, and acks past what was applied', () => {
    expect(run(2, attach('s1', 0), apply('s1', 1), attach('s2', 1), apply('s1', 2)).violations).to.include(
      'seq 2 applied by s1 while s2 owned the player',
    );
    expect(run(9, attach('s1', 0), apply('s1', 1, 2)).violations).to.deep.equal(['acknowledged up to 9 but applied only up to 2']);
  });

  it('reads the reference server\'s journal lines', () => {
    expect(parseJournal('A 1.5 s1 p 0 0\nI 2.25 s1 p 1\nA 3 s2 p 1 1\ngarbage\n')).to.deep.equal([
      { kind: 'attach', at: 1.5, server: 's1', player: 'p', seq: 0, resync: false },
      { kind: 'apply', at: 2.25, server: 's1', player: 'p', seq: 1 },
      { kind: 'attach', at: 3, server: 's2', player: 'p', seq: 1, resync: true },
    ]);
  });
});
