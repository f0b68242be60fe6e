// Command-line entry: `npm run bridge` (configuration from MESHBRIDGE_* and MESHBRIDGE_CONFIG).
import { BridgeConfigSchema, ConfigError, envName, loadBridgeConfig } from '../shared/config.js';
import { BridgeNode } from './bridge-node.js';
import { FaultBudget } from './ops/index.js';

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
const stop = (code: number) => node.close().then(() => process.exit(code), () => process.exit(1));
for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => void stop(0));
// An exception nothing caught costs what it was doing, not the sessions of every player here: logged, counted,
// served on. Many in a row mean the process itself is broken: it closes as on SIGTERM (clients resume on other
// nodes within the grace) and exits 70 (EX_SOFTWARE) for its supervisor to restart it. docs/operations.md "Faults".
const budget = new FaultBudget();
let giving = false;
const onFault = (err: unknown) => {
  node.reportFault(err);
  if (!budget.spend(Date.now()) || giving) return;
  giving = true;
  process.stderr.write('meshbridge: too many unexpected faults within a minute; closing for a restart\n');
  void stop(70);
};
process.on('uncaughtException', onFault);
process.on('unhandledRejection', onFault);
await node.start();
