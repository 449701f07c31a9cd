# Zombi: a Kafka-compatible event store on RocksDB with an S3 cold tier.
#   docker build -t zombi .
#   docker run -p 8080:8080 -p 9092:9092 -v zombi-data:/var/lib/zombi zombi

# --- build: Go + the RocksDB headers and libraries grocksdb links against ---
FROM golang:1.26-bookworm AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends librocksdb-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod go mod download
COPY . .
RUN --mount=type=cache,target=/go/pkg/mod --mount=type=cache,target=/root/.cache/go-build \
    CGO_ENABLED=1 go build -trimpath -ldflags "-s -w" -o /out/zombi ./cmd/zombi

# --- runtime: the RocksDB shared library (it brings snappy, lz4, zstd, zlib, bz2) ---
FROM debian:bookworm-slim
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
ENTRYPOINT ["/usr/local/bin/zombi"]
