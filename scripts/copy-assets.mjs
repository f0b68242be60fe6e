// After tsc: copy what the compiled bridge reads at run time (Lua scripts, dashboard page).
import { cpSync } from 'node:fs';

cpSync('bridge/authority/lua', 'dist/bridge/authority/lua', { recursive: true });
cpSync('bridge/ops/dashboard.html', 'dist/bridge/ops/dashboard.html');
