# agentline: API, call worker and local voice engines in one image.
FROM node:20-bookworm-slim

# The local fallback engines (flite TTS, pocketsphinx STT) and unzip for `models fetch`.
RUN apt-get update \
 && apt-get install -y --no-install-recommends libflite1 libpocketsphinx3 pocketsphinx-en-us unzip ca-certificates \
 && rm -rf /var/lib/apt/lists/*

WORKDIR /app
COPY package.json package-lock.json .npmrc ./
RUN npm ci --omit=dev --no-audit --no-fund
COPY bin ./bin
COPY src ./src
COPY drizzle ./drizzle
COPY data ./data
COPY models ./models
COPY scenarios ./scenarios
COPY tsconfig.json ./

ENV NODE_ENV=production \
    DATA_DIR=/data \
    PORT=8080
VOLUME ["/data"]
EXPOSE 8080
USER node
CMD ["node", "bin/agentline.js", "serve"]
