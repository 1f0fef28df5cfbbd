# finbeh-serve as the custom container of an Azure ML managed online deployment
# (docs/deploy-azure.md). Build from the repository root:
#   docker build -t myregistry.azurecr.io/finbeh-serve:0.1.0 .
# Azure ML mounts the registered model and sets AZUREML_MODEL_DIR to it; the server searches that
# directory for a .finbeh artifact, verifies its golden set, and serves /score on port 5001 with
# /health/live and /health/ready for the probes (the environment's inferenceConfig).

# --- build: the serve binary, release profile -----------------------------------------------
FROM rust:1-slim-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked --example serve \
    && cp target/release/examples/serve /usr/local/bin/finbeh-serve

# --- runtime: slim, no toolchain, not root ----------------------------------------------------
FROM debian:bookworm-slim
RUN useradd --system --uid 10001 --no-create-home --shell /usr/sbin/nologin finbeh
COPY --from=build /usr/local/bin/finbeh-serve /usr/local/bin/finbeh-serve
# Listen on every interface inside the container, on the port the environment declares.
ENV FINBEH__SERVE__HOST=0.0.0.0 \
    FINBEH__SERVE__PORT=5001 \
    FINBEH__LOGGING__FORMAT=json
USER 10001
EXPOSE 5001
# No --model: the artifact is found under AZUREML_MODEL_DIR (set by Azure ML, or by `docker run
# -e AZUREML_MODEL_DIR=/models -v "$PWD/out:/models:ro"` locally).
ENTRYPOINT ["/usr/local/bin/finbeh-serve"]
