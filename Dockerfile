# The flow image (Prefect Docker work pool): the product only (no local/ stand-ins, no demo
# dependencies), its rubrics and the schema.
FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 \
    RUBRICS_DIR=/opt/sales-coach/rubrics
WORKDIR /opt/sales-coach
COPY pyproject.toml README.md ./
COPY common ./common
COPY flows ./flows
COPY functions ./functions
COPY rubrics ./rubrics
COPY schema.sql prefect.yaml ./
RUN pip install .
CMD ["prefect", "worker", "start", "--pool", "sales-coach-docker"]
