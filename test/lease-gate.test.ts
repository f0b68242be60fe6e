// The server SDK's lease gate as a pure rule (gameserver-stub/sdk-lease.ts); test/freeze.test.ts
// shows it against real processes frozen with SIGSTOP.
import { expect } from 'chai';
import { LeaseGate } from '../gameserver-stub/sdk-lease.js';
import { sleep } from './harness.js';

/** A gate whose asks are answered by hand. */
function gate(): { gate: LeaseGate; asks: ((ms: number | undefined) => void)[]; ran: number[] } {
  const asks: ((ms: number | undefined) => void)[] = [];
  return { gate: new LeaseGate((answer) => asks.push(answer)), asks, ran: [] };
}

describe('lease gate: a server acts on what the bridge sent only while its lease is confirmed', () => {
  it('runs at once within the confirmed window; past it holds in order, asks once, and runs on the answer', async () => {
    const { gate: g, asks, ran } = gate();
    g.confirmed(performance.now(), 40);
    g.run(() => ran.push(1));
    expect(ran).to.deep.equal([1]);
    await sleep(60);
    g.run(() => ran.push(2));
    g.run(() => ran.push(3));
    expect(ran).to.deep.equal([1]);
    expect(g.holding).to.equal(2);
    expect(asks).to.have.length(1);
    asks[0]!(500);
    expect(ran).to.deep.equal([1, 2, 3]);
    g.reset();
  });

  it('an answer granting nothing (the bridge cannot renew the lease) keeps holding; a later one runs them', async () => {
    const { gate: g, asks, ran } = gate();
    g.run(() => ran.push(1));
    asks[0]!(0);
    expect(ran).to.deep.equal([]);
    await sleep(150); // asked again shortly, not at once
    expect(asks).to.have.length(2);
    asks[1]!(1000);
    expect(ran).to.deep.equal([1]);
    g.reset();
  });

  it('the connection ends: what is held is dropped, never run, and a late answer to an old ask changes nothing', () => {
    const { gate: g, asks, ran } = gate();
    g.run(() => ran.push(1));
    g.run(() => ran.push(2));
    expect(g.reset()).to.equal(2);
    asks[0]!(1000);
    expect(ran).to.deep.equal([]);
    expect(g.holding).to.equal(0);
    // Positive control: a confirmation for the new connection lets events run again.
    g.confirmed(performance.now(), 1000);
    g.run(() => ran.push(3));
    expect(ran).to.deep.equal([3]);
    g.reset();
  });

  it('no answer at all (timed out) asks again while something is held', () => {
    const { gate: g, asks } = gate();
    g.run(() => undefined);
    asks[0]!(undefined);
    expect(asks).to.have.length(2);
    g.reset();
  });
});
