ARG PYTHON_VERSION=3.12
ARG VARIANT=slim-bookworm
FROM python:3.12-slim-bookworm@sha256:00000000000000000000000000000000000000000000000000000000000000d0 AS base
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1

FROM base AS builder
ARG POETRY_VERSION=1.8.3
RUN pip install --no-cache-dir "poetry==${POETRY_VERSION}"
WORKDIR /app
COPY pyproject.toml poetry.lock ./
RUN poetry export -f requirements.txt -o requirements.txt --without-hashes

FROM base
WORKDIR /app
COPY --from=builder /app/requirements.txt .
RUN pip install --no-cache-dir -r requirements.txt
COPY src/ ./src/
LABEL maintainer="Platform Team <platform@example.invalid>"
CMD ["python", "-m", "src.main"]
