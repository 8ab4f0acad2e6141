// The op tracer behind the ONNX exporter: every op a function runs, with its tensors; no trace
// nests; the tracer is gone after the function returns or throws.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { traceModel } from '../../src/export/trace.ts';
import { Linear, Module, ReLU, Sequential } from '../../src/nn/index.ts';
import { randn, type TracedOp, traceOps } from '../../src/tensor/index.ts';

test('traceOps records each op with its tensor handles and results, in order', () => {
  const x = randn([2, 3]);
  const ops: TracedOp[] = [];
  const y = traceOps(
    () => x.relu().add(1).mul(x),
    (op) => ops.push(op),
  );
  assert.deepEqual(
    ops.map((o) => `${o.name}.${o.overload}`),
    ['aten::relu.', 'aten::add.Scalar', 'aten::mul.Tensor'],
  );
  assert.deepEqual(ops[0]!.args[0], { kind: 'tensor', h: x.h });
  assert.deepEqual(ops[1]!.args[1], { kind: 'value', value: 1 });
  assert.equal(ops[2]!.outputs[0], y.h);
  // off again: nothing more is recorded
  x.relu();
  assert.equal(ops.length, 3);
});

test('traces do not nest, and a throwing function leaves no tracer behind', () => {
  assert.throws(
    () =>
      traceOps(
        () =>
          traceOps(
            () => 0,
            () => {},
          ),
        () => {},
      ),
    /already running/,
  );
  let seen = 0;
  assert.throws(() =>
    traceOps(
      () => {
        randn([2]).relu();
        throw new Error('boom');
      },
      () => seen++,
    ),
  );
  randn([2]).relu();
  assert.equal(seen, 2, 'randn and relu inside, nothing after');
});

class Block extends Module {
  readonly body = this.registerModule('body', new Sequential(new Linear(3, 4), new ReLU()));
  forward(x: ReturnType<typeof randn>) {
    return this.body.call(x);
  }
}

test('traceModel names parameters by their state-dict names and ops by the module that ran them', () => {
  const m = new Block();
  const x = randn([2, 3]);
  const t = traceModel(m, [{ name: 'input', tensor: x }], () => m.call(x));
  assert.deepEqual(
    t.nodes.map((n) => [n.op, n.module]),
    [
      ['aten::linear', 'body.0'],
      ['aten::relu', 'body.1'],
    ],
  );
  const params = t.values.filter((v) => v.kind === 'param').map((v) => v.name);
  assert.deepEqual(params, ['body.0.weight', 'body.0.bias']);
  assert.equal(t.outputs[0]!.name, 'output');
  assert.equal(t.values[t.outputs[0]!.v]!.kind, 'dynamic');
});
