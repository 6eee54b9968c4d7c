  # An indented comment before anything.
# Another one.

FROM alpine:3.20@sha256:00000000000000000000000000000000000000000000000000000000000000d0 \
    # the image above is tiny
    AS base
    # indented comment between instructions
RUN apk add --no-cache \
        # tools for debugging
        curl \
        # and for scripts
        jq
#RUN this is commented out
FROM base
