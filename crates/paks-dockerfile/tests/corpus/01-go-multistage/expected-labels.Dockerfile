# syntax=docker/dockerfile:1.7
ARG GO_VERSION=1.22.5

FROM --platform=$BUILDPLATFORM golang:${GO_VERSION}-bookworm AS build
LABEL org.opencontainers.image.base.name="golang:1.22.5-bookworm" \
      org.opencontainers.image.base.digest="sha256:00000000000000000000000000000000000000000000000000000000000000d0"
WORKDIR /src
ENV CGO_ENABLED=0
# Download modules first so the layer caches.
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod \
    go mod download
COPY . .
ARG TARGETOS TARGETARCH
RUN --mount=type=cache,target=/go/pkg/mod \
    --mount=type=cache,target=/root/.cache/go-build \
    GOOS=$TARGETOS GOARCH=$TARGETARCH go build -trimpath -ldflags="-s -w" -o /out/server ./cmd/server

FROM gcr.io/distroless/static-debian12:nonroot
LABEL org.opencontainers.image.base.name="gcr.io/distroless/static-debian12:nonroot" \
      org.opencontainers.image.base.digest="sha256:00000000000000000000000000000000000000000000000000000000000000d1"
LABEL org.opencontainers.image.source="https://example.invalid/acme/server" \
      org.opencontainers.image.licenses="Apache-2.0"
COPY --from=build /out/server /server
USER nonroot:nonroot
ENTRYPOINT ["/server"]
