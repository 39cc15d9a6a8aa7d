// One int8 GPT-2 decoding step in a single call, for CPUs.
//
// The Python step of crrg/models/utils/fast_gpt2.py spends ~30 % of an int8
// step at GPT-2 medium's shape outside the GEMMs: ~25 small ATen kernels per
// layer (layer norm, KV cache write, attention over <= 61 slots, GELU,
// residual adds) each cost more in dispatch and cache misses than in work.
// Here the GEMMs stay fbgemm's (the same prepacked per-channel int8 weights
// and dynamic activation quantisation as ``quantized::linear_dynamic`` with
// reduce_range, via LinearPackedParamsBase::apply_dynamic) and the rest is
// written as plain loops the compiler vectorises.
//
// Shapes: ids (B,) int64; cache (layers, 2, rows, heads, slots, head_dim)
// bf16 contiguous, rows >= B, slot 0 = the region's prefix, word position p
// in slot p; table (>= B, slots) int64: the cache row each row's slot is read
// from (the step sets table[r, pos] = r); returns (B, vocab) fp32 logits.
#include <ATen/core/dispatch/Dispatcher.h>
#include <ATen/native/quantized/PackedParams.h>
#include <torch/extension.h>

#include <cmath>
#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#endif
#include <cstdint>
#include <cstring>
#include <optional>
#include <vector>

namespace {

using Packed = c10::intrusive_ptr<LinearPackedParamsBase>;

// AVX-512 / AVX2 / baseline clones of the loops, chosen at load time.
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define CRRG_HOT \
  __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define CRRG_HOT
#endif

Packed prepack(const at::Tensor& qweight, const std::optional<at::Tensor>& bias) {
  static auto op = c10::Dispatcher::singleton()
                       .findSchemaOrThrow("quantized::linear_prepack", "")
                       .typed<Packed(at::Tensor, std::optional<at::Tensor>)>();
  return op.call(qweight, bias);
}

// exp(x) for x <= 88 as 2^n * p(f), x log2(e) = n + f, |f| <= 1/2, with
// Cephes' degree-6 polynomial for 2^f (relative error ~2e-7): plain
// arithmetic, so the loops calling it vectorise.
inline float fast_exp(float x) {
  x = x < -87.f ? -87.f : x;
  const float t = x * 1.4426950408889634f;
  const float n = std::floor(t + 0.5f);
  const float f = t - n;
  float p = 1.535336188319500e-4f;
  p = p * f + 1.339887440266574e-3f;
  p = p * f + 9.618437357674640e-3f;
  p = p * f + 5.550332471162809e-2f;
  p = p * f + 2.402264791363012e-1f;
  p = p * f + 6.931472028550421e-1f;
  p = p * f + 1.f;
  const int32_t bits = (static_cast<int32_t>(n) + 127) << 23;
  float scale;
  std::memcpy(&scale, &bits, sizeof(scale));
  return p * scale;
}

// bf16 <-> fp32 (round to nearest even, as torch's conversion), as integer
// arithmetic that vectorises; the KV cache is bf16 to halve the bytes the
// attention reads (at 60 tokens it outgrows the L3 cache every step).
inline uint16_t to_bf16(float value) {
  uint32_t bits;
  std::memcpy(&bits, &value, sizeof(bits));
  bits += 0x7FFFu + ((bits >> 16) & 1u);
  return static_cast<uint16_t>(bits >> 16);
}

inline float from_bf16(uint16_t half) {
  const uint32_t bits = static_cast<uint32_t>(half) << 16;
  float value;
  std::memcpy(&value, &bits, sizeof(value));
  return value;
}

// x += delta (when given), then out = LayerNorm(x) * weight + bias per row.
CRRG_HOT void add_layer_norm(float* x, const float* delta, const float* weight,
                             const float* bias, float* out, int64_t rows,
                             int64_t n, float eps) {
  for (int64_t r = 0; r < rows; ++r) {
    float* xr = x + r * n;
    if (delta != nullptr) {
      const float* dr = delta + r * n;
      for (int64_t i = 0; i < n; ++i) xr[i] += dr[i];
    }
    float mean = 0.f;
    for (int64_t i = 0; i < n; ++i) mean += xr[i];
    mean /= static_cast<float>(n);
    float var = 0.f;
    for (int64_t i = 0; i < n; ++i) var += (xr[i] - mean) * (xr[i] - mean);
    const float inv = 1.f / std::sqrt(var / static_cast<float>(n) + eps);
    float* o = out + r * n;
    for (int64_t i = 0; i < n; ++i) o[i] = (xr[i] - mean) * inv * weight[i] + bias[i];
  }
}

// One (row, head): scores of query ``q`` against the keys of slots 0..pos
// (slot s in cache row rt[s]), softmax, and the weighted sum of the values
// into ``out``. keys/values point at the head's (row 0, slot 0) and a cache
// row is ``row_stride`` elements apart.
CRRG_HOT void attend_head(const float* q, const uint16_t* keys,
                          const uint16_t* values, const int64_t* rt,
                          int64_t row_stride, int64_t dim, int64_t pos,
                          float scale, float* scores, float* out) {
  for (int64_t s = 0; s <= pos; ++s) {
    const uint16_t* ks = keys + rt[s] * row_stride + s * dim;
    float acc = 0.f;
    for (int64_t d = 0; d < dim; ++d) acc += q[d] * from_bf16(ks[d]);
    scores[s] = acc * scale;
  }
  float best = scores[0];
  for (int64_t s = 1; s <= pos; ++s) best = scores[s] > best ? scores[s] : best;
  float total = 0.f;
  for (int64_t s = 0; s <= pos; ++s) {
    scores[s] = fast_exp(scores[s] - best);
    total += scores[s];
  }
  const float inv = 1.f / total;
  for (int64_t d = 0; d < dim; ++d) out[d] = 0.f;
  for (int64_t s = 0; s <= pos; ++s) {
    const float p = scores[s] * inv;
    const uint16_t* vs = values + rt[s] * row_stride + s * dim;
    for (int64_t d = 0; d < dim; ++d) out[d] += p * from_bf16(vs[d]);
  }
}

#if defined(__x86_64__) && defined(__GNUC__)
// The same with AVX-512 for head_dim % 16 == 0, <= 128: a slot's dot product
// in dim / 16 FMAs and one horizontal sum (the compiler's version of the
// loop above spends most of its time in per-slot reductions).
__attribute__((target("avx512f"))) inline __m512 load_bf16(const uint16_t* p) {
  const __m256i raw = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p));
  return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(raw), 16));
}

__attribute__((target("avx512f"))) void attend_head_avx512(
    const float* q, const uint16_t* keys, const uint16_t* values,
    const int64_t* rt, int64_t row_stride, int64_t dim, int64_t pos,
    float scale, float* scores, float* out) {
  const int64_t nv = dim / 16;
  __m512 qv[8], ov[8];
  for (int64_t c = 0; c < nv; ++c) {
    qv[c] = _mm512_loadu_ps(q + 16 * c);
    ov[c] = _mm512_setzero_ps();
  }
  float best = 0.f;
  for (int64_t s = 0; s <= pos; ++s) {
    const uint16_t* ks = keys + rt[s] * row_stride + s * dim;
    __m512 acc = _mm512_mul_ps(qv[0], load_bf16(ks));
    for (int64_t c = 1; c < nv; ++c)
      acc = _mm512_fmadd_ps(qv[c], load_bf16(ks + 16 * c), acc);
    scores[s] = _mm512_reduce_add_ps(acc) * scale;
    best = (s == 0 || scores[s] > best) ? scores[s] : best;
  }
  float total = 0.f;
  for (int64_t s = 0; s <= pos; ++s) {
    scores[s] = fast_exp(scores[s] - best);
    total += scores[s];
  }
  const float inv = 1.f / total;
  for (int64_t s = 0; s <= pos; ++s) {
    const __m512 p = _mm512_set1_ps(scores[s] * inv);
    const uint16_t* vs = values + rt[s] * row_stride + s * dim;
    for (int64_t c = 0; c < nv; ++c)
      ov[c] = _mm512_fmadd_ps(p, load_bf16(vs + 16 * c), ov[c]);
  }
  for (int64_t c = 0; c < nv; ++c) _mm512_storeu_ps(out + 16 * c, ov[c]);
}
#endif

// Writes the new key/value of every (row, head) to slot ``pos`` of its own
// cache row, then attends with its query over slots 0..pos, slot s read from
// cache row table[row, s] (a beam's history lives in its ancestors' rows, so
// reordering beams reorders the table instead of copying the cache).
// y: (rows, 3 * heads * dim) = q | k | v; keys, values: (cache rows, heads,
// slots, dim) bf16; table: (rows, slots) int64; out: (rows, heads * dim).
void attend(const float* y, uint16_t* keys, uint16_t* values,
            const int64_t* table, float* out, int64_t rows, int64_t heads,
            int64_t slots, int64_t dim, int64_t pos, float scale,
            float* scores) {
  const int64_t embed = heads * dim, row_stride = heads * slots * dim;
#if defined(__x86_64__) && defined(__GNUC__)
  static const bool avx512 = __builtin_cpu_supports("avx512f");
  const bool fast = avx512 && dim % 16 == 0 && dim <= 128;
#else
  const bool fast = false;
#endif
  for (int64_t r = 0; r < rows; ++r) {
    const float* yr = y + r * 3 * embed;
    const int64_t* rt = table + r * slots;
    for (int64_t h = 0; h < heads; ++h) {
      const int64_t head = h * slots * dim;
      uint16_t* k = keys + r * row_stride + head + pos * dim;
      uint16_t* v = values + r * row_stride + head + pos * dim;
      const float* k_new = yr + embed + h * dim;
      const float* v_new = yr + 2 * embed + h * dim;
      for (int64_t d = 0; d < dim; ++d) {
        k[d] = to_bf16(k_new[d]);
        v[d] = to_bf16(v_new[d]);
      }
#if defined(__x86_64__) && defined(__GNUC__)
      if (fast) {
        attend_head_avx512(yr + h * dim, keys + head, values + head, rt,
                           row_stride, dim, pos, scale, scores,
                           out + r * embed + h * dim);
        continue;
      }
#endif
      attend_head(yr + h * dim, keys + head, values + head, rt, row_stride,
                  dim, pos, scale, scores, out + r * embed + h * dim);
    }
  }
}

// GPT-2's tanh GELU in place, as x * sigmoid(2 z) == 0.5 x (1 + tanh z),
// z = sqrt(2 / pi) (x + 0.044715 x^3).
CRRG_HOT void gelu_tanh(float* x, int64_t n) {
  const float c = 1.5957691216057308f;  // 2 sqrt(2 / pi)
  for (int64_t i = 0; i < n; ++i) {
    const float v = x[i];
    float z = c * (v + 0.044715f * v * v * v);
    x[i] = v / (1.f + fast_exp(-z));
  }
}

// First index of each row's maximum (torch.argmax's tie rule).
CRRG_HOT void row_argmax(const float* x, int64_t* out, int64_t rows, int64_t n) {
  for (int64_t r = 0; r < rows; ++r) {
    const float* row = x + r * n;
    float best = row[0];
    for (int64_t i = 1; i < n; ++i) best = row[i] > best ? row[i] : best;
    int64_t at = 0;
    while (at + 1 < n && row[at] != best) ++at;
    out[r] = at;
  }
}

at::Tensor argmax_rows(const at::Tensor& logits) {
  TORCH_CHECK(logits.dim() == 2 && logits.is_contiguous() &&
                  logits.scalar_type() == at::kFloat && logits.size(1) > 0,
              "argmax_rows: expected (rows, n > 0) contiguous fp32 logits");
  at::Tensor out = at::empty({logits.size(0)}, logits.options().dtype(at::kLong));
  row_argmax(logits.data_ptr<float>(), out.data_ptr<int64_t>(), logits.size(0),
             logits.size(1));
  return out;
}

class Int8GPT2 {
 public:
  // norms: per layer ln_1 weight, bias, ln_2 weight, bias, then ln_f's two;
  // qweights: per layer c_attn, attn.c_proj, c_fc, mlp.c_proj as (out, in)
  // per-channel qint8, then the LM head; biases: the 4 per layer (fp32).
  Int8GPT2(int64_t heads, double eps, at::Tensor wte, at::Tensor wpe,
           std::vector<at::Tensor> norms, std::vector<at::Tensor> qweights,
           std::vector<at::Tensor> biases)
      : heads_(heads), eps_(static_cast<float>(eps)), wte_(wte), wpe_(wpe), norms_(std::move(norms)) {
    embed_ = wte_.size(1);
    layers_ = static_cast<int64_t>(biases.size()) / 4;
    TORCH_CHECK(heads_ > 0 && embed_ % heads_ == 0, "Int8GPT2: bad head count");
    TORCH_CHECK(static_cast<int64_t>(biases.size()) == 4 * layers_ &&
                    static_cast<int64_t>(qweights.size()) == 4 * layers_ + 1 &&
                    static_cast<int64_t>(norms_.size()) == 4 * layers_ + 2,
                "Int8GPT2: expected 4 biases, 4 weights and 4 norms per layer, "
                "plus the LM head and ln_f");
    for (auto& t : norms_) t = t.contiguous().to(at::kFloat);
    wte_ = wte_.contiguous();
    for (int64_t i = 0; i < 4 * layers_; ++i)
      linears_.push_back(prepack(qweights[i], biases[i]));
    head_ = prepack(qweights.back(), std::nullopt);
  }

  at::Tensor step(const at::Tensor& ids, int64_t pos, at::Tensor& cache,
                  at::Tensor& table) {
    const int64_t b = ids.size(0), dim = embed_ / heads_;
    TORCH_CHECK(cache.dim() == 6 && cache.is_contiguous() &&
                    cache.scalar_type() == at::kBFloat16 && cache.size(0) == layers_ &&
                    cache.size(3) == heads_ && cache.size(5) == dim,
                "Int8GPT2.step: cache must be contiguous bf16 (layers, 2, rows, "
                "heads, slots, head_dim)");
    const int64_t rows = cache.size(2), slots = cache.size(4);
    TORCH_CHECK(pos >= 1 && pos < slots && b <= rows,
                "Int8GPT2.step: position or batch outside the cache");
    TORCH_CHECK(table.dim() == 2 && table.is_contiguous() &&
                    table.scalar_type() == at::kLong && table.size(0) >= b &&
                    table.size(1) == slots,
                "Int8GPT2.step: table must be contiguous int64 (>= B, slots)");
    int64_t* tp = table.data_ptr<int64_t>();
    for (int64_t r = 0; r < b; ++r) {
      tp[r * slots + pos] = r;  // this step's key/value go to the own row
      for (int64_t s = 0; s < pos; ++s)
        TORCH_CHECK(tp[r * slots + s] >= 0 && tp[r * slots + s] < rows,
                    "Int8GPT2.step: table row outside the cache");
    }
    const float scale = 1.f / std::sqrt(static_cast<float>(dim));
    at::Tensor x = wte_.index_select(0, ids).add_(wpe_[pos]);
    at::Tensor h = at::empty_like(x), att = at::empty_like(x);
    float *xp = x.data_ptr<float>(), *hp = h.data_ptr<float>();
    std::vector<float> scores(pos + 1);
    auto* base = reinterpret_cast<uint16_t*>(cache.data_ptr());
    const int64_t half = rows * heads_ * slots * dim;  // keys, then values
    at::Tensor delta;  // the previous layer's MLP output, added to x
    for (int64_t l = 0; l < layers_; ++l) {
      const at::Tensor* n = &norms_[4 * l];
      add_layer_norm(xp, delta.defined() ? delta.data_ptr<float>() : nullptr,
                     n[0].data_ptr<float>(), n[1].data_ptr<float>(), hp, b,
                     embed_, eps_);
      at::Tensor y = linears_[4 * l]->apply_dynamic(h, true).contiguous();
      uint16_t* keys = base + 2 * l * half;
      attend(y.data_ptr<float>(), keys, keys + half, tp, att.data_ptr<float>(),
             b, heads_, slots, dim, pos, scale, scores.data());
      delta = linears_[4 * l + 1]->apply_dynamic(att, true).contiguous();
      add_layer_norm(xp, delta.data_ptr<float>(), n[2].data_ptr<float>(),
                     n[3].data_ptr<float>(), hp, b, embed_, eps_);
      at::Tensor g = linears_[4 * l + 2]->apply_dynamic(h, true).contiguous();
      gelu_tanh(g.data_ptr<float>(), g.numel());
      delta = linears_[4 * l + 3]->apply_dynamic(g, true).contiguous();
    }
    const at::Tensor* f = &norms_[4 * layers_];
    add_layer_norm(xp, delta.data_ptr<float>(), f[0].data_ptr<float>(),
                   f[1].data_ptr<float>(), hp, b, embed_, eps_);
    return head_->apply_dynamic(h, true);
  }

 private:
  int64_t heads_, embed_ = 0, layers_ = 0;
  float eps_;
  at::Tensor wte_, wpe_;
  std::vector<at::Tensor> norms_;
  std::vector<Packed> linears_;
  Packed head_;
};

}  // namespace

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
  pybind11::class_<Int8GPT2>(m, "Int8GPT2")
      .def(pybind11::init<int64_t, double, at::Tensor, at::Tensor, std::vector<at::Tensor>,
                          std::vector<at::Tensor>, std::vector<at::Tensor>>())
      .def("step", &Int8GPT2::step);
  m.def("argmax_rows", &argmax_rows);
}
