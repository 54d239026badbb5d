#!/usr/bin/env bash
# Bad inputs to the CLI: each must give exactly one line on stderr, starting "fovea: error:", and exit code 1.
set -u
fovea=$1
work=$2
rm -rf "$work" && mkdir -p "$work"
failures=0

# Tiny models made with Debian's python3-onnx helper.
model_with_op() {  # $1 = op type
    /usr/bin/python3 - "$1" "$work/$1.onnx" <<'PY'
import sys, onnx
from onnx import helper, TensorProto
op, path = sys.argv[1], sys.argv[2]
x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])
y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])
g = helper.make_graph([helper.make_node(op, ["x"], ["y"], name="the_node")], "g", [x], [y])
onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)]), path)
PY
}

expect_error() {  # $1 = description, $2 = expected text in the message, rest = command
    local what=$1 expect=$2
    shift 2
    "$@" >"$work/out" 2>"$work/err"
    local rc=$? lines
    lines=$(wc -l <"$work/err")
    if [ "$rc" -ne 1 ] || [ "$lines" -ne 1 ] || ! grep -q "^fovea: error: .*$expect" "$work/err"; then
        echo "FAIL: $what: exit $rc, $lines stderr lines, expected '$expect':"
        cat "$work/err"
        failures=$((failures + 1))
    else
        echo "ok: $what: $(cat "$work/err")"
    fi
}

model_with_op Relu
model_with_op NoSuchOp
head -c $(($(stat -c %s "$work/Relu.onnx") - 9)) "$work/Relu.onnx" >"$work/truncated.onnx"
: >"$work/empty.onnx"
head -c 2000 /dev/urandom >"$work/random.onnx"
printf '\x93NUMPY\x01\x00\x46\x00{'"'"'descr'"'"': '"'"'<f4'"'"', '"'"'fortran_order'"'"': True, '"'"'shape'"'"': (1, 4), }            \n' >"$work/fortran.npy"
head -c 40 "$work/fortran.npy" >"$work/truncated.npy"

expect_error "truncated model" "truncated.onnx" "$fovea" inspect "$work/truncated.onnx"
expect_error "empty model" "empty file" "$fovea" inspect "$work/empty.onnx"
expect_error "random-bytes model" "random.onnx" "$fovea" inspect "$work/random.onnx"
expect_error "missing model" "cannot open" "$fovea" inspect "$work/nope.onnx"
expect_error "unknown op" "node 'the_node' (NoSuchOp, opset 13): operator is not supported" "$fovea" inspect "$work/NoSuchOp.onnx"
expect_error "fortran-order npy" "Fortran-order" "$fovea" infer "$work/Relu.onnx" --input "x=$work/fortran.npy" -o "$work/o"
expect_error "truncated npy" "truncated .npy" "$fovea" infer "$work/Relu.onnx" --input "x=$work/truncated.npy" -o "$work/o"
expect_error "unknown backend" "backend 'tpu'" "$fovea" bench "$work/Relu.onnx" --backend tpu
expect_error "bad option" "iterations.*see fovea --help" "$fovea" bench "$work/Relu.onnx" --iterations zero

# Pipeline files: the error names file, line and column.
printf 'models:\n  det: {path: Relu.onnx}\nsources:\n  - {name: a, uri: synthetic, fsp: 3}\n' >"$work/typo.yaml"
printf 'models:\n  det: {path: Relu.onnx, max_batch: -2}\nsources: [{name: a, uri: synthetic}]\n' >"$work/range.yaml"
printf 'models:\n  det: {path: gone.onnx}\nsources: [{name: a, uri: synthetic}]\n' >"$work/gone.yaml"
printf 'models: [\n' >"$work/syntax.yaml"
expect_error "pipeline: unknown key" "typo.yaml:4:31: unknown key 'fsp'" "$fovea" validate "$work/typo.yaml"
expect_error "pipeline: bad value" "range.yaml:2:37: 'max_batch' must be between 1 and 1024 (got -2)" "$fovea" validate "$work/range.yaml"
expect_error "pipeline: missing model" "model 'det': cannot open .*gone.onnx" "$fovea" validate "$work/gone.yaml"
expect_error "pipeline: YAML syntax" "syntax.yaml:2:1: " "$fovea" validate "$work/syntax.yaml"
expect_error "pipeline: missing file" "cannot open the pipeline file" "$fovea" run "$work/nothing.yaml"
printf 'models:\n  det: {path: Relu.onnx}\nsources: [{name: a, uri: synthetic}]\n' >"$work/rank.yaml"
expect_error "pipeline: model without an image input" "model 'det'.*Relu.onnx.*rank 4" "$fovea" run "$work/rank.yaml" --duration 1

echo "$((15 - failures)) passed, $failures failed"
[ "$failures" -eq 0 ]
