#!/bin/sh
# The TorchServe image's entry point: render the config template, the very file `make stack`
# renders (torchserve/config.properties), then run TorchServe in the foreground.
#
# envsubst replaces only the variables listed here, so nothing else in the file can be changed
# from the environment; each must be set and non-empty, and no placeholder may be left over.
set -eu

template=/etc/torchserve/config.properties.template
config=/home/model-server/config.properties
variables="TS_BIND_ADDRESS TS_INFERENCE_PORT TS_MANAGEMENT_PORT TS_METRICS_PORT
TS_GRPC_INFERENCE_PORT TS_GRPC_MANAGEMENT_PORT TS_WORKER_PORT TS_MODEL_STORE TS_WORKERS
TS_JVM_HEAP"

shell_format=""
for name in $variables; do
    eval "value=\${$name:-}"
    if [ -z "$value" ]; then
        echo "torchserve: $name must be set and non-empty" >&2
        exit 1
    fi
    shell_format="$shell_format \${$name}"
done

envsubst "$shell_format" <"$template" >"$config"
# shellcheck disable=SC2016 # a literal dollar-brace is what is looked for
if grep -nF '${' "$config" >&2; then
    echo "torchserve: $config still holds the placeholders above; refusing to start" >&2
    exit 1
fi

exec torchserve --foreground --ncs --ts-config "$config"
