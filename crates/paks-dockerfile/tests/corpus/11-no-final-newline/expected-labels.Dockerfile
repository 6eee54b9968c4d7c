FROM alpine:3.20
LABEL org.opencontainers.image.base.name="alpine:3.20" \
      org.opencontainers.image.base.digest="sha256:00000000000000000000000000000000000000000000000000000000000000d0"
RUN echo hi
LABEL last=true