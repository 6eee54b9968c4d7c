FROM alpine:3.20@sha256:00000000000000000000000000000000000000000000000000000000000000d0
LABEL org.opencontainers.image.title="tool" \
  # the vendor is us
  org.opencontainers.image.vendor="Acme" \
  \
  org.opencontainers.image.version="1.0"
