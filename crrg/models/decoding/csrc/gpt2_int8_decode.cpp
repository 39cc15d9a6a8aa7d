// One int8 GPT-2 decoding step in a single call, for CPUs.
//
// The Python step of crrg/models/decoding/fast_gpt2.py spends ~30 % of an int8
// step at GPT-2 medium's shape outside the GEMMs: ~25 small ATen kernels per
// layer (layer norm, KV cache write, attention over <= 61 slots, GELU,
// residual adds) each cost more in dispatch and cache misses than in work.
// Here the rest is written as plain loops the compiler vectorises, and the
// GEMMs (Int8Linear) run on the same per-channel int8 weights either as
// crrg's kernel for few rows (per-row int8 activations; with AVX512-VNNI
// ~25 % faster than fbgemm when the weights stream from memory; with AVX2
// only, 7-bit activations) or as fbgemm's (``quantized::linear_dynamic``
// with reduce_range, via LinearPackedParamsBase::apply_dynamic; the Python
// step's GEMM).
//
// Shapes: ids (B,) int64; cache (layers, 2, rows, heads, slots, head_dim)
// bf16 contiguous, rows >= B, slot 0 = the region's prefix, word position p
// in slot p; table (>= B, slots) int64: the cache row each row's slot is read
// from (the step sets table[r, pos] = r); returns (B, vocab) fp32 logits.
#include <ATen/Parallel.h>
#include <ATen/core/dispatch/Dispatcher.h>
#include <ATen/native/quantized/PackedParams.h>
#include <torch/extension.h>

#include <cctype>
#include <cmath>
#include <cstdlib>
#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#endif
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstring>
#include <functional>
#include <limits>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <tuple>
#include <utility>
#include <vector>

namespace {

using Packed = c10::intrusive_ptr<LinearPackedParamsBase>;

// The instruction sets this build may use: 4 (the default) up to
// AVX512-VNNI, 2 up to AVX2, 0 baseline x86-64 only. fast_gpt2's
// native_int8_ops builds the lower ones for CRRG_FORCE_CPU_ISA, so that a
// CPU without AVX-512 can be simulated on one with it (the GEMM choice
// follows that variable at run time too, see cpu_isa).
#ifndef CRRG_MAX_ISA
#define CRRG_MAX_ISA 4
#endif
#if defined(__x86_64__) && defined(__GNUC__)
#define CRRG_X86 1
#endif

// AVX-512 / AVX2 / baseline clones of the loops, chosen at load time.
#if defined(CRRG_X86) && !defined(__clang__) && CRRG_MAX_ISA >= 4
#define CRRG_HOT \
  __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#elif defined(CRRG_X86) && !defined(__clang__) && CRRG_MAX_ISA >= 2
#define CRRG_HOT __attribute__((target_clones("arch=x86-64-v3", "default")))
#else
#define CRRG_HOT
#endif

// Instruction set levels of cpu_isa.
constexpr int kGeneric = 0, kAvx2 = 2, kAvx512 = 3, kAvx512Vnni = 4;

// The level crrg's kernels run at: the CPU's (kAvx2: AVX2 and FMA; kAvx512:
// also AVX-512 F and BW; kAvx512Vnni: also AVX512-VNNI), at most the
// build's CRRG_MAX_ISA and the environment variable CRRG_FORCE_CPU_ISA
// (GENERIC, AVX2 or AVX512, as CTranslate2's CT2_FORCE_CPU_ISA), read at
// each call.
int cpu_isa() {
#ifdef CRRG_X86
  static const int cpu = !(__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
                             ? kGeneric
                         : !(__builtin_cpu_supports("avx512f") &&
                             __builtin_cpu_supports("avx512bw"))
                             ? kAvx2
                         : __builtin_cpu_supports("avx512vnni") ? kAvx512Vnni
                                                                : kAvx512;
#else
  static const int cpu = kGeneric;
#endif
  int isa = std::min(cpu, CRRG_MAX_ISA);
  const char* forced = std::getenv("CRRG_FORCE_CPU_ISA");
  if (forced != nullptr && *forced != '\0') {
    std::string name(forced);
    for (char& c : name) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    const int cap = name == "GENERIC" ? kGeneric
                    : name == "AVX2"  ? kAvx2
                    : name == "AVX512" ? kAvx512Vnni
                                       : -1;
    TORCH_CHECK(cap >= 0, "CRRG_FORCE_CPU_ISA must be GENERIC, AVX2 or AVX512, got '",
                forced, "'");
    isa = std::min(isa, cap);
  }
  return isa;
}

std::string cpu_isa_name() {
  const int isa = cpu_isa();
  return isa >= kAvx512Vnni ? "AVX512_VNNI"
         : isa >= kAvx512   ? "AVX512"
         : isa >= kAvx2     ? "AVX2"
                            : "GENERIC";
}

Packed prepack(const at::Tensor& qweight, const std::optional<at::Tensor>& bias) {
  static auto op = c10::Dispatcher::singleton()
                       .findSchemaOrThrow("quantized::linear_prepack", "")
                       .typed<Packed(at::Tensor, std::optional<at::Tensor>)>();
  return op.call(qweight, bias);
}

// exp(x) as 2^n * p(f), x log2(e) = n + f, |f| <= 1/2, with Cephes'
// degree-6 polynomial for 2^f (relative error ~2e-7): plain arithmetic, so
// the loops calling it vectorise. x is clamped to [-87, 88] so that n + 127
// stays a normal float exponent: exp(-87) ~ 1.6e-38 stands for 0 and
// exp(88) ~ 1.7e38 for inf (GELU's exp(-2z) of an input below ~-10 is past
// 88; unclamped, the exponent bits overflowed into the sign and GELU(-12)
// came out as -12 instead of 0).
inline float fast_exp(float x) {
  x = x < -87.f ? -87.f : (x > 88.f ? 88.f : x);
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

// ---------------------------------------------------------------- threads
// The step's parallel loops run on this pool rather than on an OpenMP team:
// a step has ~120 of them, and an OpenMP region ends in a barrier that waits
// for every thread of the team, also one the OS has not scheduled yet. On a
// machine shared with other processes (or two reports decoded at once, the
// GIL being released) that wait is a scheduler time slice per region: one
// GPT-2 medium layer took 26 ms instead of 0.05 ms with 2 OpenMP threads
// under a load of 6 on 2 cores. Here the caller claims tasks too, and waits
// only for tasks that a worker has claimed: a worker that is not running
// claims none, and the caller does its share. Workers spin briefly between
// loops (a step's loops follow each other within microseconds), then sleep.
// With fbgemm's GEMMs (on torch's OpenMP threads) the step's other loops run
// on the caller alone: two pools spinning on the same cores wait for each
// other.
// A claimed task still has to finish: when the caller has waited more than
// kStragglerWait for one (its thread was descheduled: more runnable threads
// than cores), the next loops run on the caller alone, so that an
// overloaded machine costs what one thread costs rather than a time slice
// per loop. How many: kMinBackoff after a lone straggler (a timer interrupt,
// a page fault or another process's burst: on an otherwise quiet machine
// one per report or so), doubling up to kMaxBackoff while stragglers come
// back within as many parallel loops as the last back-off (an overloaded
// machine). A fixed 2000 loops (~15 GPT-2 medium steps) after any straggler
// ran most of a 20-step report on one thread: 1.15x instead of ~1.8x on 2
// threads. Tasks are guided (each claims 1 / (2 threads) of what is left)
// and kept short (``most`` items): the loop's tail, where one thread waits
// for the other's last task, stays short, and a task a running worker holds
// is never mistaken for a straggler (the LM head at 40 rows came to 0.7 ms
// per task in 16 equal tasks). The thread count is torch's
// (at::get_num_threads()); each item is computed the same way whichever
// thread and task run it.
class TaskPool {
 public:
  // f(begin, end) over [0, n) in tasks of >= grain and <= max(grain, most)
  // items; serial unless ``parallel``, for one thread, inside another
  // parallel region, or while another caller uses the pool.
  template <typename F>
  static void run(int64_t n, int64_t grain, const F& f, bool parallel = true,
                  int64_t most = std::numeric_limits<int64_t>::max()) {
    const int64_t threads = parallel ? at::get_num_threads() : 1;
    if (n <= 0) return;
    if (threads <= 1 || n <= grain || at::in_parallel_region()) {
      f(0, n);
      return;
    }
    TaskPool& pool = instance();
    std::unique_lock<std::mutex> busy(pool.busy_, std::try_to_lock);
    if (!busy.owns_lock() || pool.serial_loops_ > 0) {
      if (busy.owns_lock()) --pool.serial_loops_;
      f(0, n);
      return;
    }
    const std::function<void(int64_t, int64_t)> task = std::cref(f);
    pool.launch(n, grain, std::max(grain, most),
                std::min(threads, (n + grain - 1) / grain), task);
  }

 private:
  static constexpr int kSpins = 2000;  // ~20-60 us of _mm_pause
  static constexpr auto kStragglerWait = std::chrono::milliseconds(1);
  // loops on the caller alone after a straggler: ~1/8 of a GPT-2 medium
  // step, up to ~16 steps
  static constexpr int64_t kMinBackoff = 16, kMaxBackoff = 2048;

  struct Job {
    uint64_t id;
    int64_t n, grain, most, threads;
    const std::function<void(int64_t, int64_t)>* task;
    alignas(64) std::atomic<int64_t> next{0};  // the first unclaimed item
    alignas(64) std::atomic<int64_t> done{0};  // items finished

    // Claims tasks until none is left: 1 / (2 threads) of the items left,
    // within [grain, most].
    void claim() {
      for (int64_t begin = next.load(std::memory_order_relaxed); begin < n;) {
        const int64_t size =
            std::min(most, std::max(grain, (n - begin) / (2 * threads)));
        const int64_t end = std::min(n, begin + size);
        if (!next.compare_exchange_weak(begin, end)) continue;  // begin reloaded
        (*task)(begin, end);
        done.fetch_add(end - begin, std::memory_order_release);
        begin = next.load(std::memory_order_relaxed);
      }
    }
  };

  static TaskPool& instance() {
    // one pool per process (a forked child builds its own); never freed:
    // its detached workers live as long as the process
    static std::atomic<TaskPool*> pool{nullptr};
    static std::mutex creating;
    TaskPool* p = pool.load();
    if (p == nullptr || p->pid_ != getpid()) {
      std::lock_guard<std::mutex> lock(creating);
      p = pool.load();
      if (p == nullptr || p->pid_ != getpid()) {
        p = new TaskPool();
        pool.store(p);
      }
    }
    return *p;
  }

  static void relax() {
#if defined(__x86_64__) && defined(__GNUC__)
    _mm_pause();
#endif
  }

  // ``threads`` run the job: the caller and threads - 1 workers.
  void launch(int64_t n, int64_t grain, int64_t most, int64_t threads,
              const std::function<void(int64_t, int64_t)>& task) {
    const int64_t workers = threads - 1;
    while (static_cast<int64_t>(threads_.size()) < workers) {
      const int id = static_cast<int>(threads_.size());
      threads_.emplace_back([this, id] { work(id); });
      threads_.back().detach();
    }
    auto job = std::make_shared<Job>();
    job->id = ++last_id_;
    job->n = n;
    job->grain = grain;
    job->most = most;
    job->threads = threads;
    job->task = &task;
    std::atomic_store(&job_, job);
    epoch_.store(job->id);
    if (sleepers_.load() > 0) {
      { std::lock_guard<std::mutex> lock(mutex_); }
      wake_.notify_all();
    }
    ++since_backoff_;
    job->claim();
    if (job->done.load(std::memory_order_acquire) == n) return;
    const auto start = std::chrono::steady_clock::now();
    for (int spin = 0; job->done.load(std::memory_order_acquire) < n; ++spin) {
      if (spin < kSpins) relax();
      else std::this_thread::yield();  // a claimed task's thread needs a core
    }
    if (std::chrono::steady_clock::now() - start > kStragglerWait) {
      backoff_ = since_backoff_ < backoff_ ? std::min(2 * backoff_, kMaxBackoff)
                                           : kMinBackoff;
      serial_loops_ = backoff_;
      since_backoff_ = 0;
    }
  }

  void work(int id) {
    uint64_t seen = 0;
    for (;;) {
      for (int spin = 0; epoch_.load() == seen; ++spin) {
        if (spin < kSpins) {
          relax();
          continue;
        }
        std::unique_lock<std::mutex> lock(mutex_);
        sleepers_.fetch_add(1);
        wake_.wait(lock, [&] { return epoch_.load() != seen; });
        sleepers_.fetch_sub(1);
      }
      const std::shared_ptr<Job> job = std::atomic_load(&job_);
      seen = job->id;
      if (id < job->threads - 1) job->claim();
    }
  }

  const pid_t pid_ = getpid();
  std::mutex busy_, mutex_;
  std::condition_variable wake_;
  std::vector<std::thread> threads_;
  std::shared_ptr<Job> job_;
  std::atomic<uint64_t> epoch_{0};
  std::atomic<int> sleepers_{0};
  uint64_t last_id_ = 0;
  int64_t serial_loops_ = 0;  // loops left to run on the caller alone
  int64_t backoff_ = kMinBackoff;  // the last back-off's loops
  int64_t since_backoff_ = 0;      // parallel loops since it
};

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

#if defined(CRRG_X86) && CRRG_MAX_ISA >= 4
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
// slots, dim) bf16; table: (rows, slots) int64; out: (rows, heads * dim);
// avx512: the AVX-512 version of a head where head_dim allows (the CPU must
// have AVX-512 F).
// The (row, head) pairs are split across threads (TaskPool): a pair writes only
// its own slot ``pos`` and reads slots < pos written by earlier steps.
void attend(const float* y, uint16_t* keys, uint16_t* values,
            const int64_t* table, float* out, int64_t rows, int64_t heads,
            int64_t slots, int64_t dim, int64_t pos, float scale,
            bool parallel, bool avx512) {
  const int64_t embed = heads * dim, row_stride = heads * slots * dim;
  const bool fast = avx512 && dim % 16 == 0 && dim <= 128;
  // grain: ~4 pairs per task at 60 slots at least, more while the history
  // is short
  const int64_t grain = std::max<int64_t>(1, 256 / (pos + 1));
  TaskPool::run(rows * heads, grain, [&](int64_t begin, int64_t end) {
    thread_local std::vector<float> scores;
    scores.resize(pos + 1);
    for (int64_t item = begin; item < end; ++item) {
      const int64_t r = item / heads, h = item % heads;
      const float* yr = y + r * 3 * embed;
      const int64_t* rt = table + r * slots;
      const int64_t head = h * slots * dim;
      uint16_t* k = keys + r * row_stride + head + pos * dim;
      uint16_t* v = values + r * row_stride + head + pos * dim;
      const float* k_new = yr + embed + h * dim;
      const float* v_new = yr + 2 * embed + h * dim;
      for (int64_t d = 0; d < dim; ++d) {
        k[d] = to_bf16(k_new[d]);
        v[d] = to_bf16(v_new[d]);
      }
#if defined(CRRG_X86) && CRRG_MAX_ISA >= 4
      if (fast) {
        attend_head_avx512(yr + h * dim, keys + head, values + head, rt,
                           row_stride, dim, pos, scale, scores.data(),
                           out + r * embed + h * dim);
        continue;
      }
#endif
      attend_head(yr + h * dim, keys + head, values + head, rt, row_stride,
                  dim, pos, scale, scores.data(), out + r * embed + h * dim);
    }
  }, parallel);
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

// A beam search's continuation: score and index (beam * vocab + token) in
// its region's (beams x vocab) scores.
struct Candidate {
  float score;
  int64_t index;
};

// Higher score first; of equal scores, the lower index.
inline bool better(const Candidate& a, const Candidate& b) {
  return a.score > b.score || (a.score == b.score && a.index < b.index);
}

// The ``count`` best (``better``) of log_softmax(x) + add over a row of n
// logits, into best[0..count) in order, index = base + i; count <= n. The
// log-softmax is torch's formula, (x - max) - log(sum exp(x - max)). The
// scan skips each 64-logit chunk whose best score cannot enter the list
// (rounding is monotone: the chunk's largest logit has its best score).
CRRG_HOT void row_candidates(const float* x, int64_t n, float add, int64_t base,
                             int64_t count, Candidate* best) {
  float top = x[0];
  for (int64_t i = 1; i < n; ++i) top = x[i] > top ? x[i] : top;
  float sum = 0.f;
  for (int64_t i = 0; i < n; ++i) sum += fast_exp(x[i] - top);
  const float logsum = std::log(sum);
  int64_t filled = 0;
  for (int64_t i0 = 0; i0 < n; i0 += 64) {
    const int64_t i1 = std::min(n, i0 + 64);
    float chunk = x[i0];
    for (int64_t i = i0 + 1; i < i1; ++i) chunk = x[i] > chunk ? x[i] : chunk;
    if (filled == count && !(((chunk - top) - logsum) + add > best[count - 1].score))
      continue;
    for (int64_t i = i0; i < i1; ++i) {
      const Candidate c{((x[i] - top) - logsum) + add, base + i};
      if (filled == count && !better(c, best[count - 1])) continue;
      int64_t at = filled < count ? filled++ : count - 1;
      for (; at > 0 && better(c, best[at - 1]); --at) best[at] = best[at - 1];
      best[at] = c;
    }
  }
}

// Beam search's continuations in one pass over the logits: per region
// (``beams`` consecutive rows), the ``count`` best of log_softmax(logits) +
// the row's beam score over its beams x vocab, as
// ``(log_softmax(logits).view(R, beams, V) + beam_scores[..., None])
// .view(R, -1).topk(count)`` (its sum of exponentials rounded differently;
// of equal scores, the lower index first). Rows are split across threads
// (the TaskPool when ``pool``, else torch's), each row's candidates computed
// alike at any thread count. logits: (R * beams, V) fp32; beam_scores:
// (R, beams); returns scores (R, count) fp32 and indices (R, count) int64
// (beam * V + token). torch's log_softmax and topk took ~4-9 ms per
// GPT-2 medium step at 10 regions x 4 beams, and their OpenMP threads spin
// on the cores the step's pool then needs.
std::tuple<at::Tensor, at::Tensor> beam_candidates(const at::Tensor& logits,
                                                   const at::Tensor& beam_scores,
                                                   int64_t count, bool pool) {
  TORCH_CHECK(beam_scores.dim() == 2 && beam_scores.scalar_type() == at::kFloat,
              "beam_candidates: expected (regions, beams) fp32 beam scores");
  const int64_t regions = beam_scores.size(0), beams = beam_scores.size(1);
  TORCH_CHECK(logits.dim() == 2 && logits.is_contiguous() &&
                  logits.scalar_type() == at::kFloat &&
                  logits.size(0) == regions * beams && beams > 0,
              "beam_candidates: expected (regions * beams, vocab) contiguous "
              "fp32 logits");
  const int64_t vocab = logits.size(1);
  TORCH_CHECK(count > 0 && count <= beams * vocab,
              "beam_candidates: count must be in [1, beams * vocab]");
  const at::Tensor bs = beam_scores.contiguous();
  const float* lp = logits.data_ptr<float>();
  const float* bp = bs.data_ptr<float>();
  const int64_t per = std::min(count, vocab);  // of each row
  std::vector<Candidate> rows(regions * beams * per);
  const auto each = [&](int64_t begin, int64_t end) {
    for (int64_t r = begin; r < end; ++r)
      row_candidates(lp + r * vocab, vocab, bp[r], (r % beams) * vocab, per,
                     rows.data() + r * per);
  };
  if (pool) TaskPool::run(regions * beams, 1, each);
  else at::parallel_for(0, regions * beams, 1, each);
  at::Tensor scores = at::empty({regions, count}, logits.options());
  at::Tensor index = at::empty({regions, count}, logits.options().dtype(at::kLong));
  float* sp = scores.data_ptr<float>();
  int64_t* ip = index.data_ptr<int64_t>();
  for (int64_t g = 0; g < regions; ++g) {
    Candidate* first = rows.data() + g * beams * per;
    std::partial_sort(first, first + count, first + beams * per, better);
    for (int64_t c = 0; c < count; ++c) {
      sp[g * count + c] = first[c].score;
      ip[g * count + c] = first[c].index;
    }
  }
  return {scores, index};
}

// ---------------------------------------------------------------- GEMM
// y = x W^T + b with int8 weights for the few rows of a decoding step.
//
// fbgemm's dynamic-quantised GEMM reaches its best rate at M = 10 only when
// the weights sit in the cache; streamed from memory, as in a decoding step
// that reads all 355 M weights once, it loses ~25 % to waiting on memory
// (0.30 vs 0.22 ms for a 1024 x 4096 layer, M = 10, one core). This kernel
// keeps the few activation rows in L1, streams each weight once and, for
// more than 4 rows, prefetches kPrefetch bytes ahead into L2, which hides
// that wait (`benchmarks/int8_gemm.py` measures both).
//
// Weights: per-output-channel symmetric int8 (the qint8 tensor's values and
// scales), stored as u8 = w + 128 in blocks of 32 output columns: block j
// holds, for each group of 4 inputs, the 4 bytes of each of its 32 columns,
// the operand layout of AVX512-VNNI's vpdpbusd (u8 x s8 -> int32).
// Activations: per-row symmetric int8 (scale = max |x_r| / 127), so
// sum_k (w + 128) a = sum_k w a + 128 sum_k a, and the second term is
// subtracted per row. Rows go in chunks of <= kMaxRows (2 x kMaxRows int32
// accumulators in zmm registers); a 32-column block of weights is read from
// memory once and reused by every chunk from L1 / L2.
constexpr int64_t kBlockCols = 32, kMaxRows = 12, kPrefetch = 16384;
// Blocks per task at least (64 columns: 64 KB of weights at 1024 inputs):
// GPT-2 medium's smallest GEMM (1024 outputs) still splits ~10 ways.
constexpr int64_t kGrainBlocks = 2;
// Blocks per task at most: ~kTaskMacs multiply-adds (rows below 8 counted as
// 8, where streaming the block's weights costs more than its arithmetic),
// ~40 us on one core: 6 blocks at 40 rows and 1024 inputs.
constexpr int64_t kTaskMacs = int64_t{1} << 23;

#if defined(CRRG_X86) && CRRG_MAX_ISA >= 4
#define CRRG_VNNI 1
// GCC 12's partial-redundancy elimination keeps stack copies of the 24
// accumulators in the k loop (0.34 instead of 0.22 ms per layer); without it
// the loop is loads, broadcasts and vpdpbusd only.
#if defined(__clang__)
#define CRRG_VNNI_TARGET __attribute__((target("avx512f,avx512bw,avx512vnni")))
#else
#define CRRG_VNNI_TARGET \
  __attribute__((target("avx512f,avx512bw,avx512vnni"), optimize("no-tree-pre")))
#endif
#define CRRG_ROWS(X) X(0) X(1) X(2) X(3) X(4) X(5) X(6) X(7) X(8) X(9) X(10) X(11)

// Rows 0..R-1 of the chunk times one 32-column block: a (R, steps) int32
// groups of 4 int8 activations, b the block ((steps, 32, 4) u8), out (R, ldo).
template <int R>
CRRG_VNNI_TARGET void vnni_block(const int32_t* a, int64_t steps,
                                 const uint8_t* b, const float* a_scale, const int32_t* a_sum128,
                                 const float* w_scale, const float* bias,
                                 float* out, int64_t ldo, int64_t cols) {
#define CRRG_DECLARE(r) \
  __m512i acc##r##_0 = _mm512_setzero_si512(), acc##r##_1 = _mm512_setzero_si512();
  CRRG_ROWS(CRRG_DECLARE)
  for (int64_t s = 0; s < steps; ++s, b += 4 * kBlockCols) {
    if constexpr (R > 4) {  // fewer rows wait on memory anyway, and the
      // hardware prefetcher alone was faster there (0.17 vs 0.23 ms at M=1)
      _mm_prefetch(reinterpret_cast<const char*>(b + kPrefetch), _MM_HINT_T1);
      _mm_prefetch(reinterpret_cast<const char*>(b + kPrefetch + 64), _MM_HINT_T1);
    }
    const __m512i b0 = _mm512_loadu_si512(b), b1 = _mm512_loadu_si512(b + 64);
#define CRRG_ACCUMULATE(r)                                      \
  if constexpr (R > r) {                                        \
    const __m512i av = _mm512_set1_epi32(a[r * steps + s]);     \
    acc##r##_0 = _mm512_dpbusd_epi32(acc##r##_0, b0, av);       \
    acc##r##_1 = _mm512_dpbusd_epi32(acc##r##_1, b1, av);       \
  }
    CRRG_ROWS(CRRG_ACCUMULATE)
  }
  const __m512 ws0 = _mm512_loadu_ps(w_scale), ws1 = _mm512_loadu_ps(w_scale + 16);
  const __m512 bias0 = _mm512_loadu_ps(bias), bias1 = _mm512_loadu_ps(bias + 16);
  const __mmask16 m0 = cols >= 16 ? 0xFFFF : static_cast<__mmask16>((1u << cols) - 1);
  const __mmask16 m1 = cols >= 32   ? 0xFFFF
                       : cols <= 16 ? 0
                                    : static_cast<__mmask16>((1u << (cols - 16)) - 1);
#define CRRG_STORE(r)                                                          \
  if constexpr (R > r) {                                                       \
    const __m512i sum = _mm512_set1_epi32(a_sum128[r]);                        \
    const __m512 as = _mm512_set1_ps(a_scale[r]);                              \
    const __m512 y0 = _mm512_cvtepi32_ps(_mm512_sub_epi32(acc##r##_0, sum));   \
    const __m512 y1 = _mm512_cvtepi32_ps(_mm512_sub_epi32(acc##r##_1, sum));   \
    _mm512_mask_storeu_ps(out + r * ldo, m0,                                   \
                          _mm512_fmadd_ps(_mm512_mul_ps(y0, as), ws0, bias0)); \
    _mm512_mask_storeu_ps(out + r * ldo + 16, m1,                              \
                          _mm512_fmadd_ps(_mm512_mul_ps(y1, as), ws1, bias1)); \
  }
  CRRG_ROWS(CRRG_STORE)
#undef CRRG_DECLARE
#undef CRRG_ACCUMULATE
#undef CRRG_STORE
}

using VnniBlock = void (*)(const int32_t*, int64_t, const uint8_t*,
                           const float*, const int32_t*, const float*,
                           const float*, float*, int64_t, int64_t);
template <int... R>
constexpr std::array<VnniBlock, sizeof...(R)> vnni_blocks(std::integer_sequence<int, R...>) {
  return {&vnni_block<R + 1>...};
}
constexpr auto kVnniBlocks = vnni_blocks(std::make_integer_sequence<int, kMaxRows>{});
#endif

// The same product for CPUs with AVX2 but not AVX512-VNNI, on the same
// u8 = w + 128 weights in blocks of kAvx2Cols = 16 columns (per group of 4
// inputs 64 bytes: two ymm registers). AVX2 has no u8 x s8 -> int32 dot
// product: vpmaddubsw sums pairs of u8 x s8 products into int16,
// saturating, and vpmaddwd with ones widens the pairs to int32. A pair is
// at most 2 x 255 x |a|, so the activations are quantised per row to
// |a| <= kAvx2Levels = 64 (scale = max |x_r| / 64, twice the VNNI kernel's
// rounding, still per row where fbgemm's 7 bits are per call) and never
// saturate. An exact s8 x s8 product (|w| times a with w's sign) costs one
// vpsignb more per product, on the multiplier's ports: 1.4x the time of
// this kernel at 40 rows, slower than fbgemm's. Chunks of <= kAvx2Rows
// rows (2 x kAvx2Rows int32 accumulators with the block, a broadcast
// activation and the products in the 16 ymm registers).
constexpr int64_t kAvx2Cols = 16, kAvx2Rows = 5;
constexpr float kAvx2Levels = 64.f;

#if defined(CRRG_X86) && CRRG_MAX_ISA >= 2
#define CRRG_AVX2 1
#if defined(__clang__)
#define CRRG_AVX2_TARGET __attribute__((target("avx2,fma")))
#else
#define CRRG_AVX2_TARGET __attribute__((target("avx2,fma"), optimize("no-tree-pre")))
#endif
#define CRRG_ROWS5(X) X(0) X(1) X(2) X(3) X(4)

// Rows 0..R-1 of the chunk times one 16-column block: a (R, steps) int32
// groups of 4 int8 activations (|a| <= 64), b the block ((steps, 16, 4) u8),
// out (R, ldo); the first ``cols`` columns are stored.
template <int R>
CRRG_AVX2_TARGET void avx2_block(const int32_t* a, int64_t steps, const uint8_t* b,
                                 const float* a_scale, const int32_t* a_sum128,
                                 const float* w_scale, const float* bias,
                                 float* out, int64_t ldo, int64_t cols) {
  const __m256i ones = _mm256_set1_epi16(1);
#define CRRG_DECLARE(r) \
  __m256i acc##r##_0 = _mm256_setzero_si256(), acc##r##_1 = _mm256_setzero_si256();
  CRRG_ROWS5(CRRG_DECLARE)
  for (int64_t s = 0; s < steps; ++s, b += 4 * kAvx2Cols) {
    if constexpr (R > 2)
      _mm_prefetch(reinterpret_cast<const char*>(b + kPrefetch), _MM_HINT_T1);
    const __m256i w0 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b));
    const __m256i w1 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b + 32));
#define CRRG_ACCUMULATE(r)                                                          \
  if constexpr (R > r) {                                                            \
    const __m256i av = _mm256_set1_epi32(a[r * steps + s]);                         \
    acc##r##_0 = _mm256_add_epi32(                                                  \
        acc##r##_0, _mm256_madd_epi16(_mm256_maddubs_epi16(w0, av), ones));         \
    acc##r##_1 = _mm256_add_epi32(                                                  \
        acc##r##_1, _mm256_madd_epi16(_mm256_maddubs_epi16(w1, av), ones));         \
  }
    CRRG_ROWS5(CRRG_ACCUMULATE)
  }
  const __m256 ws0 = _mm256_loadu_ps(w_scale), ws1 = _mm256_loadu_ps(w_scale + 8);
  const __m256 bias0 = _mm256_loadu_ps(bias), bias1 = _mm256_loadu_ps(bias + 8);
  const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
  const __m256i m0 = _mm256_cmpgt_epi32(_mm256_set1_epi32(static_cast<int>(cols)), lane);
  const __m256i m1 =
      _mm256_cmpgt_epi32(_mm256_set1_epi32(static_cast<int>(cols) - 8), lane);
#define CRRG_STORE(r)                                                                \
  if constexpr (R > r) {                                                             \
    const __m256i sum = _mm256_set1_epi32(a_sum128[r]);                              \
    const __m256 as = _mm256_set1_ps(a_scale[r]);                                    \
    const __m256 y0 = _mm256_cvtepi32_ps(_mm256_sub_epi32(acc##r##_0, sum));         \
    const __m256 y1 = _mm256_cvtepi32_ps(_mm256_sub_epi32(acc##r##_1, sum));         \
    _mm256_maskstore_ps(out + r * ldo, m0,                                           \
                        _mm256_fmadd_ps(_mm256_mul_ps(y0, as), ws0, bias0));         \
    _mm256_maskstore_ps(out + r * ldo + 8, m1,                                       \
                        _mm256_fmadd_ps(_mm256_mul_ps(y1, as), ws1, bias1));         \
  }
  CRRG_ROWS5(CRRG_STORE)
#undef CRRG_DECLARE
#undef CRRG_ACCUMULATE
#undef CRRG_STORE
}

using Avx2Block = void (*)(const int32_t*, int64_t, const uint8_t*, const float*,
                           const int32_t*, const float*, const float*, float*,
                           int64_t, int64_t);
template <int... R>
constexpr std::array<Avx2Block, sizeof...(R)> avx2_blocks(std::integer_sequence<int, R...>) {
  return {&avx2_block<R + 1>...};
}
constexpr auto kAvx2Blocks = avx2_blocks(std::make_integer_sequence<int, kAvx2Rows>{});
#endif

bool cpu_has_vnni() { return cpu_isa() >= kAvx512Vnni; }

// Per-row symmetric int8 of x (rows, k) into q (rows, kp) (zero padded),
// |q| <= levels (<= 127); scale[r] = max |x_r| / levels (1 for a zero row),
// sum128[r] = 128 sum_k q.
CRRG_HOT void quantize_rows(const float* x, int64_t rows, int64_t k, int64_t kp,
                            float levels, int8_t* q, float* scale, int32_t* sum128) {
  for (int64_t r = 0; r < rows; ++r) {
    const float* xr = x + r * k;
    float top = 0.f;
    for (int64_t i = 0; i < k; ++i) top = std::fabs(xr[i]) > top ? std::fabs(xr[i]) : top;
    const float s = top > 0.f ? top / levels : 1.f, inv = 1.f / s;
    int8_t* qr = q + r * kp;
    int32_t sum = 0;
    for (int64_t i = 0; i < k; ++i) {
      const float v = xr[i] * inv;
      const int32_t n = static_cast<int32_t>(v + (v >= 0.f ? 0.5f : -0.5f));
      qr[i] = static_cast<int8_t>(n);
      sum += n;
    }
    for (int64_t i = k; i < kp; ++i) qr[i] = 0;
    scale[r] = s;
    sum128[r] = 128 * sum;
  }
}

// One int8 linear layer, on one of three GEMMs (Int8Linear::Gemm): crrg's
// VNNI kernel, crrg's AVX2 kernel (7-bit activations; above) or fbgemm's
// ``apply_dynamic`` (per-tensor u8 activations, reduce_range) on the same
// weights.
class Int8Linear {
 public:
  enum class Gemm { kFbgemm, kAvx2, kVnni };

  // ``gemm`` asked for: "crrg" (or its former name "vnni"): the VNNI kernel
  // on a CPU with AVX512-VNNI, else the AVX2 kernel on one with AVX2, else
  // fbgemm's; "avx2": the AVX2 kernel, fbgemm's without AVX2; "fbgemm".
  // "The CPU" is cpu_isa(): CRRG_FORCE_CPU_ISA lowers it.
  static Gemm resolve(const std::string& gemm) {
    TORCH_CHECK(gemm == "crrg" || gemm == "vnni" || gemm == "avx2" || gemm == "fbgemm",
                "Int8Linear: gemm must be 'crrg', 'vnni', 'avx2' or 'fbgemm', got '",
                gemm, "'");
    const int isa = cpu_isa();
    if (gemm != "fbgemm" && gemm != "avx2" && isa >= kAvx512Vnni) return Gemm::kVnni;
    if (gemm != "fbgemm" && isa >= kAvx2) return Gemm::kAvx2;
    return Gemm::kFbgemm;
  }

  // qweight: (out, in) per-channel qint8; bias: (out,) or none.
  Int8Linear(const at::Tensor& qweight, const std::optional<at::Tensor>& bias,
             const std::string& gemm)
      : out_(qweight.size(0)), in_(qweight.size(1)), gemm_(resolve(gemm)) {
    TORCH_CHECK(qweight.dim() == 2 && qweight.scalar_type() == at::kQInt8 &&
                    qweight.qscheme() == at::kPerChannelAffine &&
                    qweight.q_per_channel_axis() == 0 &&
                    qweight.q_per_channel_zero_points().eq(0).all().item<bool>(),
                "Int8Linear: expected an (out, in) per-channel qint8 weight with "
                "zero points 0 (symmetric)");
    if (gemm_ == Gemm::kFbgemm) {
      fbgemm_ = prepack(qweight, bias);
      return;
    }
    // u8 = w + 128 in groups of 4 inputs per column, in blocks of 32 (VNNI)
    // or 16 (AVX2) columns
    block_cols_ = gemm_ == Gemm::kVnni ? kBlockCols : kAvx2Cols;
    in_padded_ = (in_ + 3) / 4 * 4;
    blocks_ = (out_ + block_cols_ - 1) / block_cols_;
    const int64_t width = blocks_ * block_cols_;
    packed_.assign(blocks_ * in_padded_ * block_cols_, 128);  // w = 0
    const at::Tensor w = qweight.int_repr().contiguous();
    const int8_t* wp = w.data_ptr<int8_t>();
    for (int64_t c = 0; c < out_; ++c) {
      uint8_t* block = packed_.data() + (c / block_cols_) * in_padded_ * block_cols_;
      const int64_t col = c % block_cols_;
      for (int64_t i = 0; i < in_; ++i)
        block[(i / 4) * 4 * block_cols_ + col * 4 + i % 4] =
            static_cast<uint8_t>(wp[c * in_ + i] + 128);
    }
    w_scale_.assign(width, 0.f);
    bias_.assign(width, 0.f);
    const at::Tensor scales = qweight.q_per_channel_scales().to(at::kFloat).contiguous();
    std::memcpy(w_scale_.data(), scales.data_ptr<float>(), out_ * sizeof(float));
    if (bias) {
      const at::Tensor b = bias->to(at::kFloat).contiguous();
      TORCH_CHECK(b.numel() == out_, "Int8Linear: bias size is not out");
      std::memcpy(bias_.data(), b.data_ptr<float>(), out_ * sizeof(float));
    }
  }

  // "vnni", "avx2" or "fbgemm": the GEMM this layer runs.
  std::string gemm() const {
    return gemm_ == Gemm::kVnni ? "vnni" : gemm_ == Gemm::kAvx2 ? "avx2" : "fbgemm";
  }
  bool fbgemm() const { return gemm_ == Gemm::kFbgemm; }

  // x: (rows, in) fp32 -> (rows, out) fp32; with ``gelu``, GPT-2's GELU of
  // it. crrg's kernels split their column blocks across threads (TaskPool;
  // each streams its share of the weights once and applies the GELU to its
  // own blocks); every output is computed as with one thread, so the result
  // does not depend on the thread count.
  at::Tensor forward(const at::Tensor& x, bool gelu) const {
    TORCH_CHECK(x.dim() == 2 && x.size(1) == in_ && x.scalar_type() == at::kFloat,
                "Int8Linear: expected (rows, ", in_, ") fp32 input");
    const int64_t rows = x.size(0);
    if (fbgemm_) {  // fbgemm splits its GEMM across torch's threads itself
      at::Tensor out = fbgemm_->apply_dynamic(x, true).contiguous();
      float* op = out.data_ptr<float>();
      for (int64_t r = 0; gelu && r < rows; ++r) gelu_tanh(op + r * out_, out_);
      return out;
    }
    const at::Tensor xc = x.contiguous();
    at::Tensor out = at::empty({rows, out_}, xc.options());
    if (rows == 0) return out;
    // the caller's thread quantises; the workers read these through pointers
    thread_local std::vector<int8_t> q;
    thread_local std::vector<float> scale;
    thread_local std::vector<int32_t> sum128;
    q.resize(rows * in_padded_);
    scale.resize(rows);
    sum128.resize(rows);
    quantize_rows(xc.data_ptr<float>(), rows, in_, in_padded_,
                  gemm_ == Gemm::kVnni ? 127.f : kAvx2Levels, q.data(), scale.data(),
                  sum128.data());
#ifdef CRRG_VNNI
    if (gemm_ == Gemm::kVnni)
      run_blocks(kVnniBlocks.data(), kMaxRows, packed_.data(), q.data(),
                 scale.data(), sum128.data(), rows, out.data_ptr<float>(), gelu);
#endif
#ifdef CRRG_AVX2
    if (gemm_ == Gemm::kAvx2)
      run_blocks(kAvx2Blocks.data(), kAvx2Rows, packed_.data(), q.data(),
                 scale.data(), sum128.data(), rows, out.data_ptr<float>(), gelu);
#endif
    return out;
  }

  at::Tensor operator()(const at::Tensor& x) const { return forward(x, false); }

 private:
  // The column blocks of crrg's kernels across threads: kernel[n - 1]
  // multiplies n <= max_rows rows by one block of ``block_cols_`` columns,
  // of weights ``packed``; q (rows, in_padded_) int8 activations, their
  // per-row scale and 128 x sum; out (rows, out_).
  template <typename Kernel>
  void run_blocks(const Kernel* kernel, int64_t max_rows, const uint8_t* packed,
                  const int8_t* q, const float* a_scale, const int32_t* a_sum,
                  int64_t rows, float* op, bool gelu) const {
    const auto* a = reinterpret_cast<const int32_t*>(q);
    const int64_t lda = in_padded_ / 4, chunks = (rows + max_rows - 1) / max_rows;
    const int64_t most =
        kTaskMacs / (std::max<int64_t>(rows, 8) * in_padded_ * block_cols_);
    // at least kGrainBlocks 32-column blocks' columns per task
    const int64_t grain = kGrainBlocks * kBlockCols / block_cols_;
    TaskPool::run(blocks_, grain, [&](int64_t j0, int64_t j1) {
      for (int64_t j = j0; j < j1; ++j) {
        const uint8_t* b = packed + j * in_padded_ * block_cols_;
        const int64_t c0 = j * block_cols_, cols = std::min(block_cols_, out_ - c0);
        // chunks of near-equal size, e.g. 40 rows = 4 x 10
        for (int64_t c = 0, r0 = 0; c < chunks; ++c) {
          const int64_t n = (rows - r0) / (chunks - c);
          kernel[n - 1](a + r0 * lda, lda, b, a_scale + r0, a_sum + r0,
                        w_scale_.data() + c0, bias_.data() + c0,
                        op + r0 * out_ + c0, out_, cols);
          r0 += n;
        }
        // per block while it is in L1 (the same calls at any thread count)
        if (gelu)
          for (int64_t r = 0; r < rows; ++r) gelu_tanh(op + r * out_ + c0, cols);
      }
    }, true, std::max(grain, most));
  }

  int64_t out_, in_, in_padded_ = 0, blocks_ = 0, block_cols_ = 0;
  Gemm gemm_;
  Packed fbgemm_;
  std::vector<uint8_t> packed_;
  std::vector<float> w_scale_, bias_;
};

class Int8GPT2 {
 public:
  // norms: per layer ln_1 weight, bias, ln_2 weight, bias, then ln_f's two;
  // qweights: per layer c_attn, attn.c_proj, c_fc, mlp.c_proj as (out, in)
  // per-channel qint8, then the LM head; biases: the 4 per layer (fp32);
  // gemm: the GEMM asked for (Int8Linear; "crrg": the best of crrg's
  // kernels for the CPU, cpu_isa).
  Int8GPT2(int64_t heads, double eps, at::Tensor wte, at::Tensor wpe,
           std::vector<at::Tensor> norms, std::vector<at::Tensor> qweights,
           std::vector<at::Tensor> biases, const std::string& gemm)
      : heads_(heads), eps_(static_cast<float>(eps)), wte_(wte), wpe_(wpe),
        norms_(std::move(norms)), avx512_(cpu_isa() >= kAvx512) {
    embed_ = wte_.size(1);
    layers_ = static_cast<int64_t>(biases.size()) / 4;
    TORCH_CHECK(heads_ > 0 && embed_ % heads_ == 0, "Int8GPT2: bad head count");
    TORCH_CHECK(static_cast<int64_t>(biases.size()) == 4 * layers_ &&
                    static_cast<int64_t>(qweights.size()) == 4 * layers_ + 1 &&
                    static_cast<int64_t>(norms_.size()) == 4 * layers_ + 2,
                "Int8GPT2: expected 4 biases, 4 weights and 4 norms per layer, "
                "plus the LM head and ln_f");
    for (auto& t : norms_) t = t.contiguous().to(at::kFloat);
    wte_ = wte_.contiguous().to(at::kFloat);
    wpe_ = wpe_.contiguous().to(at::kFloat);
    TORCH_CHECK(wte_.dim() == 2 && wpe_.dim() == 2 && wpe_.size(1) == embed_,
                "Int8GPT2: wte and wpe must be (n, embed)");
    for (int64_t i = 0; i < 4 * layers_; ++i)
      linears_.emplace_back(qweights[i], biases[i], gemm);
    linears_.emplace_back(qweights.back(), std::nullopt, gemm);  // LM head
  }

  // "vnni", "avx2" or "fbgemm": the GEMM the step runs.
  std::string gemm() const { return linears_.front().gemm(); }

  // beam_candidates on the threads the step's own loops use.
  std::tuple<at::Tensor, at::Tensor> candidates(const at::Tensor& logits,
                                                const at::Tensor& beam_scores,
                                                int64_t count) const {
    return beam_candidates(logits, beam_scores, count, !linears_.front().fbgemm());
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
    TORCH_CHECK(ids.dim() == 1 && ids.scalar_type() == at::kLong && pos < wpe_.size(0),
                "Int8GPT2.step: ids must be (B,) int64, pos a row of wpe");
    // x = wte[ids] + wpe[pos] as plain loops: at 40 rows torch's
    // index_select and add_ each opened an OpenMP region, whose threads then
    // spin on the cores the step's pool needs
    at::Tensor x = at::empty({b, embed_}, wte_.options());
    float* xp = x.data_ptr<float>();
    const at::Tensor idc = ids.contiguous();
    const int64_t* idp = idc.data_ptr<int64_t>();
    const float* wp = wpe_.data_ptr<float>() + pos * embed_;
    for (int64_t r = 0; r < b; ++r) {
      TORCH_CHECK(idp[r] >= 0 && idp[r] < wte_.size(0), "Int8GPT2.step: token id ",
                  idp[r], " outside the vocabulary");
      const float* er = wte_.data_ptr<float>() + idp[r] * embed_;
      for (int64_t i = 0; i < embed_; ++i) xp[r * embed_ + i] = er[i] + wp[i];
    }
    at::Tensor h = at::empty_like(x), att = at::empty_like(x);
    float* hp = h.data_ptr<float>();
    auto* base = reinterpret_cast<uint16_t*>(cache.data_ptr());
    const int64_t half = rows * heads_ * slots * dim;  // keys, then values
    at::Tensor delta;  // the previous layer's MLP output, added to x
    for (int64_t l = 0; l < layers_; ++l) {
      const at::Tensor* n = &norms_[4 * l];
      add_layer_norm(xp, delta.defined() ? delta.data_ptr<float>() : nullptr,
                     n[0].data_ptr<float>(), n[1].data_ptr<float>(), hp, b,
                     embed_, eps_);
      at::Tensor y = linears_[4 * l](h);
      uint16_t* keys = base + 2 * l * half;
      attend(y.data_ptr<float>(), keys, keys + half, tp, att.data_ptr<float>(),
             b, heads_, slots, dim, pos, scale, !linears_.front().fbgemm(), avx512_);
      delta = linears_[4 * l + 1](att);
      add_layer_norm(xp, delta.data_ptr<float>(), n[2].data_ptr<float>(),
                     n[3].data_ptr<float>(), hp, b, embed_, eps_);
      delta = linears_[4 * l + 3](linears_[4 * l + 2].forward(h, true));
    }
    const at::Tensor* f = &norms_[4 * layers_];
    add_layer_norm(xp, delta.data_ptr<float>(), f[0].data_ptr<float>(),
                   f[1].data_ptr<float>(), hp, b, embed_, eps_);
    return linears_.back()(h);
  }

 private:
  int64_t heads_, embed_ = 0, layers_ = 0;
  float eps_;
  at::Tensor wte_, wpe_;
  std::vector<at::Tensor> norms_;
  bool avx512_;  // the attention's AVX-512 version (cpu_isa)
  std::vector<Int8Linear> linears_;  // 4 per layer, then the LM head
};

}  // namespace

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
  pybind11::class_<Int8GPT2>(m, "Int8GPT2")
      .def(pybind11::init<int64_t, double, at::Tensor, at::Tensor, std::vector<at::Tensor>,
                          std::vector<at::Tensor>, std::vector<at::Tensor>,
                          std::string>())
      .def("step", &Int8GPT2::step,
           pybind11::call_guard<pybind11::gil_scoped_release>())
      .def("beam_candidates", &Int8GPT2::candidates,
           pybind11::call_guard<pybind11::gil_scoped_release>())
      .def_property_readonly("gemm", &Int8GPT2::gemm);
  pybind11::class_<Int8Linear>(m, "Int8Linear")
      .def(pybind11::init<at::Tensor, std::optional<at::Tensor>, std::string>())
      .def("__call__", &Int8Linear::operator(),
           pybind11::call_guard<pybind11::gil_scoped_release>())
      .def_property_readonly("gemm", &Int8Linear::gemm);
  m.def("cpu_has_vnni", &cpu_has_vnni);
  m.def("cpu_isa", &cpu_isa_name);
  m.def("argmax_rows", &argmax_rows);
}
