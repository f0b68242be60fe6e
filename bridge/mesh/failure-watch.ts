// The lease check (a control-plane schedule, run by one node at a time): servers whose lease ran
// out are recovered, areas still held by a dead or departed server are tried again, and the
// sessions of bridge nodes that died are ended after their grace period.
import type { BridgeConfig } from '../../shared/config.js';
import type { AuthorityCache } from '../authority/authority-cache.js';
import type { AuthorityMap } from '../authority/authority-map.js';
import type { SessionLifecycle } from '../sessions/session-lifecycle.js';
import type { ControlPlane } from './control-plane.js';

export class FailureWatch {
  /** When a Redis connection of this node last came back (0: never lost). */
  private reconnectedAt = 0;

  constructor(
    private readonly config: BridgeConfig,
    private readonly cache: AuthorityCache,
    private readonly map: AuthorityMap,
    private readonly control: ControlPlane,
    private readonly sessions: SessionLifecycle,
  ) {
    control.handle('lease-check', () => this.check());
  }

  /** Redis was away: leases ran out meanwhile though the servers are fine. */
  redisCameBack(): void {
    this.reconnectedAt = Date.now();
  }

  private async check(): Promise<void> {
    // After a reconnect, give the servers one lease to report again before any is declared dead.
    if (Date.now() - this.reconnectedAt >= this.config.serverLeaseMs) {
      for (const s of await this.map.expiredLeases()) await this.recoverLater(s.id, s.epoch);
    }
    // Areas still held by a dead or departed server (no one could take them yet): try again.
    for (const s of this.cache.servers.values()) {
      if ((s.status === 'dead' || s.status === 'gone') && this.cache.areasOf(s.id).length > 0) await this.recoverLater(s.id, s.epoch);
    }
    for (const node of await this.map.deadNodes(this.config.sessionGraceMs)) await this.sessions.endSessionsOf(node);
  }

  private recoverLater(server: string, epoch: number): Promise<void> {
    return this.control.recoverLater(server, epoch, Object.fromEntries(this.cache.areasOf(server).map((a) => [a.area, a.epoch])));
  }
}
