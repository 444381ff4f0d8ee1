# syntax=docker/dockerfile:1
# membrane: build with the dev toolchain, run with production dependencies only, as a non-root user.

FROM node:20-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json tsconfig.json tsconfig.build.json ./
COPY patches ./patches
RUN npm ci --ignore-scripts && npx patch-package
COPY src ./src
RUN npm run build

FROM node:20-bookworm-slim AS runtime
ENV NODE_ENV=production
WORKDIR /app
COPY package.json package-lock.json ./
# patches/: kafkajs's record encoder without per-varint and per-header allocations (README).
COPY patches ./patches
RUN npm ci --omit=dev --ignore-scripts && npx patch-package && npm cache clean --force
COPY --from=build /app/dist ./dist
COPY schemas ./schemas
COPY mappings ./mappings
# The node image's unprivileged user.
USER node
ENTRYPOINT ["node", "/app/dist/cli/main.js"]
CMD ["doctor"]
