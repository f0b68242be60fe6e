# syntax=docker/dockerfile:1
# Multi-stage: build the TypeScript, then a slim runtime with production dependencies only.
FROM node:20-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
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
# The health check above is the bridge's: containers running a game server from this image disable
# it or give their own (deploy/docker-compose.yml does).
# The same image runs a reference game server: docker run IMAGE node dist/gameserver-stub/main.js --id s1 --url ...
CMD ["node", "dist/bridge/main.js"]
