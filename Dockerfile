# The ipclab harness image for docker-compose.yml: builds ipclab on Debian 12
# with every optional library, then runs the default comparison against the
# compose services (URLs from the environment).
FROM debian:12 AS build
RUN apt-get update && apt-get install -y --no-install-recommends \
      build-essential cmake pkg-config libjansson-dev libcmocka-dev libinih-dev \
      libhiredis-dev librabbitmq-dev libpq-dev libzmq3-dev libuv1-dev librdkafka-dev \
    && rm -rf /var/lib/apt/lists/*
COPY . /src
RUN cmake -S /src -B /build -DCMAKE_BUILD_TYPE=Release -DIPCL_TESTS=OFF \
    && cmake --build /build -j "$(nproc)" && cmake --install /build

FROM debian:12
RUN apt-get update && apt-get install -y --no-install-recommends \
      libjansson4 libhiredis0.14 librabbitmq4 libpq5 libzmq5 libuv1 librdkafka1 gnuplot-nox \
    && rm -rf /var/lib/apt/lists/*
COPY --from=build /usr/local/bin/ipclab /usr/local/bin/ipclab
COPY --from=build /usr/local/share/man/man1/ipclab.1 /usr/local/share/man/man1/ipclab.1
WORKDIR /out
ENTRYPOINT []
CMD ["ipclab", "compare"]
