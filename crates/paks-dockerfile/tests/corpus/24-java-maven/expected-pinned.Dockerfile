FROM maven:3.9-eclipse-temurin-21@sha256:00000000000000000000000000000000000000000000000000000000000000d0 AS build
WORKDIR /workspace
COPY pom.xml .
RUN mvn -B -q dependency:go-offline
COPY src src
RUN mvn -B -q package -DskipTests

FROM eclipse-temurin:21-jre-jammy@sha256:00000000000000000000000000000000000000000000000000000000000000d1
ARG JAR=/workspace/target/app.jar
COPY --from=build ${JAR} /app.jar
LABEL org.opencontainers.image.base.name="docker.io/library/eclipse-temurin:21-jre-jammy"
ENTRYPOINT ["java", "-jar", "/app.jar"]
