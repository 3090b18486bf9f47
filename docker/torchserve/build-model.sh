#!/usr/bin/env bash
# Build the model archive the TorchServe image serves: the one script its build stage runs,
# and CI runs it too for `digits`.
#
#   docker/torchserve/build-model.sh digits|imagenet OUTPUT_DIR
#
# digits:   train on scikit-learn's digits (about 20 s), refuse below 95 % held-out accuracy,
#           write OUTPUT_DIR/digits.mar.
# imagenet: torchvision's pretrained resnet18 (needs torchvision and the network), write
#           OUTPUT_DIR/imagenet.mar.
#
# Python: $PYTHON if set, else the repository's .venv if there is one, else python3.
set -euo pipefail

usage() {
  echo "usage: $0 digits|imagenet OUTPUT_DIR" >&2
  exit 2
}

[ "$#" -eq 2 ] || usage
case "$1" in
  digits | imagenet) model=$1 ;;
  *) usage ;;
esac
mkdir -p "$2"
output=$(cd "$2" && pwd)
cd "$(dirname "$0")/../.."

python=${PYTHON:-}
if [ -z "$python" ]; then
  if [ -x .venv/bin/python ]; then python=.venv/bin/python; else python=python3; fi
fi

case "$model" in
  digits) "$python" -m torchserve.build --model-store "$output" ;;
  imagenet) "$python" -m torchserve.imagenet --arch resnet18 --output "$output" ;;
esac

test -s "$output/$model.mar"
echo "built $output/$model.mar"
