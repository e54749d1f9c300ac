# Images of the server. Neither has a Postgres of its own: set DATABASE_URL (and
# AUTH_JWT_SECRET) to your database, as with the reference server's image.
#   docker build -t stowage .                        # static, no image transformations
#   docker build --target vips -t stowage:vips .     # renders /render/image with libvips
#   docker run -p 5000:5000 -e DATABASE_URL=postgres://… -e AUTH_JWT_SECRET=… stowage
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=docker
# CGO off: a fully static binary; /render/image answers FeatureNotEnabled (or uses IMGPROXY_URL).
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" -o /out/stowage ./cmd/stowage
# The libvips build: cgo with gcc only. libvips is not linked but loaded on the first render,
# so no libvips-dev is needed here, and the runtime needs only the library.
RUN CGO_ENABLED=1 go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" -o /out/stowage-vips ./cmd/stowage

FROM debian:bookworm-slim AS vips
RUN apt-get update && apt-get install -y --no-install-recommends libvips42 ca-certificates \
    && rm -rf /var/lib/apt/lists/* && useradd --system --uid 65532 nonroot \
    && mkdir /data && chown nonroot /data
COPY --from=build /out/stowage-vips /stowage
ENV SERVER_HOST=0.0.0.0 SERVER_PORT=5000 STOWAGE_DATA_DIR=/data STORAGE_FILE_BACKEND_PATH=/data/storage
VOLUME ["/data"]
EXPOSE 5000
USER nonroot
ENTRYPOINT ["/stowage"]
CMD ["serve"]

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/stowage /stowage
ENV SERVER_HOST=0.0.0.0 SERVER_PORT=5000 STOWAGE_DATA_DIR=/data STORAGE_FILE_BACKEND_PATH=/data/storage
VOLUME ["/data"]
EXPOSE 5000
USER nonroot
ENTRYPOINT ["/stowage"]
CMD ["serve"]
