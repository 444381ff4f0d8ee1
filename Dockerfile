# syntax=docker/dockerfile:1
# membrane: build with the dev toolchain, run with production dependencies only, as a non-root user.
# Node 24 is the current LTS (Node 20 reached end of life in April 2026).

FROM node:24-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json tsconfig.json tsconfig.build.json ./
COPY patches ./patches
RUN npm ci --ignore-scripts && npx patch-package
COPY src ./src
RUN npm run build

FROM node:24-bookworm-slim AS runtime
ENV NODE_ENV=production
WORKDIR /app
COPY package.json package-lock.json ./
# patches/: kafkajs's record encoder without per-varint and per-header allocations (README).
COPY patches ./patches
RUN npm ci --omit=dev --ignore-scripts && npx patch-package && npm cache clean --force
COPY --from=build /app/dist ./dist
COPY schemas ./schemas
COPY mappings ./mappings
# The node image's unprivileged user (uid 1000). membrane writes nothing to disk: the root
# filesystem can be mounted read-only.
USER node
EXPOSE 8080
# `membrane run` is alive while /healthz on MEMBRANE_HTTP_PORT answers 200 (it answers once the
# cluster is checked and the topics exist, hence the start period). Node's own fetch: the slim
# image has no curl. One-shot commands (doctor, status…) exit before the first probe.
HEALTHCHECK --interval=15s --timeout=5s --start-period=120s --retries=3 \
  CMD ["node", "-e", "fetch(`http://127.0.0.1:${process.env.MEMBRANE_HTTP_PORT || 8080}/healthz`, { signal: AbortSignal.timeout(4000) }).then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
ENTRYPOINT ["node", "/app/dist/cli/main.js"]
# The image runs membrane by default; `docker run IMAGE doctor` checks the connections instead.
CMD ["run"]
