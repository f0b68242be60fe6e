// Command-line entry: `npm run bridge` (configuration from MESHBRIDGE_* and MESHBRIDGE_CONFIG).
import { ConfigError, loadBridgeConfig } from '../shared/config.js';
import { BridgeNode } from './bridge-node.js';

let node: BridgeNode;
try {
  node = new BridgeNode(loadBridgeConfig());
} catch (err) {
  if (err instanceof ConfigError) {
    process.stderr.write(`meshbridge: ${err.message}\n`);
    process.exit(2);
  }
  throw err;
}
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    node.close().then(() => process.exit(0), () => process.exit(1));
  });
}
await node.start();
