# syntax=docker/dockerfile:1
# Multi-stage: build the TypeScript, then a slim runtime with production dependencies only.
FROM node:20-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
# npm ci can reject this lock over an optional native addon not published for every platform
# (npm/cli#9846); npm install honours the lock all the same.
RUN npm ci --no-audit --no-fund || npm install --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY bridge ./bridge
COPY shared ./shared
COPY gameserver-stub ./gameserver-stub
COPY client-sdk ./client-sdk
COPY scripts/copy-assets.mjs ./scripts/copy-assets.mjs
RUN npm run build && npm prune --omit=dev

FROM node:20-bookworm-slim
ENV NODE_ENV=production MESHBRIDGE_PORT=8080
WORKDIR /app
COPY --from=build --chown=node:node /app/package.json ./
COPY --from=build --chown=node:node /app/node_modules ./node_modules
COPY --from=build --chown=node:node /app/dist ./dist
USER node
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 \
  CMD node -e "fetch('http://127.0.0.1:'+(process.env.MESHBRIDGE_PORT||8080)+'/healthz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"
# The same image runs a reference game server: docker run IMAGE node dist/gameserver-stub/main.js --id s1 --url ...
CMD ["node", "dist/bridge/main.js"]
