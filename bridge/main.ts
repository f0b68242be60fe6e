// Command-line entry: `npm run bridge` (configuration from MESHBRIDGE_* and MESHBRIDGE_CONFIG).
import { BridgeConfigSchema, ConfigError, envName, loadBridgeConfig } from '../shared/config.js';
import { BridgeNode } from './bridge-node.js';

if (process.argv.includes('--help') || process.argv.includes('-h')) {
  process.stdout.write(`usage: npm run bridge
A bridge node takes no flags: every setting comes from MESHBRIDGE_* variables or the JSON file named by
MESHBRIDGE_CONFIG (the environment wins). Required: MESHBRIDGE_NETWORK_SECRET, and MESHBRIDGE_JWT_SECRET
or MESHBRIDGE_JWT_PUBLIC_KEY. The README's "Configuration" table lists every setting.
${Object.keys(BridgeConfigSchema.shape).map((k) => `  ${envName(k)}`).join('\n')}
`);
  process.exit(0);
}
const unknownFlag = process.argv.slice(2).find((a) => a.startsWith('-'));
if (unknownFlag) {
  process.stderr.write(`meshbridge: unknown flag ${unknownFlag}: settings come from MESHBRIDGE_* variables (npm run bridge -- --help)\n`);
  process.exit(2);
}
let node: BridgeNode;
try {
  node = new BridgeNode(loadBridgeConfig(process.env, {}, (w) => process.stderr.write(`meshbridge: warning: ${w}\n`)));
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
