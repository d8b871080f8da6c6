# The dataops-otel collector. Install steps are the README's: pip install ".[collector]".
FROM python:3.11-slim
WORKDIR /opt/dataops-otel
COPY pyproject.toml README.md ./
COPY sdk ./sdk
COPY collector ./collector
COPY examples ./examples
RUN pip install --no-cache-dir ".[collector]"
RUN useradd --system --create-home dataops
USER dataops
EXPOSE 4317 4318 8123
ENTRYPOINT ["dataops"]
CMD ["collector", "--listen", "0.0.0.0:4317", "--http-listen", "0.0.0.0:4318"]
