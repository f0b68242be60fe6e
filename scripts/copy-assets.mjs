// After tsc: copy what the compiled bridge reads at run time (Lua scripts, dashboard page).
import { cpSync } from 'node:fs';

cpSync('bridge/lua', 'dist/bridge/lua', { recursive: true });
cpSync('bridge/dashboard.html', 'dist/bridge/dashboard.html');
