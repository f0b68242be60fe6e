// The parts of bridge/bus/ that the composition root builds (see ./README.md for what each owns).
export { MeshRpc } from './mesh-rpc.js';
export { NodeBus } from './node-bus.js';
export { Subscriber } from './subscriber.js';
