FROM composer:2@sha256:00000000000000000000000000000000000000000000000000000000000000d0 AS vendor
WORKDIR /app
COPY composer.json composer.lock ./
RUN composer install --no-dev --no-scripts --prefer-dist

FROM php:8.3-apache-bookworm@sha256:00000000000000000000000000000000000000000000000000000000000000d1
RUN docker-php-ext-install pdo_mysql opcache
COPY --from=vendor /app/vendor /var/www/html/vendor
COPY . /var/www/html
LABEL org.opencontainers.image.base.name=docker.io/library/php:8.3-apache-bookworm org.opencontainers.image.base.digest=sha256:3333333333333333333333333333333333333333333333333333333333333333 keep=me
