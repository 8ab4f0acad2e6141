// Serves a model exported with `graft export RUN_DIR --format onnx` over HTTP with onnxruntime-node
// (no graft, no libtorch at serving time):
//
//   node examples/serve_onnx.mjs runs/my_run/export/model.onnx [--labels runs/my_run/config.json] [--port 8080]
//   curl -s localhost:8080/predict -d '{"inputs": {"input": {"dims": [1, 3, 32, 32], "data": [...]}}}'
//
// POST /predict takes {"inputs": {NAME: {"dims": [...], "data": [...]}}} (int64 inputs such as
// input_ids as plain numbers) and answers {"outputs": {NAME: {"dims", "data"}}}, plus "top" (the 5 most
// likely classes per row, with names from config.json's classNames) for a [batch, classes] output.
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { pathToFileURL } from 'node:url';
import ort from 'onnxruntime-node';

function softmaxTop(row, labels, k = 5) {
  const m = Math.max(...row);
  const e = row.map((v) => Math.exp(v - m));
  const s = e.reduce((a, b) => a + b, 0);
  return e
    .map((v, i) => ({ index: i, label: labels?.[i] ?? String(i), prob: v / s }))
    .sort((a, b) => b.prob - a.prob)
    .slice(0, k);
}

function toOrt(session, name, { dims, data }) {
  const meta = session.inputMetadata?.find?.((m) => m.name === name);
  const type = meta?.type ?? (Number.isInteger(data[0]) && name.includes('ids') ? 'int64' : 'float32');
  if (type === 'int64')
    return new ort.Tensor(
      'int64',
      BigInt64Array.from(data, (v) => BigInt(v)),
      dims,
    );
  return new ort.Tensor('float32', Float32Array.from(data), dims);
}

/** An HTTP server (not listening yet) answering POST /predict with the model's outputs. */
export async function createPredictServer(modelPath, { labels } = {}) {
  const session = await ort.InferenceSession.create(modelPath);
  return createServer((req, res) => {
    const send = (code, body) => {
      res.writeHead(code, { 'content-type': 'application/json' });
      res.end(JSON.stringify(body));
    };
    if (req.method !== 'POST' || req.url !== '/predict') return send(404, { error: 'POST /predict' });
    let body = '';
    req.on('data', (c) => {
      body += c;
    });
    req.on('end', async () => {
      try {
        const { inputs } = JSON.parse(body);
        const feeds = {};
        for (const name of session.inputNames) {
          if (!inputs?.[name]) return send(400, { error: `missing input '${name}'`, inputs: session.inputNames });
          feeds[name] = toOrt(session, name, inputs[name]);
        }
        const out = await session.run(feeds);
        const outputs = {};
        for (const [name, t] of Object.entries(out)) outputs[name] = { dims: t.dims, data: Array.from(t.data, Number) };
        const first = out[session.outputNames[0]];
        const reply = { outputs };
        if (first.dims.length === 2) {
          const [n, c] = first.dims;
          reply.top = Array.from({ length: n }, (_, r) =>
            softmaxTop(Array.from(first.data.slice(r * c, (r + 1) * c)), labels),
          );
        }
        send(200, reply);
      } catch (e) {
        send(400, { error: e.message });
      }
    });
  });
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const args = process.argv.slice(2);
  const model = args.find((a) => !a.startsWith('--') && !/^\d+$/.test(a) && !a.endsWith('.json'));
  const opt = (k) => {
    const i = args.indexOf(k);
    return i >= 0 ? args[i + 1] : undefined;
  };
  if (!model) {
    console.error('usage: node examples/serve_onnx.mjs MODEL.onnx [--labels RUN_DIR/config.json] [--port 8080]');
    process.exit(2);
  }
  const labelsFile = opt('--labels');
  const labels = labelsFile ? JSON.parse(readFileSync(labelsFile, 'utf8')).classNames : undefined;
  const server = await createPredictServer(model, { labels });
  const port = Number(opt('--port') ?? 8080);
  server.listen(port, () => console.log(`serving ${model} on http://localhost:${port}/predict`));
}
