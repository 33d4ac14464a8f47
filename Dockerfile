# syntax=docker/dockerfile:1
# One image for every vidmesh role: `serve` (coordinator, the default), `encoder` (operator and
# community nodes), `agent` (a user's desktop agent, docs/encoders.md), `migrate`. docs/deploy.md
# has the build and run commands.
#   docker build -t vidmesh .
#   docker run -p 8080:8080 vidmesh                 # coordinator, embedded PGlite in /var/lib/vidmesh
#   docker run vidmesh encoder --coordinator http://coordinator:8080

ARG NODE_IMAGE=node:20-bookworm-slim

# --- build: dev dependencies, TypeScript and the dashboard bundle; then only production modules ---
FROM ${NODE_IMAGE} AS build
WORKDIR /src
COPY package.json package-lock.json ./
# `npm install` rather than `npm ci`: see scripts/setup.sh (npm 11 lock files with per-platform
# optional packages). Install scripts stay off except those package.json's allowScripts names.
RUN npm install --no-audit --no-fund --loglevel=error
COPY tsconfig.json biome.json ./
COPY src ./src
COPY test ./test
COPY bench ./bench
COPY web ./web
COPY drizzle ./drizzle
RUN npm run --silent build \
  && npm prune --omit=dev --no-audit --no-fund \
  && find dist -name '*.map' -delete \
  && find dist -name '*.test.js' -delete

# --- runtime: Debian slim, Debian's ffmpeg, no compiler, no npm cache, non-root ---
FROM ${NODE_IMAGE} AS runtime
RUN apt-get update \
  && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends ffmpeg ca-certificates tini \
  && rm -rf /var/lib/apt/lists/*
# A fixed uid/gid so volumes and Kubernetes securityContext (runAsUser 10001) agree.
RUN groupadd --system --gid 10001 vidmesh \
  && useradd --system --uid 10001 --gid vidmesh --home-dir /var/lib/vidmesh --shell /usr/sbin/nologin vidmesh \
  && install -d -o vidmesh -g vidmesh -m 0700 /var/lib/vidmesh
WORKDIR /opt/vidmesh
COPY --from=build /src/package.json ./
COPY --from=build /src/node_modules ./node_modules
COPY --from=build /src/dist/src ./dist/src
COPY --from=build /src/drizzle ./drizzle
COPY --from=build /src/web/dist ./web/dist
RUN chmod +x dist/src/cli/main.js && ln -s /opt/vidmesh/dist/src/cli/main.js /usr/local/bin/vidmesh
ENV NODE_ENV=production \
  VIDMESH_DATA_DIR=/var/lib/vidmesh \
  HOST=0.0.0.0 \
  PORT=8080 \
  VIDMESH_LOG_FORMAT=json
USER vidmesh:vidmesh
VOLUME ["/var/lib/vidmesh"]
EXPOSE 8080
# Liveness of `serve` (GET /health; plain HTTP: with VIDMESH_TLS_CERT set, override it). Encoder
# containers have no HTTP server unless --metrics-port is given: Compose and Helm set their own check.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:'+(process.env.PORT||8080)+'/health').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
# tini reaps ffmpeg children and forwards SIGTERM, so `vidmesh encoder` drains gracefully.
ENTRYPOINT ["tini", "--", "vidmesh"]
CMD ["serve"]
