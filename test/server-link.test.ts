// The server link's delivery rules, on an in-memory socket (pure rules: no network needed).
import { expect } from 'chai';
import { Metrics } from '../bridge/ops/metrics.js';
import { ServerLink, sealedBy, type ServerSocket } from '../bridge/relay/server-link.js';
import type { InputItem } from '../shared/protocol.js';

function link(): { link: ServerLink; sent: InputItem[]; frames: () => number; metrics: Metrics } {
  const sent: InputItem[] = [];
  let frames = 0;
  const socket = {
    emit: (event: string, batch: InputItem[]) => {
      if (event !== 'inputs') return;
      frames++;
      sent.push(...batch);
    },
  } as unknown as ServerSocket;
  const metrics = new Metrics('test');
  const l = new ServerLink('s1', 1, socket, metrics);
  l.attach({ player: 'p', area: '0,0', epoch: 1, seq: 10 });
  return { link: l, sent, frames: () => frames, metrics };
}
const dropped = async (m: Metrics): Promise<Record<string, number>> =>
  Object.fromEntries((await m.inputsDropped.get()).values.filter((v) => v.value > 0).map((v) => [String(v.labels.reason), v.value]));
const seqs = (sent: InputItem[]) => sent.map((i) => i.seq);

describe('server link rules', () => {
  it('delivers only last + 1: drops duplicates and gaps', () => {
    const { link: l, sent } = link();
    for (const seq of [10, 11, 13, 11, 12, 13, 12]) l.deliver('p', seq, null, 0);
    l.flush();
    expect(seqs(sent)).to.deep.equal([11, 12, 13]);
  });

  it('goes on right after the client\'s floor when it is above the link (never waits for what the client dropped)', () => {
    const { link: l, sent } = link();
    l.deliver('p', 15, null, 20); // a client that keeps nothing at or below 20 (e.g. one that names no `saved`)
    l.deliver('p', 21, null, 20);
    l.deliver('p', 22, null, 20);
    l.flush();
    expect(seqs(sent)).to.deep.equal([21, 22]);
    expect(l.cursors()).to.deep.equal({ p: 22 });
  });

  it('a player\'s export seals that player only, never the bystanders in its destination area; its rollback unseals it', () => {
    const { link: l, sent } = link();
    l.attach({ player: 'bystander', area: '1,0', epoch: 1, seq: 0 });
    l.seal(sealedBy('player:export', { player: 'p', area: '1,0', to: 's2' })!, 60_000);
    l.deliver('p', 11, null, 0);
    l.deliver('bystander', 1, null, 0);
    l.flush();
    expect(sent.map((i) => `${i.player}:${i.seq}`)).to.deep.equal(['bystander:1']);
    l.unseal(sealedBy('player:resume', { player: 'p' })!);
    l.deliver('p', 11, null, 0);
    l.flush();
    expect(sent.map((i) => `${i.player}:${i.seq}`)).to.deep.equal(['bystander:1', 'p:11']);
    expect(sealedBy('area:export', { area: '1,0', to: 's2' })).to.deep.equal({ area: '1,0' });
    expect(sealedBy('player:import', { player: 'p' })).to.equal(undefined);
  });

  it('delivers nothing for an exported player until resumed, or until the seal runs out', async () => {
    const { link: l, sent, metrics } = link();
    l.seal({ area: '0,0' }, 60_000);
    l.deliver('p', 11, null, 0);
    l.flush();
    expect(seqs(sent)).to.deep.equal([], 'sealed by its area');
    l.unseal({ player: 'p' });
    l.deliver('p', 11, null, 0);
    l.flush();
    expect(seqs(sent)).to.deep.equal([11], 'resumed');
    l.seal({ player: 'p' }, 25);
    l.deliver('p', 12, null, 0);
    l.flush();
    expect(seqs(sent)).to.deep.equal([11], 'sealed by name');
    await new Promise((r) => setTimeout(r, 40));
    l.deliver('p', 12, null, 0);
    l.flush();
    expect(seqs(sent)).to.deep.equal([11, 12], 'the seal ran out');
    expect(await dropped(metrics)).to.deep.equal({ exported: 2 });
  });

  it('counts every input it does not deliver, by reason, and batches what it delivers into one frame per turn', async () => {
    const { link: l, frames, metrics } = link();
    l.deliver('ghost', 1, null, 0);
    for (const seq of [11, 11, 13, 12]) l.deliver('p', seq, null, 0);
    expect(frames()).to.equal(0, 'nothing written before the turn ends');
    await new Promise((r) => setImmediate(r));
    expect(frames()).to.equal(1);
    expect(await dropped(metrics)).to.deep.equal({ not_attached: 1, duplicate: 1, gap: 1 });
    l.deliver('p', 12, null, 12);
    expect(await dropped(metrics)).to.deep.equal({ not_attached: 1, duplicate: 2, gap: 1 }, 'at the client\'s ack: a duplicate');
  });
});
