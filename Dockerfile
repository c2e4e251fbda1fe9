# One image for every edgeguard service; the service is chosen by the command:
#   docker run edgeguard run profiler
FROM node:20-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json turbo.json tsconfig.base.json ./
COPY packages ./packages
COPY services ./services
COPY examples ./examples
RUN npm ci --no-audit --no-fund && npm run build && npm prune --omit=dev

FROM node:20-bookworm-slim
ENV NODE_ENV=production
WORKDIR /app
COPY --from=build /app /app
# The shipper's position file lives here (a volume in docker-compose.yml), writable by node.
RUN mkdir -p /var/lib/edgeguard && chown node:node /var/lib/edgeguard
USER node
EXPOSE 9464 8080
ENTRYPOINT ["node", "/app/packages/cli/bin/edgeguard.js"]
CMD ["--help"]
