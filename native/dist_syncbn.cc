// SyncBatchNorm's training forward and backward: batch statistics over every rank's samples, as
// torch.nn.SyncBatchNorm computes them. libtorch 1.13 has CPU kernels for none of the ops torch's
// SyncBatchNorm calls (batch_norm_stats, batch_norm_gather_stats_with_counts, batch_norm_elemt,
// batch_norm_backward_reduce, batch_norm_backward_elemt are CUDA only), so the same maths is
// written here with plain ATen ops:
//   forward:  each rank's count, mean and sum of squared deviations are allgathered and combined
//             (Chan's parallel formula, in float64); y = (x - mean) * invstd * weight + bias; the
//             running statistics take the mean and the unbiased variance of the whole batch.
//   backward: sum(dy) and sum(dy * (x - mean)) are allreduced; grad_input uses their global
//             means; grad_weight and grad_bias stay local (DataParallel averages them, as torch).
// Both collectives are waited on the calling thread, bounded by the group's timeout: autograd
// sees an ordinary synchronous function, and a rank that is gone makes it throw, never hang.
#include <torch/csrc/autograd/custom_function.h>

#include "dist.h"

namespace graft {

namespace {

struct GroupHolder : torch::CustomClassHolder {
  std::shared_ptr<DistGroup> group;
  explicit GroupHolder(std::shared_ptr<DistGroup> g) : group(std::move(g)) {}
};

std::vector<int64_t> reduceDims(const at::Tensor& x) {
  std::vector<int64_t> dims{0};
  for (int64_t d = 2; d < x.dim(); d++) dims.push_back(d);
  return dims;
}

// [C] -> [1, C, 1, ...] to broadcast against the input
at::Tensor perChannel(const at::Tensor& v, const at::Tensor& x) {
  std::vector<int64_t> shape(x.dim(), 1);
  shape[1] = v.numel();
  return v.view(shape);
}

std::vector<at::Tensor> allgather(DistGroup& g, const at::Tensor& t) {
  std::vector<at::Tensor> in{t.contiguous()};
  std::vector<std::vector<at::Tensor>> outs(1);
  for (int r = 0; r < g.size; r++) outs[0].push_back(at::empty_like(in[0]));
  c10d::AllgatherOptions o;
  o.timeout = g.timeout;
  g.pg->allgather(outs, in, o)->wait(g.timeout);
  return outs[0];
}

void allreduceSum(DistGroup& g, at::Tensor& t) {
  std::vector<at::Tensor> one{t};
  c10d::AllreduceOptions o;
  o.reduceOp = c10d::ReduceOp::SUM;
  o.timeout = g.timeout;
  g.pg->allreduce(one, o)->wait(g.timeout);
}

struct SyncBatchNormFn : torch::autograd::Function<SyncBatchNormFn> {
  // weight and bias are always tensors (ones / zeros that need no gradient stand in for absent
  // ones: autograd's edge numbering then matches the argument numbering); the running statistics
  // are optional, after them, and never differentiated
  static at::Tensor forward(torch::autograd::AutogradContext* ctx, at::Tensor input, at::Tensor weight,
                            at::Tensor bias, c10::optional<at::Tensor> runningMean,
                            c10::optional<at::Tensor> runningVar, double momentum, double eps,
                            c10::intrusive_ptr<GroupHolder> holder) {
    DistGroup& g = *holder->group;
    const at::Tensor x = input.contiguous();
    const int64_t channels = x.size(1);
    const auto dims = reduceDims(x);
    const int64_t count = channels ? x.numel() / channels : 0;
    auto f64 = x.options().dtype(at::kDouble);
    // this rank's [count, mean (C), sum of squared deviations (C)]
    at::Tensor mean = at::zeros({channels}, f64);
    at::Tensor m2 = at::zeros({channels}, f64);
    if (count > 0) {
      at::Tensor xd = x.to(at::kDouble);
      mean = xd.mean(dims);
      m2 = (xd - perChannel(mean, xd)).square().sum(dims);
    }
    at::Tensor local = at::cat({at::full({1}, static_cast<double>(count), f64), mean, m2});
    at::Tensor all = at::stack(allgather(g, local));  // [world, 1 + 2C]
    at::Tensor counts = all.narrow(1, 0, 1);
    at::Tensor means = all.narrow(1, 1, channels);
    at::Tensor m2s = all.narrow(1, 1 + channels, channels);
    const double total = counts.sum().item<double>();
    TORCH_CHECK(total > 0, "SyncBatchNorm: no rank has a sample in this batch");
    at::Tensor gmean = (means * counts).sum(0) / total;
    at::Tensor gm2 = (m2s + counts * (means - gmean).square()).sum(0);
    at::Tensor invstd = (gm2 / total + eps).rsqrt();
    if (runningMean && runningMean->defined()) {
      at::NoGradGuard noGrad;
      runningMean->mul_(1 - momentum).add_(gmean.to(runningMean->scalar_type()), momentum);
      // unbiased: torch's batch_norm_gather_stats_with_counts; one sample in all gives inf, as there
      at::Tensor unbiased = total > 1 ? gm2 / (total - 1) : at::full_like(gm2, INFINITY);
      runningVar->mul_(1 - momentum).add_(unbiased.to(runningVar->scalar_type()), momentum);
    }
    at::Tensor meanX = gmean.to(x.scalar_type());
    at::Tensor invstdX = invstd.to(x.scalar_type());
    at::Tensor y = (x - perChannel(meanX, x)) * perChannel(invstdX * weight, x) + perChannel(bias, x);
    ctx->save_for_backward({x, weight, meanX, invstdX});
    ctx->saved_data["total"] = total;
    ctx->saved_data["group"] = at::IValue::make_capsule(holder);
    return y;
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grads) {
    auto saved = ctx->get_saved_variables();
    at::Tensor x = saved[0], weight = saved[1], mean = saved[2], invstd = saved[3];
    auto holder = c10::static_intrusive_pointer_cast<GroupHolder>(ctx->saved_data["group"].toCapsule());
    const double total = ctx->saved_data["total"].toDouble();
    at::Tensor dy = grads[0].contiguous();
    const auto dims = reduceDims(x);
    at::Tensor xmu = x - perChannel(mean, x);
    at::Tensor sumDy = dy.sum(dims);
    at::Tensor sumDyXmu = (dy * xmu).sum(dims);
    at::Tensor gradInput, gradWeight, gradBias;
    if (ctx->needs_input_grad(1)) gradWeight = sumDyXmu * invstd;
    if (ctx->needs_input_grad(2)) gradBias = sumDy;
    if (ctx->needs_input_grad(0)) {
      // every rank's sums, in one allreduce (torch's combined sum_dy / sum_dy_xmu)
      const int64_t channels = x.size(1);
      at::Tensor both = at::cat({sumDy, sumDyXmu});
      allreduceSum(*holder->group, both);
      at::Tensor meanDy = both.narrow(0, 0, channels) / total;
      at::Tensor meanDyXmu = both.narrow(0, channels, channels) / total;
      gradInput = (dy - perChannel(meanDy, x) - xmu * perChannel(invstd * invstd * meanDyXmu, x)) *
                  perChannel(invstd * weight, x);
    }
    return {gradInput, gradWeight, gradBias, at::Tensor(), at::Tensor(), at::Tensor(), at::Tensor(), at::Tensor()};
  }
};

at::Tensor optionalTensor(napi_env env, napi_value v) {
  return isNullish(env, v) ? at::Tensor() : tensorOf(env, v);
}

}  // namespace

// distSyncBatchNorm(group, input, weight?, bias?, runningMean?, runningVar?, momentum, eps) -> handle:
// a training-mode batch norm over every rank's batch; blocks the JS thread for the allgather (at
// most the group timeout); its backward allreduces. Every rank must call it at the same point.
static napi_value distSyncBatchNorm(napi_env env, napi_callback_info info) {
  auto a = args(env, info, 8);
  if (a.size() < 8)
    throw JsError{"GRAFT_ARGS", "distSyncBatchNorm(group, input, weight, bias, runningMean, runningVar, momentum, eps)"};
  auto g = distGroupOf(env, a[0]);
  at::Tensor x = tensorOf(env, a[1]);
  at::Tensor weight = optionalTensor(env, a[2]);
  at::Tensor bias = optionalTensor(env, a[3]);
  at::Tensor runningMean = optionalTensor(env, a[4]);
  at::Tensor runningVar = optionalTensor(env, a[5]);
  double momentum = numberOf(env, a[6]);
  double eps = numberOf(env, a[7]);
  if (x.dim() < 2) throw JsError{"GRAFT_SHAPE", "SyncBatchNorm: input needs at least 2 dimensions, got " + describe(x)};
  if (!at::isFloatingType(x.scalar_type()))
    throw JsError{"GRAFT_DTYPE", "SyncBatchNorm: input must be floating point, got " + describe(x)};
  if (runningMean.defined() != runningVar.defined())
    throw JsError{"GRAFT_ARGS", "SyncBatchNorm: runningMean and runningVar go together"};
  const int64_t channels = x.size(1);
  if (!weight.defined()) weight = at::ones({channels}, x.options());
  if (!bias.defined()) bias = at::zeros({channels}, x.options());
  auto holder = c10::make_intrusive<GroupHolder>(g);
  c10::optional<at::Tensor> rm, rv;
  if (runningMean.defined()) rm = runningMean, rv = runningVar;
  at::Tensor y = SyncBatchNormFn::apply(x, weight, bias, rm, rv, momentum, eps, holder);
  return wrap(env, y);
}

void initDistSyncBatchNorm(napi_env env, napi_value exports) {
  defineFn(env, exports, "distSyncBatchNorm", entry<distSyncBatchNorm>);
}

}  // namespace graft
