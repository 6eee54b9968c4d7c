FROM composer:2 AS vendor
LABEL org.opencontainers.image.base.name="composer:2" \
      org.opencontainers.image.base.digest="sha256:00000000000000000000000000000000000000000000000000000000000000d0"
WORKDIR /app
COPY composer.json composer.lock ./
RUN composer install --no-dev --no-scripts --prefer-dist

FROM php:8.3-apache-bookworm
RUN docker-php-ext-install pdo_mysql opcache
COPY --from=vendor /app/vendor /var/www/html/vendor
COPY . /var/www/html
LABEL org.opencontainers.image.base.name=php:8.3-apache-bookworm org.opencontainers.image.base.digest=sha256:00000000000000000000000000000000000000000000000000000000000000d1 keep=me
