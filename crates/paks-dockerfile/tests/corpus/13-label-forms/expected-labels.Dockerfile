FROM alpine:3.20
LABEL org.opencontainers.image.base.name="alpine:3.20" \
      org.opencontainers.image.base.digest="sha256:00000000000000000000000000000000000000000000000000000000000000d0"
LABEL simple=value
LABEL "quoted key"="quoted value" single='single quoted' escaped="say \"hi\""
LABEL multi.one=1 \
      multi.two="two words" \
      multi.three=three
LABEL maintainer Jane Doe <jane@example.invalid>
LABEL org.opencontainers.image.description="A \
value over two lines"
LABEL empty= after=x
LABEL version=${VERSION} unexpanded=$HOME
LABEL bare\ space=a\ b
