# syntax=docker/dockerfile:1
# membrane: build with the dev toolchain, run with production dependencies only, as a non-root user.

FROM node:20-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json tsconfig.json tsconfig.build.json ./
RUN npm ci --ignore-scripts
COPY src ./src
RUN npm run build

FROM node:20-bookworm-slim AS runtime
ENV NODE_ENV=production
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts && npm cache clean --force
COPY --from=build /app/dist ./dist
COPY schemas ./schemas
COPY mappings ./mappings
# The node image's unprivileged user.
USER node
ENTRYPOINT ["node", "/app/dist/cli/main.js"]
CMD ["doctor"]
