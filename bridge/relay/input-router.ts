// Routes a client's input to the link of the server that owns the player: straight into the
// link when it is on this node, else onto the node bus for the link's node. No Redis round trip:
// the owner comes from the session (kept current by the authority cache).
import type { AuthorityCache } from '../authority/authority-cache.js';
import type { Metrics } from '../ops/metrics.js';
import type { NodeBus } from '../bus/node-bus.js';
import type { ServerLinks } from './server-link.js';

export class InputRouter {
  constructor(
    private readonly nodeId: string,
    private readonly cache: AuthorityCache,
    private readonly links: ServerLinks,
    private readonly bus: NodeBus,
    private readonly metrics: Metrics,
  ) {
    bus.on('in', (m) => this.deliverHere(m.s, m.i.player, m.i.seq, m.i.data, m.a));
  }

  /** `acked`: the last seq acknowledged to the client; the link never waits for one below it. */
  route(server: string, player: string, seq: number, data: unknown, acked: number): void {
    const node = this.cache.servers.get(server)?.node;
    if (!node) return void this.metrics.inputsDropped.inc({ reason: 'no_server' });
    this.metrics.inputsRouted.inc();
    if (node === this.nodeId) this.deliverHere(server, player, seq, data, acked);
    else this.bus.send(node, { t: 'in', s: server, i: { player, seq, data }, a: acked });
  }

  /** An input for a server linked to this node (from a local client or another node). */
  private deliverHere(server: string, player: string, seq: number, data: unknown, acked: number): void {
    if (!this.cache.inSync) return void this.metrics.inputsDropped.inc({ reason: 'out_of_sync' });
    const link = this.links.get(server);
    if (link) link.deliver(player, seq, data, acked);
    else this.metrics.inputsDropped.inc({ reason: 'no_link' });
  }
}
