# A small static image of the server. It has no Postgres of its own: set DATABASE_URL (and
# AUTH_JWT_SECRET) to your database, as with the reference server's image.
#   docker build -t stowage .
#   docker run -p 5000:5000 -e DATABASE_URL=postgres://… -e AUTH_JWT_SECRET=… stowage
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=docker
# CGO off: a fully static binary (image transformations need the cgo/libvips build).
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" -o /out/stowage ./cmd/stowage

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/stowage /stowage
ENV SERVER_HOST=0.0.0.0 SERVER_PORT=5000 STOWAGE_DATA_DIR=/data STORAGE_FILE_BACKEND_PATH=/data/storage
VOLUME ["/data"]
EXPOSE 5000
USER nonroot
ENTRYPOINT ["/stowage"]
CMD ["serve"]
