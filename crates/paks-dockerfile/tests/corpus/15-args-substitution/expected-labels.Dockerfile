ARG REGISTRY=ghcr.io/acme
ARG BASE_TAG
ARG DEBIAN_RELEASE="bookworm"
ARG FULL=${REGISTRY}/base:${DEBIAN_RELEASE}
ARG SUFFIX=${BASE_TAG:+-$BASE_TAG}
FROM ${REGISTRY}/builder:1.4${SUFFIX} AS builder
LABEL org.opencontainers.image.base.name="ghcr.io/acme/builder:1.4" \
      org.opencontainers.image.base.digest="sha256:00000000000000000000000000000000000000000000000000000000000000d0"
FROM $FULL AS full
LABEL org.opencontainers.image.base.name="ghcr.io/acme/base:bookworm" \
      org.opencontainers.image.base.digest="sha256:00000000000000000000000000000000000000000000000000000000000000d1"
FROM debian:${BASE_TAG:-${DEBIAN_RELEASE}}-slim
LABEL org.opencontainers.image.base.name="debian:bookworm-slim" \
      org.opencontainers.image.base.digest="sha256:00000000000000000000000000000000000000000000000000000000000000d2"
FROM debian:${BASE_TAG}
FROM alpine:${ALPINE_VERSION:-3.20}
LABEL org.opencontainers.image.base.name="alpine:3.20" \
      org.opencontainers.image.base.digest="sha256:00000000000000000000000000000000000000000000000000000000000000d4"
FROM "quay.io/acme/tool:2.0"
LABEL org.opencontainers.image.base.name="quay.io/acme/tool:2.0" \
      org.opencontainers.image.base.digest="sha256:00000000000000000000000000000000000000000000000000000000000000d5"
