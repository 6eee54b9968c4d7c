  # An indented comment before anything.
# Another one.

FROM alpine:3.20 \
    # the image above is tiny
    AS base
LABEL org.opencontainers.image.base.name="alpine:3.20" \
      org.opencontainers.image.base.digest="sha256:00000000000000000000000000000000000000000000000000000000000000d0"
    # indented comment between instructions
RUN apk add --no-cache \
        # tools for debugging
        curl \
        # and for scripts
        jq
#RUN this is commented out
FROM base
