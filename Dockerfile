# Zombi: a Kafka-compatible event store on RocksDB with an S3 cold tier.
#   docker build -t zombi .
#   docker run -p 8080:8080 -p 9092:9092 -v zombi-data:/var/lib/zombi zombi
# Stamp the version (zombi version, the OCI labels) as make build does:
#   docker build --build-arg VERSION=$(git describe --tags --always --dirty) \
#     --build-arg REVISION=$(git rev-parse HEAD) \
#     --build-arg BUILD_DATE=$(date -u +%Y-%m-%dT%H:%M:%SZ) -t zombi .
ARG VERSION=dev
ARG REVISION=unknown
# RFC 3339 (the OCI created label); empty: not stamped.
ARG BUILD_DATE=
# The project has not chosen a licence yet: SPDX's NOASSERTION until it does.
ARG LICENSES=NOASSERTION

# --- build: Go + the RocksDB headers and libraries grocksdb links against ---
FROM golang:1.26-bookworm AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends librocksdb-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod go mod download
COPY . .
ARG VERSION
ARG REVISION
ARG BUILD_DATE
RUN --mount=type=cache,target=/go/pkg/mod --mount=type=cache,target=/root/.cache/go-build \
    CGO_ENABLED=1 go build -trimpath -o /out/zombi \
    -ldflags "-s -w -X github.com/zombi-dev/zombi/cli.Version=${VERSION} -X github.com/zombi-dev/zombi/cli.Commit=${REVISION} -X github.com/zombi-dev/zombi/cli.Date=${BUILD_DATE}" \
    ./cmd/zombi

# --- runtime: the RocksDB shared library (it brings snappy, lz4, zstd, zlib, bz2) ---
FROM debian:bookworm-slim
ARG VERSION
ARG REVISION
ARG BUILD_DATE
ARG LICENSES
LABEL org.opencontainers.image.title="zombi" \
      org.opencontainers.image.description="Kafka-compatible event store: one binary, RocksDB hot tier, S3 cold tier, REST API" \
      org.opencontainers.image.source="https://github.com/zombi-dev/zombi" \
      org.opencontainers.image.url="https://github.com/zombi-dev/zombi" \
      org.opencontainers.image.documentation="https://github.com/zombi-dev/zombi/blob/main/docs/OPERATIONS.md" \
      org.opencontainers.image.licenses="${LICENSES}" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.created="${BUILD_DATE}"
RUN apt-get update \
 && apt-get install -y --no-install-recommends librocksdb7.8 ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 zombi \
 && useradd --system --uid 10001 --gid zombi --home-dir /var/lib/zombi --shell /usr/sbin/nologin zombi \
 && mkdir -p /var/lib/zombi \
 && chown zombi:zombi /var/lib/zombi
COPY --from=build /out/zombi /usr/local/bin/zombi
ENV ZOMBI_DATA_DIR=/var/lib/zombi \
    ZOMBI_HOST=0.0.0.0 \
    ZOMBI_PORT=8080 \
    ZOMBI_KAFKA_PORT=9092
VOLUME /var/lib/zombi
EXPOSE 8080 9092
USER zombi:zombi
# zombi health exits 0 only when GET /health answers healthy. It asks ZOMBI_API
# when set (e.g. https:// with ZOMBI_HTTP_TLS), else this container's HTTP port.
HEALTHCHECK --interval=10s --timeout=5s --start-period=60s --retries=3 \
    CMD ["/bin/sh", "-c", "exec /usr/local/bin/zombi health --timeout 4s --api \"${ZOMBI_API:-http://localhost:${ZOMBI_PORT:-8080}}\""]
ENTRYPOINT ["/usr/local/bin/zombi"]
