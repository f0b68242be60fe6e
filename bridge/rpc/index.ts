// The parts of bridge/rpc/ that the composition root builds (see ./README.md for what each owns).
export { ServerRpc } from './server-rpc.js';
