// The `graft` commands as `graft --help` and `graft CMD --help` show them: name, summary and usage
// text, and the module that runs each. Nothing here loads libtorch or the library: a command's
// module (and with it the native addon) is imported only when the command runs, so help, usage
// and `--version` answer in a fraction of a second.
import { SET_HELP } from './_args.ts';

export interface Command {
  name: string;
  summary: string;
  usage: string;
  /** The command's implementation, imported on first use (it loads libtorch). */
  load(): Promise<{ run(args: string[]): Promise<number> | number }>;
}

export const TRAIN_USAGE = `usage: graft train RECIPE [--set KEY=VALUE ...] [--out DIR] [--overwrite] [--quiet] [--json]
       graft train --resume RUN_DIR [--set KEY=VALUE ...]
       graft train RECIPE --nproc N [--nnodes M --node-rank R --master HOST:PORT] [--dist-timeout S]

Trains the model a YAML recipe describes (see docs/recipes.md) and writes the run folder:
recipe.yaml, metrics.jsonl, checkpoints/{last,best}.pth, report.html, model.safetensors and
config.json. Progress goes to stderr: a bar on a terminal, plain lines otherwise.

${SET_HELP}
  --out DIR          the run folder (default: the recipe's output.dir, else runs/<name>); a
                     folder that already holds a run is refused unless --resume or --overwrite
  --overwrite        replace the run in the run folder (its files go once the new run starts)
  --resume RUN_DIR   continue RUN_DIR from checkpoints/last.pth: the same model, optimizer,
                     scheduler, phase, epoch, step and data order (same recipe and seed); without
                     RECIPE the run's own recipe (recipe.yaml, else the checkpoint's copy) is used.
                     Only some fields may change on resume (the last phase's epochs, logging,
                     checkpoint cadence, threads, ...; docs/reliability.md); others are refused
  --quiet            no progress output
  --json             print the result (metrics, best epoch, files) as JSON
  --nproc N          train on N processes of this machine (data parallel: each takes 1/N of every
                     batch, gradients are averaged; the recipe's batchSize is per process). Each
                     output line starts with its rank: [0] ...; rank 0 writes the run folder. One
                     process dying stops the others and the command exits non-zero naming it
  --nnodes M         machines taking part (run the same command on each, with its --node-rank R
                     and the same --master HOST:PORT: node 0's address and a free port)
  --dist-timeout S   seconds a process waits for the others before failing (default 60)
Workers started by torchrun or srun (RANK, WORLD_SIZE, MASTER_ADDR, MASTER_PORT set) train as one
rank each, without --nproc (docs/distributed.md).

Ctrl-C (SIGINT), SIGTERM and SIGHUP stop at the next step and write a checkpoint; resume with
--resume RUN_DIR. A second Ctrl-C quits at once (the checkpoints on disk stay whole). One run at a
time per run folder: a second train or resume into a running one is refused.

Exit codes: 0 trained (or stopped early by early stopping), 1 bad recipe, data or checkpoint, a
failed run (a NaN loss names the step and the last good checkpoint) or a run folder in use, 2 usage,
130 interrupted by SIGINT, 143 by SIGTERM or SIGHUP. With --nproc: the exit code of the first worker
that failed (128 + the signal for a killed one).

example: graft train recipes/003_head_then_all.yaml --set optimizer.lr=0.0005 --set phases[1].epochs=3`;

export const PLAN_USAGE = `usage: graft plan RECIPE [--set KEY=VALUE ...] [--json] [--params] [--width N] [--steps-per-epoch N] [--nproc N]

Before any compute (no weights are loaded, no batch of data is run; one zero image goes through the
model to check its shapes): the data (classes, split sizes, steps per epoch), the pretrained load
report previewed from checkpoint headers, the parameter
groups, a table per phase of every top-level module and layer group (parameters, trainable or
frozen, group, learning rate, BatchNorm mode), the lr of every group at the start of every epoch
and an ASCII chart of the schedule: "print requires_grad to check the idea was implemented", as a command.

${SET_HELP}
  --json               the plan as JSON (recipe, data, load report, phases, lrs)
  --params             also list every parameter with its group and trainable flag per phase
  --width N            chart width in columns (default 64)
  --steps-per-epoch N  when the data cannot be read here (per-step schedules need it)
  --nproc N            plan for N data-parallel processes: each takes 1/N of an epoch, the
                       effective batch is N x the recipe's batch

Exit codes: 0 ok; 1 a run that would fail before it trains: a bad recipe, data that cannot be read,
a pretrained load that would fail, a phase in which nothing trains (the message says why); 2 usage.`;

export const LR_FIND_USAGE = `usage: graft lr-find RECIPE [--phase N] [--start LR] [--end LR] [--steps N] [--suggest METHODS]
                     [--set KEY=VALUE ...] [--out DIR] [--from RUN] [--same-lr] [--no-stop-div]
                     [--ascii] [--width N] [--json] [--quiet]

The learning-rate range test (fastai's lr_find): a short training run on the recipe's model and data
whose learning rate grows exponentially from --start to --end over --steps optimizer steps,
stopped when the smoothed loss passes 4 x its best; the weights, BatchNorm statistics and freeze
state are put back afterwards. Each phase is swept as the run would start it: its freeze, its
optimizer, and the parameter groups' learning rates in the ratios the recipe gives them (a
backbone at 0.1 x the head stays at 0.1 x; the sweep moves them together and the suggestion is
the largest group's lr). Prints a chart per phase with the suggestion marked and writes
lr_find.json and lr_find.html to the run folder (next to report.html; nothing else is written).

${SET_HELP}
  --phase N          sweep only phase N (0-based; default: every phase)
  --start LR         the first learning rate (default 1e-7)
  --end LR           the last (default 10)
  --steps N          optimizer steps of the sweep (default 100, at least 6)
  --suggest METHODS  comma-separated, the first is the suggestion: valley (default: the point 2/3
                     down the longest descent), steep (the steepest descent), minimum (a tenth of
                     the lr at the lowest loss), slide (fastai's interval slide rule), lightning
                     (Lightning's Tuner: the steepest gradient)
  --same-lr          every group at the same lr, as fastai's lr_find does
  --no-stop-div      run all the steps even when the loss diverges
  --out DIR          where lr_find.json and lr_find.html go (default: the recipe's run folder)
  --from RUN         start from a trained run's weights (RUN/checkpoints/last.pth, or a .pth
                     checkpoint) instead of the recipe's initial ones: e.g. sweep the unfrozen
                     phase after training the head (graft train, then --phase 1 --from RUN)
  --ascii            the chart in plain ASCII
  --width N          chart width in columns (default 64)
  --json             print the sweeps (lrs, losses, suggestions) as JSON instead of charts
  --quiet            no progress lines

Exit codes: 0 swept (a sweep too short to read prints why, with no suggestion), 1 a bad recipe or
data, 2 usage.

example: graft lr-find recipes/003_head_then_all.yaml --set data.subset.train=2048 --steps 80`;

export const EVAL_USAGE = `usage: graft eval RUN_DIR [--split val|test|train] [--weights model|best|last|int8] [--limit N] [--fold-batchnorm] [--json]
       graft eval RUN_DIR --quantize dynamic|static [--calibration N] [--split ...] [--limit N] [--json]
       graft eval RECIPE [--set KEY=VALUE ...] [--split ...] [--limit N] [--json]

RUN_DIR (a folder graft train wrote): the trained model (model.safetensors + config.json, or a
checkpoint with --weights) on a split of the data in its recipe.yaml.
RECIPE: the model as the recipe builds it, before any training (its pretrained weights): the
baseline a run should beat.

Prints loss, accuracy, top-5 accuracy, macro-F1 and the accuracy of every class.
  --split S        val (default), test or train
  --weights W      model (the exported weights, default), best or last (checkpoints/W.pth), or
                   int8 (model.int8.safetensors, written by a recipe's quantize section); a
                   checkpoint evaluates in the form it was taken in (pruning masks at full width,
                   a QAT run's fake-quantized form with its observers off)
  --quantize M     compare the model with its int8 version (dynamic: Linear layers; static: convs
                   too, calibrated on training batches): size, accuracy, loss, latency
  --calibration N  static: calibration batches (default 8)
  --limit N        evaluate N samples of the split (seeded pick)
  --fold-batchnorm
                   fold each BatchNorm into the convolution before it (faster; the same metrics
                   up to float rounding)
${SET_HELP}
  --json           the metrics as JSON

Exit codes: 0 ok, 1 bad run folder, recipe or data, 2 usage.`;

export const PREDICT_USAGE = `usage: graft predict RUN_DIR INPUTS... [--top-k K] [--out FILE.csv] [--json] [--fold-batchnorm]

Rebuilds the model of a run folder from config.json + model.safetensors and gives the top-k
classes with their names and probabilities for each input. Images are preprocessed as
config.json records (the run's evaluation transforms: resize, crop, grayscale, normalize).

INPUTS for an image model: image files, folders (their image files, sub-folders included:
.jpg .jpeg .png .ppm .bmp .pgm .tif .tiff .webp) and quoted globs ('photos/*.jpg', 'shots/**/*.png').
For a text model each input is a text, or a file whose lines are texts. For a causal language model
(a run of task causal-lm, or a Hugging Face model directory) each input is a prompt it continues, as
graft generate does with its defaults (greedy, 50 new tokens). An image that cannot be read among
several is skipped and named (an error column in --out files); the others are still predicted.

  --top-k K               classes per input (default 5)
  --out FILE              write the predictions to FILE: .csv (path, then label and probability
                          of each of the top k) or .json; prints only a summary
  --json                  print the predictions as JSON
  --max-image-pixels N    refuse larger images before decoding (default 178956970, as PIL)
  --fold-batchnorm        fold each BatchNorm into the convolution before it (faster; the same
                          predictions up to float rounding)

Exit codes: 0 ok, 1 bad run folder or an unreadable input (the others predicted), 2 usage.`;

export const GENERATE_USAGE = `usage: graft generate RUN_OR_DIR --prompt TEXT [--prompt TEXT ...] [options]

Continues each prompt with a causal language model: a run folder of graft train (config.json +
model.safetensors + tokenizer.json) or a Hugging Face model directory (config.json + safetensors +
tokenizer.json: Llama, Mistral, Qwen2, GPT-2). Prints prompt + completion per prompt. Decoding is
greedy unless a sampling flag is given; generation stops at the tokenizer's / config's end-of-sequence
token, a --stop text, or --max-new-tokens. Several prompts run as one left-padded batch.

  --prompt TEXT              a prompt (repeatable)
  --max-new-tokens N         tokens to add per prompt (default 50)
  --temperature T            sample, dividing the logits by T (> 0)
  --top-k K                  sample among the K most likely tokens
  --top-p P                  sample among the most likely tokens whose probabilities add up to P
  --seed S                   sample with libtorch's generator seeded with S (repeatable output)
  --repetition-penalty R     divide the scores of tokens already present by R (1.2 is common)
  --greedy                   greedy decoding even with sampling flags
  --stop TEXT                stop a prompt once its completion ends with TEXT's tokens (repeatable)
  --no-cache                 recompute every position at every step (slower; same tokens)
  --dtype D                  float32 (default), bfloat16 or float16 weights
  --json                     print [{prompt, completion, tokens}] as JSON

Exit codes: 0 ok, 1 bad model folder or tokenizer, 2 usage.

example: graft generate runs/llm --prompt "Once upon a time" --max-new-tokens 40 --top-p 0.9 --seed 1`;

export const REPORT_USAGE = `usage: graft report RUN_DIR [--out FILE] [--title TEXT]

Renders the run's report (charts of loss, accuracy and the learning rate of every step, the epochs,
per-class accuracy, the confusion matrix, the checkpoint load) from RUN_DIR/metrics.jsonl into
RUN_DIR/report.html, and prints its path. Works while the run is going: a run renders its report
when it ends and every 10 minutes on the way.
  --out FILE     write the report there instead
  --title TEXT   the page title

Exit codes: 0 ok, 1 not a run folder, an unreadable metrics.jsonl or a failed write, 2 usage.`;

export const BOARD_USAGE = `usage: graft board [DIR] [--port N] [--host H [--allow-remote]] [--open] [--poll MS]

Serves a live page over the run folders under DIR (default runs; folders graft train wrote, up to
four levels down): each run's status (running, finished, failed, interrupted), its curves updating
while it trains, two or more runs overlaid on the same charts with their recipes diffed key by key,
and a link to each run's report.html. Read-only; runs until Ctrl-C.
  --port N         the port (default 0: any free one; the URL is printed)
  --host H         the address to serve on (default 127.0.0.1: this machine only)
  --allow-remote   needed for a --host other than a loopback address: anyone who can reach it
                   can read the runs (metrics, recipes, reports); there is no password
  --open           open the page in the desktop's browser
  --poll MS        how often files are checked besides change notifications (default 1000)

Exit codes: 0 stopped with Ctrl-C, 1 DIR missing, the port in use or a non-loopback host
without --allow-remote, 2 usage.

example: graft board runs --port 8080`;

export const INSPECT_USAGE = `usage: graft inspect FILE [--json] [--limit N] [--depth N]
       graft inspect FILE --against MODEL [--num-classes N] [plan options] [--json] [--hide-loaded]

FILE is a .safetensors file, a sharded model.safetensors.index.json, a torch.save .pth/.pt/.bin
(zip or legacy), a TF.js model (model.json, model.min.js or their folder), or a folder holding one.
A Hugging Face model directory (config.json + model.safetensors or shards) prints its architecture,
parameter count, dtypes, weight files and tokenizer files instead (--json: the same as JSON).

Without --against: a tree of what the checkpoint holds (sub-dicts, values, tensors with dtype,
shape and element count; totals). Tensor data is not read for safetensors and zip .pth files.
  --json          flat lists (containers, tensors, values) instead of the tree
  --limit N       show at most N entries per dict or list
  --depth N       summarise containers deeper than N

With --against MODEL (a registry model, e.g. resnet18): the load report a plan would give, from
names and shapes only. Exit code 1 when the load would fail, with the reason.
  --num-classes N       build the model with N classes (a new head)
  --sub-dict PATH       'auto' (default), a dotted path such as model.ema, or '' for the top level
  --include-original P  keep only checkpoint keys, as the file names them, containing P (a glob
                        such as '*.fc.*' matches the whole key, /re/ is a regex); repeatable
  --exclude-original P  drop checkpoint keys, as the file names them, matching P; repeatable
  --from-prefix P       take only keys under P and strip it (e.g. classifier.)
  --strip-prefix P      rename: drop a leading P (e.g. module.); repeatable
  --add-prefix P        rename: prepend P
  --rename RE=REPL      rename: regex -> replacement; repeatable, applied in order
  --include GLOB        keep only keys (model names) matching; repeatable
  --exclude GLOB        drop keys (model names) matching, e.g. fc or '*.num_batches_tracked'; repeatable
  --skip-mismatch       onShapeMismatch 'skip' (default 'error')
  --strict              missing or unexpected keys fail
  --plan FILE.json      a load plan as JSON (flags add to it)
  --hide-loaded         list only the keys that are not loaded (and the counts)

Exit codes: 0 ok, 1 unreadable checkpoint or a plan that would fail, 2 usage.

example: graft inspect resnet18_dp.pth --against resnet18 --num-classes 4 --strip-prefix module. --skip-mismatch`;

export const EXPORT_USAGE = `usage: graft export RUN_DIR --format onnx|safetensors|pth|hf [--quantize int8] [--out PATH] [--json]

Writes the trained model of RUN_DIR (config.json + model.safetensors) for deployment:
  onnx         an ONNX model (opset 17) traced from graft's own forward, batch size dynamic; runs
               in onnxruntime (Node, web, Python). Image models take the recorded input size;
               text models input_ids and attention_mask (BERT also token_type_ids) of any
               length. Class names and preprocessing are stored in the model's metadata
  safetensors  the state dict (PyTorch's names)
  pth          the state dict as torch.save writes it (torch.load / load_state_dict)
  hf           a Hugging Face folder (config.json with transformers' keys, model.safetensors,
               the tokenizer files) for BERT, GPT-2 and Llama-family runs

  --out PATH         the file (the folder for hf); default RUN_DIR/export/model.<ext> (RUN_DIR/export/hf)
  --quantize int8    dynamic int8 Linear layers (onnx, safetensors, pth; conv layers stay float).
                     pth: the run's own int8 model when its recipe quantized it (static, QAT or
                     dynamic: model.int8.safetensors), in PyTorch's quantized layout, which
                     load_state_dict on the matching torch.ao quantized model takes
  --opset N          ONNX opset 13..17 (default 17)
  --fold-batchnorm   fold BatchNorm into the convolution before it (onnx)
  --seq-len N        fix a text model's ONNX sequence length to N tokens (default: dynamic)
  --json             print what was written as JSON

Exit codes: 0 written, 1 not a finished run, a model or op the format cannot hold, a failed write, 2 usage.

example: graft export runs/bert_sst2 --format onnx --out bert.onnx`;

export const INFO_USAGE =
  'usage: graft info [--json]\n\nPrints the libtorch graft is built against, its thread count and CUDA devices.';

export const SETUP_USAGE = `usage: graft setup [--quiet]

Builds graft's native addon against the libtorch it finds: GRAFT_LIBTORCH=/path/to/libtorch, the
libtorch inside an importable Python PyTorch (pip install torch), else Debian's (apt-get install
libtorch-dev libopenblas0-pthread). npm's install step does the same; run this when npm skipped the
step (--ignore-scripts, or your package.json's allowScripts denies graft-tune's install script),
when libtorch came later, or after changing it. Needs a C++17 compiler and Node's headers.

Exit codes: 0 built or up to date, 1 no libtorch or a failed build (it says what to do), 2 usage.`;

export const DOCTOR_USAGE = `usage: graft doctor [--json]

Checks what graft needs: Node's version, the libtorch graft finds (where, version, CUDA or CPU),
whether the native addon is built and loads, and then threads, the BLAS library in use and CUDA
devices. Each failed check says what to do.
  --json    the checks as JSON: {ok, checks: [{name, ok, value, fix}]}

Exit codes: 0 ready (an unsupported Node or a slow BLAS only warn), 1 something to fix, 2 usage.`;

export const commands: readonly Command[] = [
  {
    name: 'train',
    summary: 'train a YAML recipe into a run folder (--resume RUN_DIR continues one)',
    usage: TRAIN_USAGE,
    load: () => import('./train.ts'),
  },
  {
    name: 'plan',
    summary: 'what a recipe will do, before any compute: load preview, phases, lrs per epoch',
    usage: PLAN_USAGE,
    load: () => import('./plan.ts'),
  },
  {
    name: 'lr-find',
    summary: 'the learning-rate range test per phase: a chart and a suggested lr (fastai lr_find)',
    usage: LR_FIND_USAGE,
    load: () => import('./lr_find.ts'),
  },
  {
    name: 'eval',
    summary: 'loss, accuracy, top-5, macro-F1 and per-class accuracy of a run or a recipe on a split',
    usage: EVAL_USAGE,
    load: () => import('./eval.ts'),
  },
  {
    name: 'predict',
    summary: 'top-k classes with names for images (files, folders, globs) or texts, from a run folder',
    usage: PREDICT_USAGE,
    load: () => import('./predict.ts'),
  },
  {
    name: 'generate',
    summary: 'continue prompts with a causal LM (run folder or Hugging Face directory)',
    usage: GENERATE_USAGE,
    load: () => import('./generate.ts'),
  },
  {
    name: 'report',
    summary: "render a run's report.html from its metrics.jsonl (also while it runs)",
    usage: REPORT_USAGE,
    load: () => import('./report.ts'),
  },
  {
    name: 'board',
    summary: 'a live page over run folders: curves while they train, runs compared, recipes diffed',
    usage: BOARD_USAGE,
    load: () => import('./board.ts'),
  },
  {
    name: 'inspect',
    summary: "what a checkpoint holds; --against MODEL previews a load plan's report",
    usage: INSPECT_USAGE,
    load: () => import('./inspect.ts'),
  },
  {
    name: 'export',
    summary: "write a run's model as ONNX, safetensors, .pth or a Hugging Face folder (--quantize int8)",
    usage: EXPORT_USAGE,
    load: () => import('./export.ts'),
  },
  {
    name: 'info',
    summary: 'libtorch version, threads and CUDA devices graft runs on',
    usage: INFO_USAGE,
    load: () => import('./info.ts'),
  },
  {
    name: 'doctor',
    summary: 'check Node, libtorch, the native addon, threads, BLAS and CUDA; says what to fix',
    usage: DOCTOR_USAGE,
    load: () => import('./doctor.ts'),
  },
  {
    name: 'setup',
    summary: 'build the native addon against the libtorch found (when npm skipped its install step)',
    usage: SETUP_USAGE,
    load: () => import('./setup.ts'),
  },
];
