"""Fused CPU kernels for the element-wise half of TIM-Net's causal layers.

Written with torch operations, the part of a causal layer that is not a matrix product
(causal shift, batch-norm statistics, normalisation, ReLU, dropout, and their backward)
is about sixteen passes over the activations; on a CPU whose cores are shared, those
passes cost as much as the matrix products. Four loops do the same work here:

1. ``shift_add_stats``: ``y = z_now + shift(z_past)`` and each member's per-channel sums
   of ``y`` and ``y**2`` (double accumulators), one pass over ``z``;
2. ``bn_apply``: ``relu((y - mean) * scale + beta) * mask``, one pass;
3. ``bn_backward_reduce``: the two per-channel sums of the batch-norm backward, one pass;
4. ``bn_backward_apply``: the input gradient, written straight into both kernel taps'
   halves of the matrix product's gradient (shifted back for the past tap), one pass.

They are compiled on first use with the system's C++ compiler
(``torch.utils.cpp_extension.load_inline``, cached under torch's extension folder, so
later processes load the build in a fraction of a second). Where there is no compiler, or
``SKEMOTION_CPU_KERNELS=0``, or the build fails, the same functions run as torch
operations: same results to float rounding, only slower. The first build takes one to two
minutes; a build interrupted half-way leaves a ``lock`` file in its folder under
``~/.cache/torch_extensions`` that makes the next process wait for it: delete the file.

Layout: ``M`` members of ``B`` rows (clips) each, ``T`` frames, ``C`` channels; row ``g``
belongs to member ``g // B``, and only its first ``valid[m]`` rows are real (the others
are padding: zero in ``y`` and in the gradient, left out of the sums).
"""

from __future__ import annotations

import hashlib
import os
import warnings
from functools import cache
from typing import Any

import torch
from torch import Tensor

__all__ = [
    "bn_apply",
    "bn_backward_apply",
    "bn_backward_reduce",
    "compiled_kernels",
    "shift_add_stats",
]

_SOURCE = r"""
#include <torch/extension.h>
#include <ATen/Parallel.h>
#include <cstring>
#include <vector>

namespace {

inline float load(const float* p, int64_t i) { return p[i]; }
inline float load(const at::BFloat16* p, int64_t i) {
  uint32_t bits = static_cast<uint32_t>(reinterpret_cast<const uint16_t*>(p)[i]) << 16;
  float value;
  std::memcpy(&value, &bits, sizeof(value));
  return value;
}
inline void store(float* p, int64_t i, float value) { p[i] = value; }
inline void store(at::BFloat16* p, int64_t i, float value) {
  // Round to nearest even, as torch's float -> bfloat16 conversion.
  uint32_t bits;
  std::memcpy(&bits, &value, sizeof(bits));
  bits += 0x7fffu + ((bits >> 16) & 1u);
  reinterpret_cast<uint16_t*>(p)[i] = static_cast<uint16_t>(bits >> 16);
}

struct Shape {
  int64_t members, rows, frames, channels;
};

Shape shape_of(const torch::Tensor& y, int64_t members) {
  TORCH_CHECK(y.dim() == 3 && y.is_contiguous(), "expected a contiguous (M*B, T, C) tensor");
  TORCH_CHECK(y.size(0) % members == 0, "rows not divisible by members");
  return {members, y.size(0) / members, y.size(1), y.size(2)};
}

// Per-thread partial sums of (members, channels) doubles, reduced at the end.
struct Partials {
  int64_t width;
  std::vector<double> first, second;
  explicit Partials(int64_t width_)
      : width(width_),
        first(static_cast<size_t>(at::get_num_threads() * width_), 0.0),
        second(static_cast<size_t>(at::get_num_threads() * width_), 0.0) {}
  double* a() { return first.data() + at::get_thread_num() * width; }
  double* b() { return second.data() + at::get_thread_num() * width; }
  void reduce(double* out_a, double* out_b) const {
    for (int64_t i = 0; i < width; ++i) { out_a[i] = 0.0; out_b[i] = 0.0; }
    for (size_t start = 0; start < first.size(); start += width) {
      for (int64_t i = 0; i < width; ++i) {
        out_a[i] += first[start + i];
        out_b[i] += second[start + i];
      }
    }
  }
};

template <typename scalar_t>
void shift_add_stats_impl(const torch::Tensor& z, torch::Tensor& y, torch::Tensor& sums,
                          torch::Tensor& squares, const int64_t* valid, int64_t members,
                          int64_t dilation) {
  const Shape s = shape_of(y, members);
  const int64_t C = s.channels, T = s.frames;
  const scalar_t* zp = z.data_ptr<scalar_t>();
  float* yp = y.data_ptr<float>();
  Partials partials(members * C);
  at::parallel_for(0, members * s.rows, 1, [&](int64_t begin, int64_t end) {
    double* sum = partials.a();
    double* square = partials.b();
    for (int64_t g = begin; g < end; ++g) {
      const int64_t m = g / s.rows;
      float* yrow = yp + g * T * C;
      if (g % s.rows >= valid[m]) {
        std::memset(yrow, 0, sizeof(float) * T * C);
        continue;
      }
      const scalar_t* zrow = zp + g * T * 2 * C;
      double* ms = sum + m * C;
      double* mq = square + m * C;
      for (int64_t t = 0; t < T; ++t) {
        const scalar_t* now = zrow + t * 2 * C + C;
        float* yt = yrow + t * C;
        if (t >= dilation) {
          const scalar_t* past = zrow + (t - dilation) * 2 * C;
          for (int64_t c = 0; c < C; ++c) {
            const float v = load(now, c) + load(past, c);
            yt[c] = v;
            ms[c] += v;
            mq[c] += static_cast<double>(v) * v;
          }
        } else {
          for (int64_t c = 0; c < C; ++c) {
            const float v = load(now, c);
            yt[c] = v;
            ms[c] += v;
            mq[c] += static_cast<double>(v) * v;
          }
        }
      }
    }
  });
  partials.reduce(sums.data_ptr<double>(), squares.data_ptr<double>());
}

}  // namespace

std::vector<torch::Tensor> shift_add_stats(torch::Tensor z, torch::Tensor valid,
                                           int64_t members, int64_t dilation) {
  TORCH_CHECK(z.dim() == 3 && z.is_contiguous(), "z must be a contiguous (M*B, T, 2C) tensor");
  const int64_t C = z.size(2) / 2;
  auto y = torch::empty({z.size(0), z.size(1), C}, z.options().dtype(torch::kFloat));
  auto sums = torch::empty({members, C}, z.options().dtype(torch::kDouble));
  auto squares = torch::empty({members, C}, z.options().dtype(torch::kDouble));
  const int64_t* vp = valid.data_ptr<int64_t>();
  if (z.scalar_type() == torch::kBFloat16) {
    shift_add_stats_impl<at::BFloat16>(z, y, sums, squares, vp, members, dilation);
  } else {
    TORCH_CHECK(z.scalar_type() == torch::kFloat, "z must be float32 or bfloat16");
    shift_add_stats_impl<float>(z, y, sums, squares, vp, members, dilation);
  }
  return {y, sums, squares};
}

torch::Tensor bn_apply(torch::Tensor y, torch::Tensor mean, torch::Tensor scale,
                       torch::Tensor beta, c10::optional<torch::Tensor> mask,
                       int64_t members) {
  const Shape s = shape_of(y, members);
  const int64_t C = s.channels, T = s.frames;
  auto out = torch::empty_like(y);
  const float* yp = y.data_ptr<float>();
  float* op = out.data_ptr<float>();
  const float* mp = mean.data_ptr<float>();
  const float* sp = scale.data_ptr<float>();
  const float* bp = beta.data_ptr<float>();
  const float* kp = mask.has_value() ? mask->data_ptr<float>() : nullptr;
  at::parallel_for(0, members * s.rows, 1, [&](int64_t begin, int64_t end) {
    for (int64_t g = begin; g < end; ++g) {
      const int64_t m = g / s.rows;
      const float* mean_m = mp + m * C;
      const float* scale_m = sp + m * C;
      const float* beta_m = bp + m * C;
      const float* keep = kp ? kp + g * C : nullptr;
      for (int64_t t = 0; t < T; ++t) {
        const float* yt = yp + (g * T + t) * C;
        float* ot = op + (g * T + t) * C;
        for (int64_t c = 0; c < C; ++c) {
          float v = beta_m[c] + (yt[c] - mean_m[c]) * scale_m[c];
          v = v > 0.0f ? v : 0.0f;
          ot[c] = keep ? v * keep[c] : v;
        }
      }
    }
  });
  return out;
}

std::vector<torch::Tensor> bn_backward_reduce(torch::Tensor grad_out, torch::Tensor out,
                                              torch::Tensor y, torch::Tensor mean,
                                              c10::optional<torch::Tensor> mask,
                                              torch::Tensor valid, int64_t members) {
  const Shape s = shape_of(y, members);
  const int64_t C = s.channels, T = s.frames;
  const float* gp = grad_out.data_ptr<float>();
  const float* op = out.data_ptr<float>();
  const float* yp = y.data_ptr<float>();
  const float* mp = mean.data_ptr<float>();
  // Without dropout every channel is kept: a row of ones keeps the loops branch-free.
  const std::vector<float> ones(static_cast<size_t>(C), 1.0f);
  const float* kp = mask.has_value() ? mask->data_ptr<float>() : nullptr;
  const int64_t* vp = valid.data_ptr<int64_t>();
  Partials partials(members * C);
  at::parallel_for(0, members * s.rows, 1, [&](int64_t begin, int64_t end) {
    double* sum = partials.a();
    double* cross = partials.b();
    for (int64_t g = begin; g < end; ++g) {
      const int64_t m = g / s.rows;
      if (g % s.rows >= vp[m]) continue;
      const float* __restrict__ mean_m = mp + m * C;
      const float* __restrict__ keep = kp ? kp + g * C : ones.data();
      double* __restrict__ ms = sum + m * C;
      double* __restrict__ mc = cross + m * C;
      for (int64_t t = 0; t < T; ++t) {
        const float* __restrict__ go = gp + (g * T + t) * C;
        const float* __restrict__ ot = op + (g * T + t) * C;
        const float* __restrict__ yt = yp + (g * T + t) * C;
        for (int64_t c = 0; c < C; ++c) {
          // Loaded unconditionally, then selected: a conditional load does not vectorise.
          const float incoming = go[c];
          const float grad = (ot[c] > 0.0f ? incoming : 0.0f) * keep[c];
          ms[c] += grad;
          mc[c] += static_cast<double>(grad) * (yt[c] - mean_m[c]);
        }
      }
    }
  });
  auto sums = torch::empty({members, C}, y.options().dtype(torch::kDouble));
  auto crosses = torch::empty({members, C}, y.options().dtype(torch::kDouble));
  partials.reduce(sums.data_ptr<double>(), crosses.data_ptr<double>());
  return {sums, crosses};
}

namespace {

template <typename out_t>
void bn_backward_apply_impl(const torch::Tensor& grad_out, const torch::Tensor& out,
                            const torch::Tensor& y, const torch::Tensor& mean,
                            const torch::Tensor& scale, const torch::Tensor& slope,
                            const torch::Tensor& offset, const float* kp,
                            const int64_t* vp, torch::Tensor& grad_z, int64_t members,
                            int64_t dilation) {
  const Shape s = shape_of(y, members);
  const int64_t C = s.channels, T = s.frames;
  const float* gp = grad_out.data_ptr<float>();
  const float* op = out.data_ptr<float>();
  const float* yp = y.data_ptr<float>();
  const float* mp = mean.data_ptr<float>();
  const float* sp = scale.data_ptr<float>();
  const float* lp = slope.data_ptr<float>();
  const float* fp = offset.data_ptr<float>();
  out_t* zp = grad_z.data_ptr<out_t>();
  const std::vector<float> ones(static_cast<size_t>(C), 1.0f);
  at::parallel_for(0, members * s.rows, 1, [&](int64_t begin, int64_t end) {
    std::vector<float> row(static_cast<size_t>(T * C));
    for (int64_t g = begin; g < end; ++g) {
      const int64_t m = g / s.rows;
      out_t* zrow = zp + g * T * 2 * C;
      if (g % s.rows >= vp[m]) {
        std::memset(static_cast<void*>(zrow), 0, sizeof(out_t) * T * 2 * C);
        continue;
      }
      const float* __restrict__ mean_m = mp + m * C;
      const float* __restrict__ scale_m = sp + m * C;
      const float* __restrict__ slope_m = lp + m * C;
      const float* __restrict__ offset_m = fp + m * C;
      const float* __restrict__ keep = kp ? kp + g * C : ones.data();
      for (int64_t t = 0; t < T; ++t) {
        const float* __restrict__ go = gp + (g * T + t) * C;
        const float* __restrict__ ot = op + (g * T + t) * C;
        const float* __restrict__ yt = yp + (g * T + t) * C;
        float* __restrict__ rt = row.data() + t * C;
        for (int64_t c = 0; c < C; ++c) {
          const float incoming = go[c];
          const float grad = (ot[c] > 0.0f ? incoming : 0.0f) * keep[c];
          rt[c] = (offset_m[c] + (yt[c] - mean_m[c]) * slope_m[c]) + grad * scale_m[c];
        }
      }
      for (int64_t t = 0; t < T; ++t) {
        out_t* past = zrow + t * 2 * C;
        out_t* now = past + C;
        const float* rt = row.data() + t * C;
        for (int64_t c = 0; c < C; ++c) store(now, c, rt[c]);
        if (t + dilation < T) {
          const float* later = row.data() + (t + dilation) * C;
          for (int64_t c = 0; c < C; ++c) store(past, c, later[c]);
        } else {
          for (int64_t c = 0; c < C; ++c) store(past, c, 0.0f);
        }
      }
    }
  });
}

}  // namespace

torch::Tensor bn_backward_apply(torch::Tensor grad_out, torch::Tensor out, torch::Tensor y,
                                torch::Tensor mean, torch::Tensor scale, torch::Tensor slope,
                                torch::Tensor offset, c10::optional<torch::Tensor> mask,
                                torch::Tensor valid, int64_t members, int64_t dilation,
                                bool bfloat16) {
  const int64_t C = y.size(2);
  auto grad_z = torch::empty({y.size(0), y.size(1), 2 * C},
                             y.options().dtype(bfloat16 ? torch::kBFloat16 : torch::kFloat));
  const float* kp = mask.has_value() ? mask->data_ptr<float>() : nullptr;
  const int64_t* vp = valid.data_ptr<int64_t>();
  if (bfloat16) {
    bn_backward_apply_impl<at::BFloat16>(grad_out, out, y, mean, scale, slope, offset, kp, vp,
                                         grad_z, members, dilation);
  } else {
    bn_backward_apply_impl<float>(grad_out, out, y, mean, scale, slope, offset, kp, vp,
                                  grad_z, members, dilation);
  }
  return grad_z;
}
"""

_FUNCTIONS = ["shift_add_stats", "bn_apply", "bn_backward_reduce", "bn_backward_apply"]


def _cpu_tag() -> str:
    """Short hash of the CPU's instruction-set flags: the build uses ``-march=native``."""
    flags = ""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
            flags = next((line for line in cpuinfo if line.startswith("flags")), "")
    except OSError:
        pass
    return hashlib.sha1(flags.encode()).hexdigest()[:10]


def compiled_kernels() -> Any | None:
    """The compiled extension, or None (no compiler, disabled, or a failed build).

    ``SKEMOTION_CPU_KERNELS=0`` disables it; the torch-operation fallbacks then run.
    The variable is read on every call, so that a benchmark can time both paths in
    one process; the build itself happens once.
    """
    if os.environ.get("SKEMOTION_CPU_KERNELS", "1") == "0":
        return None
    return _built_kernels()


@cache
def _built_kernels() -> Any | None:
    try:
        from torch.utils.cpp_extension import load_inline

        return load_inline(
            name=f"skemotion_timnet_kernels_{_cpu_tag()}",
            cpp_sources=[_SOURCE],
            functions=_FUNCTIONS,
            extra_cflags=["-O3", "-march=native", "-fopenmp"],
            extra_ldflags=["-fopenmp"],
            verbose=False,
        )
    except Exception as exc:  # any build or load failure: fall back, say so once
        warnings.warn(
            f"skemotion's fused CPU kernels could not be built ({type(exc).__name__}: "
            f"{str(exc)[:200]}); using the slower torch-operation path.",
            RuntimeWarning,
            stacklevel=3,  # the caller of compiled_kernels
        )
        return None


# --- torch-operation twins (the fallback, and the reference in the tests) --------------


def _rows(valid: Tensor, members: int, rows: int) -> Tensor:
    """(M * B, 1, 1) float: 1 for the real rows, 0 for padding."""
    real = torch.arange(rows).unsqueeze(0) < valid.unsqueeze(1)
    return real.reshape(members * rows, 1, 1).to(torch.float32)


def shift_add_stats(
    z: Tensor, valid: Tensor, *, members: int, dilation: int
) -> tuple[Tensor, Tensor, Tensor]:
    """``y`` (M*B, T, C) float32 and each member's per-channel sums of ``y`` and ``y**2``.

    ``z`` is the causal layer's matrix product, ``(M*B, T, 2C)`` float32 or bfloat16 (past
    tap first); the sums are float64 ``(M, C)`` over real rows only.
    """
    kernels = compiled_kernels()
    if kernels is not None:
        y, sums, squares = kernels.shift_add_stats(z.contiguous(), valid, members, dilation)
        return y, sums, squares
    from ._functional import _causal_shift_add

    channels = z.shape[-1] // 2
    # In float32, as the compiled kernel adds (torch would add two bfloat16 halves in
    # bfloat16).
    y = _causal_shift_add(
        z.float(), dilation=dilation, out_channels=channels, out_dtype=torch.float32
    )
    rows = z.shape[0] // members
    y.mul_(_rows(valid, members, rows))
    grouped = y.view(members, -1, channels)
    sums = grouped.sum(dim=1).double()
    # Two-pass in float32, the pooled sums rebuilt in float64: padded rows are zeros, each
    # adding mean**2 to the centred squares.
    count = (valid * z.shape[1]).double().unsqueeze(1)
    mean = sums / count.clamp_min(1)
    centred = (grouped - mean.to(y.dtype).unsqueeze(1)).transpose(1, 2)
    centred_squares = torch.linalg.vecdot(centred, centred).double()
    padded = (rows - valid).double().unsqueeze(1) * z.shape[1]
    squares = centred_squares - padded * mean.square() + count * mean.square()
    return y, sums, squares


def bn_apply(
    y: Tensor, mean: Tensor, scale: Tensor, beta: Tensor, mask: Tensor | None, *, members: int
) -> Tensor:
    """``relu((y - mean) * scale + beta) * mask``; statistics ``(M, C)``, mask ``(M*B, C)``."""
    kernels = compiled_kernels()
    if kernels is not None:
        return kernels.bn_apply(y, mean, scale, beta, mask, members)
    shape = (members, 1, 1, y.shape[-1])
    grouped = y.view(members, -1, *y.shape[1:])
    out = torch.addcmul(beta.view(shape), grouped - mean.view(shape), scale.view(shape))
    out.clamp_min_(0)
    out = out.view_as(y)
    if mask is not None:
        out.mul_(mask.unsqueeze(1))
    return out


def _masked_grad(grad_out: Tensor, out: Tensor, mask: Tensor | None) -> Tensor:
    grad = torch.ops.aten.threshold_backward(grad_out, out, 0)
    if mask is not None:
        grad.mul_(mask.unsqueeze(1))
    return grad


def bn_backward_reduce(
    grad_out: Tensor,
    out: Tensor,
    y: Tensor,
    mean: Tensor,
    mask: Tensor | None,
    valid: Tensor,
    *,
    members: int,
) -> tuple[Tensor, Tensor]:
    """Per-member, per-channel ``sum(g)`` and ``sum(g * (y - mean))``, float64, where ``g``
    is the gradient reaching the batch norm's output (through ReLU and dropout)."""
    kernels = compiled_kernels()
    if kernels is not None:
        sums, crosses = kernels.bn_backward_reduce(grad_out, out, y, mean, mask, valid, members)
        return sums, crosses
    grad = _masked_grad(grad_out, out, mask)
    grad.mul_(_rows(valid, members, y.shape[0] // members))
    channels = y.shape[-1]
    grouped = grad.view(members, -1, channels)
    centred = y.view(members, -1, channels) - mean.unsqueeze(1)
    crosses = torch.linalg.vecdot(grouped.transpose(1, 2), centred.transpose(1, 2))
    return grouped.sum(dim=1).double(), crosses.double()


def bn_backward_apply(
    grad_out: Tensor,
    out: Tensor,
    y: Tensor,
    mean: Tensor,
    scale: Tensor,
    slope: Tensor,
    offset: Tensor,
    mask: Tensor | None,
    valid: Tensor,
    *,
    members: int,
    dilation: int,
    dtype: torch.dtype,
) -> Tensor:
    """Gradient of the matrix product ``z`` (M*B, T, 2C) in ``dtype``.

    ``grad_y = offset + (y - mean) * slope + g * scale`` per member and channel, zero on
    padded rows, laid out in both taps' halves (the past tap's shifted back by
    ``dilation``).
    """
    kernels = compiled_kernels()
    if kernels is not None:
        return kernels.bn_backward_apply(
            grad_out,
            out,
            y,
            mean,
            scale,
            slope,
            offset,
            mask,
            valid,
            members,
            dilation,
            dtype == torch.bfloat16,
        )
    from ._functional import _causal_shift_add_backward

    channels = y.shape[-1]
    shape = (members, 1, channels)
    grad = _masked_grad(grad_out, out, mask).view(members, -1, channels)
    grouped = y.view(members, -1, channels)
    grad_y = torch.addcmul(
        offset.view(shape), grouped - mean.view(shape), slope.view(shape)
    ).addcmul_(grad, scale.view(shape))
    grad_y = grad_y.view_as(y).mul_(_rows(valid, members, y.shape[0] // members))
    return _causal_shift_add_backward(grad_y, dilation=dilation, dtype=dtype)
