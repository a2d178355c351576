// Small row-major products with register-blocked accumulators, written with the GCC/Clang vector
// extension: VW floats a vector, the machine's widest (AVX-512 16, AVX 8, else 4 as SSE/NEON).
#if defined(__AVX512F__)
constexpr int VW = 16;
#elif defined(__AVX__)
constexpr int VW = 8;
#else
constexpr int VW = 4;
#endif
typedef float vec __attribute__((vector_size(VW * 4), aligned(4)));

inline vec loadv(const float* p) { return *reinterpret_cast<const vec*>(p); }
inline void storev(float* p, vec v) { *reinterpret_cast<vec*>(p) = v; }

// C[0:R, 0:W] (+)= A[0:R, :k] B[:k, 0:W]: R x W / VW accumulators stay in registers over k
template <int R, int W>
inline void block(const float* A, int64_t ars, int64_t acs, const float* B, int64_t ldb, float* C, int64_t ldc,
                  int64_t k, bool acc) {
  constexpr int NV = W / VW;
  vec c[R][NV];
  for (int r = 0; r < R; ++r)
    for (int v = 0; v < NV; ++v) c[r][v] = acc ? loadv(C + r * ldc + VW * v) : vec{};
  for (int64_t p = 0; p < k; ++p) {
    vec b[NV];
    for (int v = 0; v < NV; ++v) b[v] = loadv(B + p * ldb + VW * v);
    for (int r = 0; r < R; ++r) {
      const float a = A[r * ars + p * acs];
      for (int v = 0; v < NV; ++v) c[r][v] += a * b[v];
    }
  }
  for (int r = 0; r < R; ++r)
    for (int v = 0; v < NV; ++v) storev(C + r * ldc + VW * v, c[r][v]);
}

// block<r, W> for a row count r known only at run time (1 <= r <= R)
template <int R, int W>
inline void block_rows(int r, const float* A, int64_t ars, int64_t acs, const float* B, int64_t ldb, float* C,
                       int64_t ldc, int64_t k, bool acc) {
  if constexpr (R > 1) {
    if (r < R) return block_rows<R - 1, W>(r, A, ars, acs, B, ldb, C, ldc, k, acc);
  }
  block<R, W>(A, ars, acs, B, ldb, C, ldc, k, acc);
}

// W columns of C, every row, in row blocks of at most R, as even as they can be (n = 10 with
// R = 6: two blocks of 5, not 6 + 4 or 4 + 4 + 1 + 1: a block of few rows reloads B per row)
template <int R, int W>
inline void cols(const float* A, int64_t ars, int64_t acs, const float* B, int64_t ldb, float* C,
                 int64_t ldc, int64_t n, int64_t k, bool acc) {
  const int64_t blocks = (n + R - 1) / R;
  if (blocks == 0) return;
  const int64_t rows = (n + blocks - 1) / blocks;  // every block but the last; the last 1..rows
  int64_t i = 0;
  for (; i + rows <= n; i += rows)
    block_rows<R, W>(static_cast<int>(rows), A + i * ars, ars, acs, B, ldb, C + i * ldc, ldc, k, acc);
  if (i < n) block_rows<R, W>(static_cast<int>(n - i), A + i * ars, ars, acs, B, ldb, C + i * ldc, ldc, k, acc);
}

// C (n x m, row stride ldc) = (acc ? C : 0) + A B: B (k x m, row stride ldb), C row-major; A (n x k)
// at A[i * ars + p * acs] (a transposed A is a swap of its strides: its elements are broadcast).
// Column panels as wide as the registers allow (accumulators + one row of B within the register
// file: 32 vector registers with AVX-512, 16 otherwise), then single columns.
inline void gemm(const float* A, int64_t ars, int64_t acs, const float* B, int64_t ldb, float* C,
                 int64_t ldc, int64_t n, int64_t k, int64_t m, bool acc) {
  int64_t j = 0;
#if defined(__AVX512F__)
  for (; j + 64 <= m; j += 64) cols<6, 64>(A, ars, acs, B + j, ldb, C + j, ldc, n, k, acc);
  for (; j + 32 <= m; j += 32) cols<12, 32>(A, ars, acs, B + j, ldb, C + j, ldc, n, k, acc);
  for (; j + 16 <= m; j += 16) cols<12, 16>(A, ars, acs, B + j, ldb, C + j, ldc, n, k, acc);
#else
  for (; j + 4 * VW <= m; j += 4 * VW) cols<3, 4 * VW>(A, ars, acs, B + j, ldb, C + j, ldc, n, k, acc);
  for (; j + 2 * VW <= m; j += 2 * VW) cols<6, 2 * VW>(A, ars, acs, B + j, ldb, C + j, ldc, n, k, acc);
  for (; j + VW <= m; j += VW) cols<12, VW>(A, ars, acs, B + j, ldb, C + j, ldc, n, k, acc);
#endif
  for (; j < m; ++j)  // columns left over (m not a multiple of the vector width)
    for (int64_t i = 0; i < n; ++i) {
      float s = acc ? C[i * ldc + j] : 0.f;
      for (int64_t p = 0; p < k; ++p) s += A[i * ars + p * acs] * B[p * ldb + j];
      C[i * ldc + j] = s;
    }
}
