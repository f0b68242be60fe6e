// The server link's delivery rules, on an in-memory socket (pure rules: no network needed).
import { expect } from 'chai';
import { Metrics } from '../bridge/ops/metrics.js';
import { ServerLink, type ServerSocket } from '../bridge/relay/server-link.js';
import type { InputItem } from '../shared/protocol.js';

function link(): { link: ServerLink; sent: InputItem[] } {
  const sent: InputItem[] = [];
  const socket = {
    emit: (event: string, batch: InputItem[]) => {
      if (event === 'inputs') sent.push(...batch);
    },
  } as unknown as ServerSocket;
  const l = new ServerLink('s1', 1, socket, new Metrics('test'));
  l.attach({ player: 'p', area: '0,0', epoch: 1, seq: 10 });
  return { link: l, sent };
}
const seqs = (sent: InputItem[]) => sent.map((i) => i.seq);

describe('server link rules', () => {
  it('delivers only last + 1: drops duplicates and gaps', () => {
    const { link: l, sent } = link();
    for (const seq of [10, 11, 13, 11, 12, 13, 12]) l.deliver('p', seq, null, 0);
    l.flush();
    expect(seqs(sent)).to.deep.equal([11, 12, 13]);
  });

  it('after a rollback, goes on right after the client\'s last ack (never waits for what the client dropped)', () => {
    const { link: l, sent } = link();
    l.deliver('p', 15, null, 20); // the client was acknowledged up to 20 by a server that died
    l.deliver('p', 21, null, 20);
    l.deliver('p', 22, null, 20);
    l.flush();
    expect(seqs(sent)).to.deep.equal([21, 22]);
    expect(l.delivered('p', 1)).to.equal(22);
  });

  it('delivers nothing for an exported player until resumed, or until the seal runs out', async () => {
    const { link: l, sent } = link();
    l.seal({ area: '0,0' }, 60_000);
    l.deliver('p', 11, null, 0);
    l.unseal({ player: 'p' });
    l.deliver('p', 11, null, 0);
    l.seal({ player: 'p' }, 20);
    l.deliver('p', 12, null, 0);
    await new Promise((r) => setTimeout(r, 30));
    l.deliver('p', 12, null, 0);
    l.flush();
    expect(seqs(sent)).to.deep.equal([11, 12]);
  });
});
