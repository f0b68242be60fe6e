// Waits until every live node has applied an authority update, so that once an ownership change
// returns, no node routes by the old owner. Nodes that do not answer in time are reported, not
// waited on forever (a dead node routes nothing).
import { randomUUID } from 'node:crypto';

interface Pending {
  waiting: Set<string>;
  done: (missing: string[]) => void;
}

export class CacheBarrier {
  private readonly pending = new Map<string, Pending>();

  newId(): string {
    return randomUUID();
  }

  /**
   * Starts waiting for acks of update `id` from `nodes`; call it before the update is made, as
   * acks may arrive before the script's reply. Resolves with the nodes that did not ack in time.
   */
  expect(id: string, nodes: string[], timeoutMs: number): Promise<string[]> {
    return new Promise((resolve) => {
      const waiting = new Set(nodes);
      const timer = setTimeout(() => finish([...waiting]), timeoutMs);
      const finish = (missing: string[]) => {
        clearTimeout(timer);
        this.pending.delete(id);
        resolve(missing);
      };
      this.pending.set(id, { waiting, done: finish });
      if (waiting.size === 0) finish([]);
    });
  }

  /** The update was not made (a lost compare-and-set): stop waiting. */
  cancel(id: string): void {
    this.pending.get(id)?.done([]);
  }

  ack(id: string, node: string): void {
    const p = this.pending.get(id);
    if (!p) return;
    p.waiting.delete(node);
    if (p.waiting.size === 0) p.done([]);
  }
}
