FROM alpine:3.20@sha256:0a4eaa0eecf5f8c050e5bba433f58c052be7587ee8af3e8b3910ef9ab5fbe9f5 AS pinned
LABEL org.opencontainers.image.base.name="alpine:3.20" \
      org.opencontainers.image.base.digest="sha256:0a4eaa0eecf5f8c050e5bba433f58c052be7587ee8af3e8b3910ef9ab5fbe9f5"
FROM docker.io/library/debian@sha256:1111111111111111111111111111111111111111111111111111111111111111
LABEL org.opencontainers.image.base.name="docker.io/library/debian" \
      org.opencontainers.image.base.digest="sha256:1111111111111111111111111111111111111111111111111111111111111111"
FROM pinned
