// Prometheus metrics of one bridge node (its own registry: several nodes can share a process).
import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';

export interface NodeTotals { inputs: number; state: number; handoffs: number; errors: number; drops: number }

export class Metrics {
  readonly registry = new Registry();
  /** Every refusal sent on the wire, by code and side. */
  readonly errors = new Counter({
    name: 'meshbridge_errors_total',
    help: 'Errors sent to clients and servers',
    labelNames: ['code', 'side'],
    registers: [this.registry],
  });
  /** Exceptions caught at an edge (an HTTP route, the upgrade, a handshake) or by the process: always our fault. */
  readonly faults = new Counter({
    name: 'meshbridge_faults_total',
    help: 'Unexpected exceptions caught instead of ending the process, by where they were caught',
    labelNames: ['where'],
    registers: [this.registry],
  });
  /** The map lost data and this node restored into a new incarnation (`started`: it began that incarnation). */
  readonly worldRebuilds = new Counter({
    name: 'meshbridge_world_rebuilds_total',
    help: 'Times Redis lost the world map and this node restored what it holds live into a new incarnation',
    labelNames: ['started'],
    registers: [this.registry],
  });
  readonly inputsRouted = new Counter({
    name: 'meshbridge_inputs_routed_total',
    help: 'Client inputs accepted and routed',
    registers: [this.registry],
  });
  readonly inputsDelivered = new Counter({
    name: 'meshbridge_inputs_delivered_total',
    help: 'Inputs written to a server link',
    registers: [this.registry],
  });
  readonly inputsDropped = new Counter({
    name: 'meshbridge_inputs_dropped_total',
    help: 'Inputs not delivered',
    labelNames: ['reason'],
    registers: [this.registry],
  });
  readonly stateItems = new Counter({
    name: 'meshbridge_state_items_total',
    help: 'State items accepted from servers',
    labelNames: ['kind'],
    registers: [this.registry],
  });
  readonly stateDropped = new Counter({
    name: 'meshbridge_state_dropped_total',
    help: 'State items dropped',
    labelNames: ['reason'],
    registers: [this.registry],
  });
  readonly ownershipChanges = new Counter({
    name: 'meshbridge_ownership_changes_total',
    help: 'Ownership changes made by this node',
    labelNames: ['kind'],
    registers: [this.registry],
  });
  readonly handoffs = new Counter({
    name: 'meshbridge_handoffs_total',
    help: 'Player handoffs coordinated by this node',
    labelNames: ['outcome'],
    registers: [this.registry],
  });
  readonly areaMoves = new Counter({
    name: 'meshbridge_area_moves_total',
    help: 'Area moves coordinated by this node',
    labelNames: ['reason', 'outcome'],
    registers: [this.registry],
  });
  readonly busPublishes = new Counter({
    name: 'meshbridge_bus_publishes_total',
    help: 'Node bus batches published',
    registers: [this.registry],
  });
  readonly areaBatchesPublished = new Counter({
    name: 'meshbridge_area_batches_published_total',
    help: 'Area state batches published on area channels',
    registers: [this.registry],
  });
  readonly areaBytesPublished = new Counter({
    name: 'meshbridge_area_bytes_published_total',
    help: 'Bytes of area state published on area channels',
    registers: [this.registry],
  });
  readonly areaBytesReceived = new Counter({
    name: 'meshbridge_area_bytes_received_total',
    help: 'Bytes of area state received from area channels',
    registers: [this.registry],
  });
  readonly areaBatchesReceived = new Counter({
    name: 'meshbridge_area_batches_received_total',
    help: 'Area state batches received from other nodes',
    registers: [this.registry],
  });
  readonly areaBatchesUnwanted = new Counter({
    name: 'meshbridge_area_batches_unwanted_total',
    help: 'Area state batches received for an area no one here is interested in (an unsubscribe in flight)',
    registers: [this.registry],
  });
  readonly areaSubscriptions = new Gauge({
    name: 'meshbridge_area_subscriptions',
    help: 'Area channels this node listens to',
    registers: [this.registry],
  });
  readonly rpcCalls = new Counter({
    name: 'meshbridge_rpc_calls_total',
    help: 'Server-to-server calls made through this node, by outcome',
    labelNames: ['outcome'],
    registers: [this.registry],
  });
  readonly serverMessages = new Counter({
    name: 'meshbridge_server_messages_total',
    help: 'Server-to-server messages delivered to servers linked here',
    registers: [this.registry],
  });
  readonly syncBytes = new Counter({
    name: 'meshbridge_sync_bytes_total',
    help: 'World chunk bytes uploaded by servers (in) and fetched by them (out) through this node',
    labelNames: ['direction'],
    registers: [this.registry],
  });
  readonly syncChunks = new Counter({
    name: 'meshbridge_sync_chunks_total',
    help: 'Chunk uploads accepted: new bytes stored, or bytes the store already held (deduplicated)',
    labelNames: ['outcome'],
    registers: [this.registry],
  });
  readonly syncManifests = new Counter({
    name: 'meshbridge_sync_manifests_total',
    help: 'sync:manifest messages sent to servers of this node',
    labelNames: ['full'],
    registers: [this.registry],
  });
  readonly listingPosts = new Counter({
    name: 'meshbridge_listing_posts_total',
    help: 'Public listing posts by this node while it led',
    labelNames: ['outcome'],
    registers: [this.registry],
  });
  readonly chatPosted = new Counter({
    name: 'meshbridge_chat_posted_total',
    help: 'Chat messages posted through this node, by players or servers',
    labelNames: ['by'],
    registers: [this.registry],
  });
  readonly chatHeard = new Counter({
    name: 'meshbridge_chat_heard_total',
    help: 'Chat messages and notices this node received from Redis (only for channels it has members of)',
    registers: [this.registry],
  });
  readonly chatDelivered = new Counter({
    name: 'meshbridge_chat_delivered_total',
    help: 'Chat messages sent to this node\'s clients',
    registers: [this.registry],
  });
  readonly slowClients = new Counter({
    name: 'meshbridge_slow_clients_total',
    help: 'Clients found over clientBufferBytes (state coalesced for them)',
    registers: [this.registry],
  });
  readonly slowClientsNow = new Gauge({ name: 'meshbridge_slow_clients', help: 'Clients slow right now', registers: [this.registry] });
  readonly stateCoalesced = new Counter({
    name: 'meshbridge_state_coalesced_total',
    help: 'State items held as the latest for a slow client instead of sent',
    registers: [this.registry],
  });
  readonly clients = new Gauge({ name: 'meshbridge_clients', help: 'Clients connected to this node', registers: [this.registry] });
  readonly servers = new Gauge({ name: 'meshbridge_servers', help: 'Game servers linked to this node', registers: [this.registry] });

  /** Children bound once: labelled inc() on the per-item path would hash the labels every time. */
  readonly stateItemsByKind = {
    area: this.stateItems.labels('area'),
    player: this.stateItems.labels('player'),
    all: this.stateItems.labels('all'),
  };

  /** This node's running totals the dashboard turns into rates (its heartbeat reports them, summed mesh-wide). */
  async totals(): Promise<NodeTotals> {
    const sum = async (c: { get(): Promise<{ values: { value: number }[] }> }) => (await c.get()).values.reduce((s, v) => s + v.value, 0);
    return {
      inputs: await sum(this.inputsRouted),
      state: await sum(this.stateItems),
      handoffs: await sum(this.handoffs),
      errors: await sum(this.errors),
      drops: (await sum(this.inputsDropped)) + (await sum(this.stateDropped)),
    };
  }

  constructor(nodeId: string) {
    this.registry.setDefaultLabels({ node: nodeId });
    collectDefaultMetrics({ register: this.registry });
  }
}
