// Small helpers shared by the scenario tests.
import { io, type Socket } from 'socket.io-client';
import type { AuthorityCache } from '../bridge/authority/authority-cache.js';
import type { BridgeNode } from '../bridge/bridge-node.js';
import { expect } from 'chai';
import type { MeshClient } from '../client-sdk/index.js';
import type { JournalEntry } from '../gameserver-stub/reference-server.js';
import type { Mesh } from './harness.js';
import { sleep, waitFor } from '../scripts/redis-process.js';
import { Keys } from '../shared/keys.js';
import type { ErrorPayload, StateItem } from '../shared/protocol.js';

/** How many errors with this code the node has counted. */
export async function errorCount(node: BridgeNode, code: string): Promise<number> {
  const m = await node.testHook.metrics.errors.get();
  return m.values.filter((v) => v.labels.code === code).reduce((sum, v) => sum + v.value, 0);
}

export async function droppedInputs(node: BridgeNode, reason: string): Promise<number> {
  const m = await node.testHook.metrics.inputsDropped.get();
  return m.values.filter((v) => v.labels.reason === reason).reduce((sum, v) => sum + v.value, 0);
}

/** How many batches the node's bus has published. */
export async function busPublishes(node: BridgeNode): Promise<number> {
  return (await node.testHook.metrics.busPublishes.get()).values.reduce((sum, v) => sum + v.value, 0);
}

/** A raw Socket.IO connection, for speaking to the bridge as a misbehaving peer would. */
export function rawSocket(url: string, namespace: string, auth: object): Socket {
  return io(`${url}${namespace}`, { transports: ['websocket'], forceNew: true, reconnection: false, auth });
}

/** Writes one Engine.IO message frame as is (a hand-made Socket.IO packet, or garbage). */
export function sendRaw(socket: Socket, frame: string | Buffer): void {
  (socket.io.engine as unknown as { send(data: string | Buffer): void }).send(frame);
}

/** Resolves with the handshake refusal's code, or 'connected' if it was accepted. */
export function handshakeOutcome(socket: Socket): Promise<string> {
  return new Promise((resolve) => {
    socket.once('connect', () => resolve('connected'));
    socket.once('connect_error', (err: Error & { data?: { code?: string } }) => resolve(err.data?.code ?? err.message));
  });
}

export function nextError(emitter: { once(e: 'error', cb: (e: ErrorPayload) => void): unknown }): Promise<ErrorPayload> {
  return new Promise((resolve) => emitter.once('error', resolve));
}

/** Collects every state item a client receives. */
export function recordState(client: MeshClient): StateItem[] {
  const seen: StateItem[] = [];
  client.on('state', (item) => seen.push(item));
  return seen;
}

export const range = (from: number, to: number): number[] => Array.from({ length: to - from + 1 }, (_, i) => from + i);

/** The seqs of one player in the order the servers applied them, across all servers. */
export const appliedOrder = (journal: JournalEntry[], player: string): number[] =>
  journal.filter((e) => e.player === player).map((e) => e.seq);

/** Waits until every client's inputs are acknowledged, then checks each was applied once, in order, across servers. */
export async function expectEachInputOnceInOrder(journal: JournalEntry[], clients: MeshClient[]): Promise<void> {
  await waitFor(() => clients.every((c) => c.pending === 0), 10_000, 'all inputs acked');
  for (const c of clients) expect(appliedOrder(journal, c.player!), c.player).to.deep.equal(range(1, c.ack));
}

/**
 * Resolves with when (performance.now()) the client first receives its area's state from `server`
 * under the area's current epoch, i.e. from its new owner after a recovery.
 */
export function firstStateFrom(client: MeshClient, cache: Pick<AuthorityCache, 'areas'>, server: string): Promise<number> {
  return new Promise((resolve) => {
    client.on('state', (item: StateItem) => {
      const owner = item.kind === 'area' ? cache.areas.get(item.area) : undefined;
      if (item.kind === 'area' && owner?.server === server && item.epoch === owner.epoch) resolve(performance.now());
    });
  });
}

/** Sets where a player was last (its next join goes there), as if it had played before. */
export async function seedLastArea(mesh: Mesh, player: string, area: string): Promise<void> {
  const redis = await mesh.connect();
  await redis.hset(new Keys('mb', mesh.world).player(player), 'area', area);
  redis.disconnect();
}

/** Sends at 50 inputs/s per client until stopped (at most 10,000 rounds). */
export function steady(clients: MeshClient[]): () => Promise<void> {
  let running = true;
  const loop = (async () => {
    for (let i = 0; running && i < 10_000; i++) {
      for (const c of clients) c.send({ dx: 1 });
      await sleep(20);
    }
  })();
  return async () => {
    running = false;
    await loop;
  };
}
