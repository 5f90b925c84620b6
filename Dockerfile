# posekit for GPU clusters: CUDA runtime, the package and its offline default weights.
#   docker build -t posekit .
#   docker run --gpus all --user $(id -u):$(id -g) -v $PWD/videos:/data posekit extract /data --out /data/shards --device cuda:0
# It runs as an unprivileged user; --user maps it to yours so it can write to the mounted folder.
FROM nvidia/cuda:12.8.1-cudnn-runtime-ubuntu24.04

ENV DEBIAN_FRONTEND=noninteractive \
    PIP_NO_CACHE_DIR=1 \
    YOLO_OFFLINE=1 \
    PATH=/opt/posekit/bin:$PATH

RUN apt-get update \
    && apt-get install -y --no-install-recommends python3 python3-venv libgl1 libglib2.0-0 \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /src
COPY pyproject.toml README.md ./
COPY src ./src
RUN python3 -m venv /opt/posekit && pip install . && rm -rf /src

RUN useradd --create-home posekit
USER posekit
WORKDIR /home/posekit
ENTRYPOINT ["posekit"]
CMD ["--help"]
