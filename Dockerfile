# The flow image (Prefect Docker work pool): the product only (no local/ stand-ins, no demo
# dependencies), its rubrics and the schema. Runs as an unprivileged user; the journal of paid
# responses (JOURNAL_DIR) is a mount point for a volume that outlives the container (the job
# template in prefect.yaml mounts the named volume `sales-coach-journal` there).
FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 \
    RUBRICS_DIR=/opt/sales-coach/rubrics JOURNAL_DIR=/var/lib/sales-coach/journal
WORKDIR /opt/sales-coach
# The same first layers as Dockerfile.http: built once, shared by both images.
COPY pyproject.toml ./
COPY common ./common
COPY flows ./flows
COPY functions ./functions
RUN pip install . \
    && useradd --system --uid 10001 --home-dir /var/lib/sales-coach --create-home coach \
    && mkdir -p /var/lib/sales-coach/journal && chown -R coach /var/lib/sales-coach
COPY rubrics ./rubrics
COPY schema.sql prefect.yaml ./
USER 10001
CMD ["prefect", "worker", "start", "--pool", "sales-coach-docker"]
