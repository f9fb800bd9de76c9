# ProjectQA server image. Build: docker build -t projectqa .
# The base is pinned to a patch release and a Debian release, so a rebuild is the same image;
# bump it on purpose (security releases) rather than by whatever "3.11-slim" points at today.
FROM python:3.11.13-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    HF_HUB_OFFLINE=1 \
    PROJECTQA_LISTEN_ADDRESS=0.0.0.0:50051 \
    PROJECTQA_DATA_DIR=/data \
    PROJECTQA_WEBHOOK_ADDRESS=0.0.0.0:8080

# git: the git connector clones and diffs with the git command.
RUN apt-get update && apt-get install -y --no-install-recommends git \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /app
# The CPU build of PyTorch first, so sentence-transformers does not pull the CUDA one.
RUN pip install torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu
# Exactly the folders pyproject's [tool.setuptools] package-dir maps, and what `pip install .`
# reads besides (tests/unit/test_docker.py builds the wheel from these lines).
COPY pyproject.toml README.md ./
COPY protos ./protos
COPY server ./server
COPY clients/python ./clients/python
COPY plugins/builtin ./plugins/builtin
COPY lsp ./lsp
COPY mcp_server ./mcp_server
COPY plugins/api ./plugins/api
RUN pip install . && useradd --system --home /data projectqa && mkdir -p /data \
    && chown projectqa /data

USER projectqa
VOLUME ["/data"]
EXPOSE 50051 8080
HEALTHCHECK --interval=10s --timeout=5s --start-period=10s --retries=3 \
    CMD ["projectqa", "--address", "127.0.0.1:50051", "health"]
CMD ["projectqa", "serve"]
