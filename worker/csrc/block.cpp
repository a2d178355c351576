// The training passes of worker/passes.py for CPU float32 ensembles, in one compiled kernel:
// every member's forward, loss, divergence check, backward and gradient step, member by member
// (so a member's units stay in cache from its forward to its step), members split between the
// intra-op threads. Loaded by worker/native.py; the maths and shapes are those of passes.py:
//   h (N, D) a member's state; a block's folded units held as UhT = (U / sqrt(D))^T (D, M) and
//   sV = s V (M, D), one layout each, chosen so that every product is C += A B with B's rows
//   contiguous (A's strides are free): the forward products are h UhT and a sV; the backward runs
//   in the samples' transposed space (gT = g^T (D, Np), dpreT (M, Np), Np = N rounded up to the
//   vector width, zero-padded), where sV and UhT serve as A.
// Block l: h^l = h^{l-1} + act(h^{l-1} UhT) sV. Tensors are (L[+1], E, ...) as in passes.py.

#include <torch/extension.h>
#include <ATen/Parallel.h>

#include <atomic>
#include <cmath>
#include <vector>

#include "gemm.h"

namespace {

// tanh to within 5 ulp (2.8e-7 absolute, measured over [-10, 10] against float64 tanh): Eigen's
// rational approximation (generic_fast_tanh_float), clamped where tanh rounds to +-1. NaN passes
// through (both comparisons fail), +-inf gives +-1, as tanh. It vectorises, unlike std::tanh.
inline float fast_tanh(float x) {
  const float c = 7.90531110763549805f;
  x = x < -c ? -c : (x > c ? c : x);
  const float x2 = x * x;
  float p = -2.76076847742355e-16f;
  p = p * x2 + 2.00018790482477e-13f;
  p = p * x2 + -8.60467152213735e-11f;
  p = p * x2 + 5.12229709037114e-08f;
  p = p * x2 + 1.48572235717979e-05f;
  p = p * x2 + 6.37261928875436e-04f;
  p = p * x2 + 4.89352455891786e-03f;
  p = x * p;
  float q = 1.19825839466702e-06f;
  q = q * x2 + 1.18534705686654e-04f;
  q = q * x2 + 2.26843463243900e-03f;
  q = q * x2 + 4.89352518554385e-03f;
  return std::fabs(x) < 0.0004f ? x : p / q;
}

// false if any of x[0:n] is NaN or +-inf (x * 0 is 0 for every finite x, NaN otherwise); whole
// vectors summed lane by lane (a scalar sum would wait on each addition)
inline bool all_finite(const float* x, int64_t n) {
  vec z{};
  int64_t i = 0;
  for (; i + VW <= n; i += VW) z += loadv(x + i) * 0.f;
  float t = 0.f;
  for (int v = 0; v < VW; ++v) t += z[v];
  for (; i < n; ++i) t += x[i] * 0.f;
  return t == 0.f;
}

struct Shape {
  int64_t L, E, N, D, M;
};

void check(const torch::Tensor& t, const char* name) {
  TORCH_CHECK(t.device().is_cpu() && t.scalar_type() == torch::kFloat32 && t.is_contiguous(),
              name, " must be a contiguous CPU float32 tensor");
}

// body(e, scratch) for every member e < E, the intra-op threads taking members as they come free
// (an atomic counter: a member that stops early frees its thread for the next); make() builds each
// thread's scratch buffers once.
template <class Make, class Body>
void each_member(int64_t E, Make make, Body body) {
  std::atomic<int64_t> next{0};  // the next member no thread has taken
  at::parallel_for(0, at::get_num_threads(), 1, [&](int64_t, int64_t) {
    auto scratch = make();
    for (int64_t e = next++; e < E; e = next++) body(e, scratch);
  });
}

// Member e's forward from hs[0, e] (filled): hs[l, e] and acts[l - 1, e] for every block, and
// the pre-activations into pre (L, E, N, M) when given.
void member_forward(const Shape& s, int64_t e, const float* ut, const float* sv, float* h, float* a, float* pre,
                    bool tanh_act) {
  const int64_t N = s.N, D = s.D, M = s.M, E = s.E;
  for (int64_t l = 0; l < s.L; ++l) {
    const int64_t le = l * E + e;
    const float* hin = h + le * N * D;
    float* hout = h + (le + E) * N * D;
    float* al = a + le * N * M;
    gemm(hin, D, 1, ut + le * M * D, M, al, M, N, D, M, false);  // h Uh^T, (N, M)
    if (pre) std::copy(al, al + N * M, pre + le * N * M);
    if (tanh_act)
      for (int64_t i = 0; i < N * M; ++i) al[i] = fast_tanh(al[i]);
    std::copy(hin, hin + N * D, hout);
    gemm(al, M, 1, sv + le * M * D, D, hout, D, N, M, D, true);  // h + a sV, (N, D)
  }
}

}  // namespace

// The folded units from the initial ones (worker/passes.py folded): member e's
// UhT = (c U0[:, rows[e]])^T (L, E, D, M) and sV = s[e] V0[:, rows[e]] (L, E, M, D), with U0, V0
// (L, S, M, D) the S distinct draws (worker/resnet.py draw_units). One pass over the draws, block
// by block between the threads (each output page first written by the thread that uses it).
void fold(torch::Tensor U0, torch::Tensor V0, torch::Tensor s, double c, torch::Tensor rows, torch::Tensor UhT,
          torch::Tensor sV) {
  for (auto* t : {&U0, &V0, &s, &UhT, &sV}) check(*t, "every tensor");
  TORCH_CHECK(rows.scalar_type() == torch::kLong && rows.is_contiguous(), "rows must be contiguous int64");
  const int64_t L = sV.size(0), E = sV.size(1), M = sV.size(2), D = sV.size(3), S = U0.size(1);
  const float* u = U0.data_ptr<float>();
  const float* v = V0.data_ptr<float>();
  const float* sc = s.data_ptr<float>();
  const int64_t* row = rows.data_ptr<int64_t>();
  float* ut = UhT.data_ptr<float>();
  float* sv = sV.data_ptr<float>();
  const float cf = static_cast<float>(c);
  at::parallel_for(0, L * E, 1, [&](int64_t b0, int64_t b1) {
    for (int64_t b = b0; b < b1; ++b) {
      const int64_t e = b % E;
      const float se = sc[e];
      const int64_t o = b * M * D, i = (b / E * S + row[e]) * M * D;
      for (int64_t j = 0; j < M * D; ++j) sv[o + j] = v[i + j] * se;
      for (int64_t m = 0; m < M; ++m)
        for (int64_t d = 0; d < D; ++d) ut[o + d * M + m] = u[i + m * D + d] * cf;
    }
  });
}

// Every member's forward (worker/passes.py forward_cached): hs (L+1, E, N, D) with hs[0] filled,
// acts (L, E, N, M) written; pre (L, E, N, M), or an empty tensor, the pre-activations.
void forward(torch::Tensor UhT, torch::Tensor sV, torch::Tensor hs, torch::Tensor acts, torch::Tensor pre,
             bool tanh_act) {
  for (auto* t : {&UhT, &sV, &hs, &acts}) check(*t, "every tensor");
  const Shape s{sV.size(0), sV.size(1), hs.size(2), sV.size(3), sV.size(2)};
  if (pre.numel()) check(pre, "pre");
  const float* ut = UhT.data_ptr<float>();
  const float* sv = sV.data_ptr<float>();
  float* h = hs.data_ptr<float>();
  float* a = acts.data_ptr<float>();
  float* pr = pre.numel() ? pre.data_ptr<float>() : nullptr;
  at::parallel_for(0, s.E, 1, [&](int64_t e0, int64_t e1) {
    for (int64_t e = e0; e < e1; ++e) member_forward(s, e, ut, sv, h, a, pr, tanh_act);
  });
}

// Steps k0 .. k0 + K - 1 of every member (the body of worker/train.py's loop), member-major: a
// member takes its K steps one after the other while its units are in cache (at D = M = 64, L = 32
// they are 1 MiB, a core's L2; step-major order swept every member's units from memory each step,
// ~15% slower), and the threads take the members as they come free (one that diverges stops early).
// Step k of member e:
//   the forward pass from h0 (N, D), except at k = 0 (the caller's forward filled hs, acts);
//   mse[e, j] = mean (f - Y)^2 with f = h^L W_U / D (W_U (D, d_out), Y (N, d_out)), j = k - k0;
//   bad: mse or h^L not finite, units not finite (nonfinite[e], set by the previous step's
//   update), or mse > factor * the reference: loss0[e], or at k0 = 0 the member's own step-0 loss
//   (step 0 itself is checked for finiteness only). At the first bad step bad_at[e] = j and the
//   member stops (mse[e, j + 1:] NaN, its units as the step before left them); bad_at[e] = -1 if none;
//   otherwise the gradient at h^L, g = (f - Y) W_U^T * grad_scale, then down the blocks the chain
//   and the step in place, block by block (a block's gradients need only its own old units and
//   the chain above it), transposed (gT = g^T, dpreT = dpre^T):
//     dpreT = (sV gT) * act'(pre)^T,  gT <- gT + UhT dpreT,  sV -= rate_V a^T g,  UhT -= rate_U h^T dpre
//   and nonfinite[e] set where an updated unit is NaN or infinite.
void steps(torch::Tensor UhT, torch::Tensor sV, torch::Tensor hs, torch::Tensor acts, torch::Tensor h0,
           torch::Tensor W_U, torch::Tensor Y, torch::Tensor loss0, torch::Tensor rate_U, torch::Tensor rate_V,
           torch::Tensor nonfinite, torch::Tensor mse, torch::Tensor bad_at, double grad_scale, double factor,
           bool tanh_act, int64_t k0) {
  for (auto* t : {&UhT, &sV, &hs, &acts, &h0, &W_U, &Y, &loss0, &rate_U, &rate_V, &mse})
    check(*t, "every float tensor");
  TORCH_CHECK(nonfinite.scalar_type() == torch::kBool && nonfinite.is_contiguous(),
              "nonfinite must be contiguous bool");
  TORCH_CHECK(bad_at.scalar_type() == torch::kLong && bad_at.is_contiguous(), "bad_at must be contiguous int64");
  const Shape s{sV.size(0), sV.size(1), hs.size(2), sV.size(3), sV.size(2)};
  const int64_t L = s.L, E = s.E, N = s.N, D = s.D, M = s.M, O = Y.size(1), K = mse.size(1);
  TORCH_CHECK(mse.size(0) == E && bad_at.numel() == E, "mse must be (E, K) and bad_at (E,)");
  const int64_t Np = (N + VW - 1) / VW * VW;  // the transposed samples' row length, whole vectors
  float* ut = UhT.data_ptr<float>();
  float* sv = sV.data_ptr<float>();
  float* h = hs.data_ptr<float>();
  float* a = acts.data_ptr<float>();
  const float* x0 = h0.data_ptr<float>();
  const float* wu = W_U.data_ptr<float>();
  const float* y = Y.data_ptr<float>();
  const float* l0 = loss0.data_ptr<float>();
  const float* ru = rate_U.data_ptr<float>();
  const float* rv = rate_V.data_ptr<float>();
  bool* nf = nonfinite.data_ptr<bool>();
  float* out_mse = mse.data_ptr<float>();
  int64_t* out_bad = bad_at.data_ptr<int64_t>();
  const float inv_D = 1.f / static_cast<float>(D);
  struct Scratch {  // gT, g2T (D, Np) and dpreT (M, Np): columns N..Np stay 0 (every product keeps them 0)
    std::vector<float> f, wt, g, gT, g2T, dpreT, gv, du;
  };
  const auto make = [&] {
    Scratch b{std::vector<float>(N * O), std::vector<float>(O * D), std::vector<float>(N * D),
              std::vector<float>(D * Np, 0.f), std::vector<float>(D * Np, 0.f), std::vector<float>(M * Np, 0.f),
              std::vector<float>(N * D), std::vector<float>(N * M)};
    for (int64_t o = 0; o < O; ++o)
      for (int64_t d = 0; d < D; ++d) b.wt[o * D + d] = wu[d * O + o] * static_cast<float>(grad_scale);
    return b;
  };
  each_member(E, make, [&](int64_t e, Scratch& b) {
    auto &f = b.f, &wt = b.wt, &g = b.g, &gT = b.gT, &g2T = b.g2T, &dpreT = b.dpreT, &gv = b.gv, &du = b.du;
    float* mse_e = out_mse + e * K;
    std::fill(mse_e, mse_e + K, std::nanf(""));
    out_bad[e] = -1;
    float ref = k0 == 0 ? INFINITY : l0[e];
    for (int64_t j = 0; j < K; ++j) {
      if (k0 + j > 0) {
        std::copy(x0, x0 + N * D, h + e * N * D);
        member_forward(s, e, ut, sv, h, a, nullptr, tanh_act);
      }
      const float* hL = h + (L * E + e) * N * D;
      gemm(hL, D, 1, wu, O, f.data(), O, N, D, O, false);  // h^L W_U, (N, d_out)
      double sq = 0.0;
      for (int64_t i = 0; i < N * O; ++i) {
        f[i] = f[i] * inv_D - y[i];  // f - Y
        sq += static_cast<double>(f[i]) * f[i];
      }
      const float m = static_cast<float>(sq / static_cast<double>(N * O));
      mse_e[j] = m;
      if (!std::isfinite(m) || !all_finite(hL, N * D) || nf[e] || m > factor * ref) {
        out_bad[e] = j;
        break;
      }
      if (k0 + j == 0) ref = m;  // the reference of the later steps: the initial loss
      gemm(f.data(), O, 1, wt.data(), D, g.data(), D, N, O, D, false);  // (f - Y) W_U^T grad_scale
      for (int64_t n = 0; n < N; ++n)
        for (int64_t d = 0; d < D; ++d) gT[d * Np + n] = g[n * D + d];
      const float mv = -rv[e], mu = -ru[e];
      bool finite = true;
      for (int64_t l = L - 1; l >= 0; --l) {
        const int64_t le = l * E + e;
        float* UT = ut + le * M * D;
        float* V = sv + le * M * D;
        const float* hin = h + le * N * D;
        const float* al = a + le * N * M;
        gemm(V, D, 1, gT.data(), Np, dpreT.data(), Np, M, D, Np, false);  // sV g^T, (M, Np)
        if (tanh_act)
          for (int64_t mm = 0; mm < M; ++mm)
            for (int64_t n = 0; n < N; ++n) dpreT[mm * Np + n] *= 1.f - al[n * M + mm] * al[n * M + mm];
        if (l) {  // g^{l-1} = g^l + dpre Uh, transposed: gT + UhT dpreT, through the old UhT
          std::copy(gT.begin(), gT.end(), g2T.begin());
          gemm(UT, M, 1, dpreT.data(), Np, g2T.data(), Np, D, M, Np, true);
        }
        for (int64_t n = 0; n < N; ++n)
          for (int64_t d = 0; d < D; ++d) gv[n * D + d] = mv * gT[d * Np + n];
        for (int64_t n = 0; n < N; ++n)
          for (int64_t mm = 0; mm < M; ++mm) du[n * M + mm] = mu * dpreT[mm * Np + n];
        gemm(al, 1, M, gv.data(), D, V, D, M, N, D, true);    // sV += a^T (-rate_V g)
        gemm(hin, 1, D, du.data(), M, UT, M, D, N, M, true);  // Uh^T += h^T (-rate_U dpre)
        finite = finite && all_finite(UT, M * D) && all_finite(V, M * D);
        if (l) std::swap(gT, g2T);
      }
      nf[e] = !finite;
    }
  });
}

// The diagnostics' differences are formed as passes.py forms them, a rounded product then a
// subtraction (no fused multiply-add): with no step taken, Uh - c U0 is then exactly 0.
#pragma GCC push_options
#pragma GCC optimize("fp-contract=off")

// sum of squares of x[0:n] - c * y[0:n] (y null: of x), lanes summed in float, the total in double
double sq_diff(const float* x, const float* y, float c, int64_t n) {
  vec z{};
  int64_t i = 0;
  double t = 0.0;
  if (y) {
    const vec cv = vec{} + c;
    for (; i + VW <= n; i += VW) {
      const vec d = loadv(x + i) - cv * loadv(y + i);
      z += d * d;
    }
    for (; i < n; ++i) t += static_cast<double>(x[i] - c * y[i]) * (x[i] - c * y[i]);
  } else {
    for (; i + VW <= n; i += VW) z += loadv(x + i) * loadv(x + i);
    for (; i < n; ++i) t += static_cast<double>(x[i]) * x[i];
  }
  for (int v = 0; v < VW; ++v) t += z[v];
  return t;
}

// The sums of squares behind member e's trained-state diagnostics (worker/diagnostics.py), from
// its trained units and pre-activations and its initial ones (ensemble slot j, draw r), into
// acc[6] (forward_diagnose below says which). Not inlined: it keeps this region's float rules.
__attribute__((noinline)) void member_sums(const Shape& sh, int64_t e, int64_t j, int64_t r, int64_t E0, int64_t S,
                                           const float* ut, const float* sv, const float* u0, const float* v0,
                                           float s0j, const float* hst, const float* p0, const float* p, float cf,
                                           float* dut, float* local, double* acc) {
  const int64_t L = sh.L, E = sh.E, M = sh.M, D = sh.D, N = sh.N;
  for (int64_t l = 0; l < L; ++l) {
    const float* UT = ut + (l * E + e) * M * D;
    const float* Ui = u0 + (l * S + r) * M * D;
    const float* Vi = v0 + (l * S + r) * M * D;
    acc[0] += sq_diff(p + (l * E + e) * N * M, p0 + (l * E0 + j) * N * M, 1.f, N * M);
    for (int64_t m = 0; m < M; ++m)  // dUh, transposed (D, M): B of the product below
      for (int64_t d = 0; d < D; ++d) dut[d * M + m] = UT[d * M + m] - cf * Ui[m * D + d];
    gemm(hst + (l * E0 + j) * N * D, D, 1, dut, M, local, M, N, D, M, false);
    acc[1] += sq_diff(local, nullptr, 0.f, N * M);
    acc[2] += sq_diff(dut, nullptr, 0.f, D * M);
    acc[3] += sq_diff(sv + (l * E + e) * M * D, Vi, s0j, M * D);
    acc[4] += sq_diff(Ui, nullptr, 0.f, M * D);
    acc[5] += sq_diff(Vi, nullptr, 0.f, M * D);
  }
}

#pragma GCC pop_options

// The last forward pass of every member and the sums of squares behind its trained-state
// diagnostics (worker/diagnostics.py), member by member, so each member's units are read once
// while in cache: the forward from h0 (N, D) into hs (L+1, E, N, D), acts and the trained
// pre-activations pre (L, E, N, M), as forward(); then for member e (ensemble slot j = index[e]; the
// initial states hs0 (L+1, E0, N, D), pre0 (L, E0, N, M) and multipliers s0 (E0,) are the whole
// ensemble's, slot j's units are U0, V0[:, rows[j]] of the S draws (L, S, M, D)), out[e] (E, 6) float64 =
//   [sum_l ||pre_l - pre0_l||^2, sum_l ||h0^{l-1} dUh_l^T||^2, sum_l ||dUh_l||^2, sum_l ||dsV_l||^2,
//    ||U0||^2, ||V0||^2]  with dUh = Uh - c U0 (c = 1 / sqrt(D); the trained Uh as UhT (L, E, D, M))
//    and dsV = sV - s0 V0.
// The unit move's product is formed from the difference (not as a difference of products), so a
// tiny move keeps its relative precision.
void forward_diagnose(torch::Tensor UhT, torch::Tensor sV, torch::Tensor hs, torch::Tensor acts, torch::Tensor h0,
                      bool tanh_act, torch::Tensor U0, torch::Tensor V0, torch::Tensor s0, torch::Tensor index,
                      torch::Tensor rows, torch::Tensor hs0, torch::Tensor pre0, torch::Tensor pre, double c,
                      torch::Tensor out) {
  for (auto* t : {&UhT, &sV, &hs, &acts, &h0, &U0, &V0, &s0, &hs0, &pre0, &pre}) check(*t, "every float tensor");
  for (auto* t : {&index, &rows})
    TORCH_CHECK(t->scalar_type() == torch::kLong && t->is_contiguous(), "index and rows must be contiguous int64");
  TORCH_CHECK(out.scalar_type() == torch::kFloat64 && out.is_contiguous(), "out must be contiguous float64");
  const Shape sh{sV.size(0), sV.size(1), hs.size(2), sV.size(3), sV.size(2)};
  const int64_t E = sh.E, M = sh.M, D = sh.D, N = sh.N;
  const int64_t E0 = pre0.size(1), S = U0.size(1);
  const float* ut = UhT.data_ptr<float>();
  const float* sv = sV.data_ptr<float>();
  float* h = hs.data_ptr<float>();
  float* a = acts.data_ptr<float>();
  const float* x0 = h0.data_ptr<float>();
  const float* u0 = U0.data_ptr<float>();
  const float* v0 = V0.data_ptr<float>();
  const float* sc = s0.data_ptr<float>();
  const int64_t* slot = index.data_ptr<int64_t>();
  const int64_t* row = rows.data_ptr<int64_t>();
  const float* hst = hs0.data_ptr<float>();
  const float* p0 = pre0.data_ptr<float>();
  float* p = pre.data_ptr<float>();
  double* o = out.data_ptr<double>();
  const float cf = static_cast<float>(c);
  struct Scratch {
    std::vector<float> dut, local;  // dUh^T (D, M) and its product with the initial states (N, M)
  };
  const auto make = [&] { return Scratch{std::vector<float>(D * M), std::vector<float>(N * M)}; };
  each_member(E, make, [&](int64_t e, Scratch& b) {
    std::copy(x0, x0 + N * D, h + e * N * D);
    member_forward(sh, e, ut, sv, h, a, p, tanh_act);
    const int64_t j = slot[e];
    double acc[6] = {0, 0, 0, 0, 0, 0};
    member_sums(sh, e, j, row[j], E0, S, ut, sv, u0, v0, sc[j], hst, p0, p, cf, b.dut.data(), b.local.data(), acc);
    std::copy(acc, acc + 6, o + e * 6);
  });
}

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
  // without the GIL: the loop's other Python threads (progress writes, parts) run meanwhile
  const auto no_gil = py::call_guard<py::gil_scoped_release>();
  m.def("fold", &fold, "the folded units (UhT, sV) from the draws", no_gil);
  m.def("forward", &forward, "every member's forward pass", no_gil);
  m.def("steps", &steps, "K steps of every member: loss, divergence check, backward and update", no_gil);
  m.def("forward_diagnose", &forward_diagnose, "the last forward pass and the diagnostics' sums of squares",
        no_gil);
}
