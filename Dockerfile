# WhoWhyWhen image: the dashboard UI is built with Node, the server installed from the lock.
FROM node:20-bookworm-slim AS ui
WORKDIR /build
COPY frontend/package.json frontend/package-lock.json frontend/
RUN cd frontend && npm ci --no-audit --no-fund
COPY frontend frontend
COPY src/whowhywhen src/whowhywhen
RUN cd frontend && npm run build

FROM python:3.11-slim-bookworm
ENV PYTHONUNBUFFERED=1 UV_PYTHON_DOWNLOADS=never UV_PROJECT_ENVIRONMENT=/opt/venv \
    PATH=/opt/venv/bin:$PATH WHOWHYWHEN_DATA_DIR=/data
RUN pip install --no-cache-dir 'uv>=0.13,<0.14' \
    && useradd --system --home /data --uid 10001 whowhywhen \
    && mkdir /data && chown whowhywhen /data
WORKDIR /app
COPY pyproject.toml uv.lock README.md ./
RUN uv sync --frozen --no-dev --extra celery --no-install-project
COPY src src
COPY --from=ui /build/src/whowhywhen/static src/whowhywhen/static
RUN uv sync --frozen --no-dev --extra celery --no-editable
USER whowhywhen
VOLUME /data
EXPOSE 8000 8001
CMD ["whowhywhen", "serve", "--host", "0.0.0.0"]
