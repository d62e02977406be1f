# agentline: API, call worker and local voice engines in one image.
FROM node:20-bookworm-slim

# The local fallback engines (flite TTS, pocketsphinx STT) and unzip for `models fetch`.
RUN apt-get update \
 && apt-get install -y --no-install-recommends libflite1 libpocketsphinx3 pocketsphinx-en-us unzip ca-certificates \
 && rm -rf /var/lib/apt/lists/*

WORKDIR /app
COPY package.json package-lock.json .npmrc ./
# onnxruntime-node's install script would otherwise fetch its CUDA provider from api.nuget.org (hundreds
# of MB, and npm ci fails where NuGet is unreachable); Silero and Piper use the CPU build it bundles.
ENV ONNXRUNTIME_NODE_INSTALL=skip
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
# Created before VOLUME, owned by the user the server runs as: a new named volume copies this owner and
# mode, so the server can write its database, recordings and models there (0700: its data alone).
RUN install -d -o node -g node -m 0700 /data
VOLUME ["/data"]
EXPOSE 8080
USER node
# Exec form, node itself: it is PID 1 and gets docker stop's SIGTERM (through `npm start` or a shell
# the signal would stop the wrapper and leave the server running).
CMD ["node", "bin/agentline.js", "serve"]
