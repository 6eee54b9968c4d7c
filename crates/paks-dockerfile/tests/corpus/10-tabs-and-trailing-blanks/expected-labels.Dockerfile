FROM	busybox:1.36		AS	box
LABEL org.opencontainers.image.base.name="busybox:1.36" \
      org.opencontainers.image.base.digest="sha256:00000000000000000000000000000000000000000000000000000000000000d0"
RUN echo a \  
	echo b \	
	echo c
	LABEL	tabbed="yes	indeed"
FROM box	
