/* XNOR-popcount kernels of deploy.engine (docs/EXPORT.md, "Engine"), built by deploy/kernels.py at first use with
 * any C99 compiler (GCC or Clang: vector kernels; others: the portable one).
 *
 * Sign bits: 1 = +1, 0 = -1, packed LSB first into 64-bit words along the fan-in; padding bits are 0 in
 * activations and weights alike, so they never count in popcount(a ^ w). For n valid ±1 inputs the dot
 * product is exact: n - 2 * popcount(a XOR w) (the number of agreements minus the disagreements).
 *
 * Every kernel computes the same integers; they differ only in how a word's popcount is taken: portable C (bit
 * arithmetic), the POPCNT instruction, AVX2 (a 4-bit lookup with vpshufb, summed with vpsadbw), AVX-512 VPOPCNTDQ.
 * The vector kernels are compiled for their instruction set with target attributes and chosen at run time, so one
 * build runs on any x86-64 CPU.
 *
 * Besides the popcount products (dense_dot, conv_dot) and the hidden stages' thresholds (sign_pack), the library sums
 * the float32 first layer in a given order of additions (first_sums: the sgemm's, found by deploy/first_order.py) and
 * thresholds it (float_signs). Every function shares its work among a pool of threads kept between calls (parallel).
 */
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "popcount.h"

#if (defined(__GNUC__) || defined(__clang__)) && defined(__x86_64__)
#define X86 1
#include <immintrin.h>
#else
#define X86 0
#endif

#define BLOCK_BYTES (128 * 1024) /* activations of one block of images: kept in L2 while the weights stream past */

static inline int64_t min64(int64_t a, int64_t b) { return a < b ? a : b; }

static inline uint64_t swar_popcount(uint64_t x)
{
    x = x - ((x >> 1) & 0x5555555555555555ULL);
    x = (x & 0x3333333333333333ULL) + ((x >> 2) & 0x3333333333333333ULL);
    x = (x + (x >> 4)) & 0x0f0f0f0f0f0f0f0fULL;
    return (x * 0x0101010101010101ULL) >> 56;
}

/* Each instruction set: VEC (a vector of LANES words), ZERO, LOAD, COUNT(acc, x, r) = acc + per-lane popcounts of
 * x ^ r, SUM (of the lanes), POP (one word's popcount, for the words past the last full vector). */
#define ATTR_portable
#define VEC_portable uint64_t
#define LANES_portable 1
#define ZERO_portable 0
#define LOAD_portable(p) (*(p))
#define COUNT_portable(acc, x, r) ((acc) + swar_popcount((x) ^ (r)))
#define SUM_portable(v) ((int64_t)(v))
#define POP_portable(x) swar_popcount(x)

#if X86
#define ATTR_popcnt __attribute__((target("popcnt")))
#else
#define ATTR_popcnt
#endif
#if defined(__GNUC__) || defined(__clang__)
#define POP_popcnt(x) ((uint64_t)__builtin_popcountll(x))
#else
#define POP_popcnt(x) swar_popcount(x)
#endif
#define VEC_popcnt uint64_t
#define LANES_popcnt 1
#define ZERO_popcnt 0
#define LOAD_popcnt(p) (*(p))
#define COUNT_popcnt(acc, x, r) ((acc) + POP_popcnt((x) ^ (r)))
#define SUM_popcnt(v) ((int64_t)(v))

#if X86
#define ATTR_avx2 __attribute__((target("avx2,popcnt")))
#define VEC_avx2 __m256i
#define LANES_avx2 4
#define ZERO_avx2 _mm256_setzero_si256()
#define LOAD_avx2(p) _mm256_loadu_si256((const __m256i *)(p))
#define COUNT_avx2(acc, x, r) avx2_count(acc, x, r)
#define SUM_avx2(v) avx2_sum(v)
#define POP_avx2(x) ((uint64_t)__builtin_popcountll(x))

static inline ATTR_avx2 __m256i avx2_count(__m256i acc, __m256i x, __m256i r)
{
    const __m256i table = _mm256_setr_epi8(0, 1, 1, 2, 1, 2, 2, 3, 1, 2, 2, 3, 2, 3, 3, 4,
                                           0, 1, 1, 2, 1, 2, 2, 3, 1, 2, 2, 3, 2, 3, 3, 4);
    const __m256i nibble = _mm256_set1_epi8(0x0f);
    const __m256i v = _mm256_xor_si256(x, r);
    const __m256i bytes = _mm256_add_epi8(_mm256_shuffle_epi8(table, _mm256_and_si256(v, nibble)),
                                          _mm256_shuffle_epi8(table, _mm256_and_si256(_mm256_srli_epi16(v, 4), nibble)));
    return _mm256_add_epi64(acc, _mm256_sad_epu8(bytes, _mm256_setzero_si256()));
}

static inline ATTR_avx2 int64_t avx2_sum(__m256i v)
{
    int64_t lanes[4];
    _mm256_storeu_si256((__m256i *)lanes, v);
    return lanes[0] + lanes[1] + lanes[2] + lanes[3];
}

#define ATTR_avx512 __attribute__((target("avx512f,avx512vpopcntdq,popcnt")))
#define VEC_avx512 __m512i
#define LANES_avx512 8
#define ZERO_avx512 _mm512_setzero_si512()
#define LOAD_avx512(p) _mm512_loadu_si512((const void *)(p))
#define COUNT_avx512(acc, x, r) _mm512_add_epi64(acc, _mm512_popcnt_epi64(_mm512_xor_si512(x, r)))
#define SUM_avx512(v) ((int64_t)_mm512_reduce_add_epi64(v))
#define POP_avx512(x) ((uint64_t)__builtin_popcountll(x))
#define HAS_MASK_avx512 1
#define MASKED_avx512(p, m) _mm512_maskz_loadu_epi64(m, (const void *)(p))
#endif
#define HAS_MASK_portable 0
#define HAS_MASK_popcnt 0
#define HAS_MASK_avx2 0
#define MASKED_portable(p, m) ((void)(m), (uint64_t)0)
#define MASKED_popcnt(p, m) ((void)(m), (uint64_t)0)
#define MASKED_avx2(p, m) ((void)(m), ZERO_avx2)
#define BCAST_portable(x) (x)
#define BCAST_popcnt(x) (x)
#if X86
#define BCAST_avx2(x) _mm256_set1_epi64x((long long)(x))
#define BCAST_avx512(x) _mm512_set1_epi64((long long)(x))
#endif

/* SSTORE(out, acc, nvec): out[lane] = n - 2 acc[lane] as int32, for LANES lanes; NVEC(n) is n in every lane. */
#define NVEC_portable(n) (n)
#define NVEC_popcnt(n) (n)
#define SSTORE_portable(out, acc, nv) (*(out) = (int32_t)((nv) - 2 * (int64_t)(acc)))
#define SSTORE_popcnt(out, acc, nv) (*(out) = (int32_t)((nv) - 2 * (int64_t)(acc)))
#if X86
#define NVEC_avx2(n) _mm256_set1_epi64x((long long)(n))
#define SSTORE_avx2(out, acc, nv) avx2_sstore(out, acc, nv)
#define NVEC_avx512(n) _mm512_set1_epi64((long long)(n))
#define SSTORE_avx512(out, acc, nv) \
    _mm256_storeu_si256((__m256i *)(out), _mm512_cvtepi64_epi32(_mm512_sub_epi64(nv, _mm512_slli_epi64(acc, 1))))

static inline ATTR_avx2 void avx2_sstore(int32_t *out, __m256i acc, __m256i nv)
{
    const __m256i s = _mm256_sub_epi64(nv, _mm256_slli_epi64(acc, 1));
    const __m256i low = _mm256_permutevar8x32_epi32(s, _mm256_setr_epi32(0, 2, 4, 6, 0, 2, 4, 6));
    _mm_storeu_si128((__m128i *)out, _mm256_castsi256_si128(low));
}
#endif

/* The float first layer: FVEC holds FLANES float32 sums of FLANES units; SELECT(bits, x, nx) takes x in the lanes
 * whose bit (the lowest FLANES of bits) is 1 and nx = -x in the others: the term x * w of a ±1 weight, exactly. */
#define FVEC_portable float
#define FLANES_portable 1
#define FZERO_portable 0.0f
#define FSET1_portable(x) (x)
#define FADD_portable(a, b) ((a) + (b))
#define FLOAD_portable(p) (*(p))
#define FSTORE_portable(p, v) (*(p) = (v))
#define SELECT_portable(bits, x, nx) (((bits) & 1) ? (x) : (nx))
#define FVEC_popcnt float
#define FLANES_popcnt 1
#define FZERO_popcnt 0.0f
#define FSET1_popcnt(x) (x)
#define FADD_popcnt(a, b) ((a) + (b))
#define FLOAD_popcnt(p) (*(p))
#define FSTORE_popcnt(p, v) (*(p) = (v))
#define SELECT_popcnt(bits, x, nx) (((bits) & 1) ? (x) : (nx))
#if X86
#define FVEC_avx2 __m256
#define FLANES_avx2 8
#define FZERO_avx2 _mm256_setzero_ps()
#define FSET1_avx2(x) _mm256_set1_ps(x)
#define FADD_avx2(a, b) _mm256_add_ps(a, b)
#define FLOAD_avx2(p) _mm256_loadu_ps(p)
#define FSTORE_avx2(p, v) _mm256_storeu_ps(p, v)
#define SELECT_avx2(bits, x, nx) avx2_select((int)((bits) & 0xff), x, nx)

static inline ATTR_avx2 __m256 avx2_select(int bits, __m256 x, __m256 nx)
{
    const __m256i lane = _mm256_setr_epi32(1, 2, 4, 8, 16, 32, 64, 128);
    const __m256i set = _mm256_cmpeq_epi32(_mm256_and_si256(_mm256_set1_epi32(bits), lane), lane);
    return _mm256_blendv_ps(nx, x, _mm256_castsi256_ps(set));
}

#define FVEC_avx512 __m512
#define FLANES_avx512 16
#define FZERO_avx512 _mm512_setzero_ps()
#define FSET1_avx512(x) _mm512_set1_ps(x)
#define FADD_avx512(a, b) _mm512_add_ps(a, b)
#define FLOAD_avx512(p) _mm512_loadu_ps(p)
#define FSTORE_avx512(p, v) _mm512_storeu_ps(p, v)
#define SELECT_avx512(bits, x, nx) _mm512_mask_blend_ps((__mmask16)((bits) & 0xffff), nx, x)
#endif

/* out[i * NU + u] += popcount(a_i ^ w_u) over len words, for NI rows a_i = a + i * as and NU rows w_u = w + u * ws:
 * each loaded weight vector serves NI images, each activation vector NU units. NI and NU are constants, so the
 * compiler unrolls the loops over them and keeps the accumulators in registers. */
#define MICRO(ISA, NI, NU)                                                                                         \
    static ATTR_##ISA void micro_##ISA##_##NI##x##NU(const uint64_t *a, int64_t as, const uint64_t *w, int64_t ws, \
                                                     int64_t len, int64_t *out)                                   \
    {                                                                                                              \
        VEC_##ISA acc[NI][NU];                                                                                     \
        for (int i = 0; i < NI; i++)                                                                               \
            for (int u = 0; u < NU; u++)                                                                           \
                acc[i][u] = ZERO_##ISA;                                                                            \
        int64_t k = 0;                                                                                             \
        for (; k + LANES_##ISA <= len; k += LANES_##ISA) {                                                         \
            VEC_##ISA r[NU];                                                                                       \
            for (int u = 0; u < NU; u++)                                                                           \
                r[u] = LOAD_##ISA(w + u * ws + k);                                                                 \
            for (int i = 0; i < NI; i++) {                                                                         \
                const VEC_##ISA x = LOAD_##ISA(a + i * as + k);                                                    \
                for (int u = 0; u < NU; u++)                                                                       \
                    acc[i][u] = COUNT_##ISA(acc[i][u], x, r[u]);                                                   \
            }                                                                                                      \
        }                                                                                                          \
        if (HAS_MASK_##ISA && k < len) { /* the last, partial vector: masked loads, the rest reads as zeros */    \
            const uint8_t mask = (uint8_t)((1u << (len - k)) - 1);                                                 \
            VEC_##ISA r[NU];                                                                                       \
            for (int u = 0; u < NU; u++)                                                                           \
                r[u] = MASKED_##ISA(w + u * ws + k, mask);                                                         \
            for (int i = 0; i < NI; i++) {                                                                         \
                const VEC_##ISA x = MASKED_##ISA(a + i * as + k, mask);                                            \
                for (int u = 0; u < NU; u++)                                                                       \
                    acc[i][u] = COUNT_##ISA(acc[i][u], x, r[u]);                                                   \
            }                                                                                                      \
            k = len;                                                                                               \
        }                                                                                                          \
        for (int i = 0; i < NI; i++)                                                                               \
            for (int u = 0; u < NU; u++)                                                                           \
                out[i * NU + u] += SUM_##ISA(acc[i][u]);                                                           \
        for (; k < len; k++)                                                                                       \
            for (int i = 0; i < NI; i++)                                                                           \
                for (int u = 0; u < NU; u++)                                                                       \
                    out[i * NU + u] += (int64_t)POP_##ISA(a[i * as + k] ^ w[u * ws + k]);                          \
    }

/* n - 2 p for NI pixels x NV * LANES filters of a convolution, p the popcounts, the filters in the lanes (no sums
 * across lanes): out[i * NV * LANES + f] = n - 2 * (sum over ``runs`` runs r of sum over q < len of
 * popcount(a[r * a_run + i * as + q] ^ w[r * w_run + q * stride + f])). A run is one row of a pixel's taps (kw * words
 * contiguous words of the padded input); the weights are laid out (taps, filters), so a vector load reads one word of
 * LANES filters. */
#define CMICRO(ISA, NI, NV)                                                                                        \
    static ATTR_##ISA void cmicro_##ISA##_##NI(const uint64_t *a, int64_t as, int64_t runs, int64_t a_run,        \
                                               const uint64_t *w, int64_t w_run, int64_t stride, int64_t len,      \
                                               int64_t n, int32_t *out)                                            \
    {                                                                                                              \
        VEC_##ISA acc[NI][NV];                                                                                     \
        for (int i = 0; i < NI; i++)                                                                               \
            for (int v = 0; v < NV; v++)                                                                           \
                acc[i][v] = ZERO_##ISA;                                                                            \
        for (int64_t r = 0; r < runs; r++) {                                                                       \
            const uint64_t *ar = a + r * a_run, *wr = w + r * w_run;                                               \
            for (int64_t q = 0; q < len; q++) {                                                                    \
                VEC_##ISA f[NV];                                                                                   \
                for (int v = 0; v < NV; v++)                                                                       \
                    f[v] = LOAD_##ISA(wr + q * stride + v * LANES_##ISA);                                          \
                for (int i = 0; i < NI; i++) {                                                                     \
                    const VEC_##ISA x = BCAST_##ISA(ar[i * as + q]);                                               \
                    for (int v = 0; v < NV; v++)                                                                   \
                        acc[i][v] = COUNT_##ISA(acc[i][v], x, f[v]);                                               \
                }                                                                                                  \
            }                                                                                                      \
        }                                                                                                          \
        const VEC_##ISA nv = NVEC_##ISA(n);                                                                       \
        for (int i = 0; i < NI; i++)                                                                               \
            for (int v = 0; v < NV; v++)                                                                           \
                SSTORE_##ISA(out + (i * NV + v) * LANES_##ISA, acc[i][v], nv);                                    \
    }

/* The float32 sums of NR rows for one group of 64 units, whose weight bits are bits[k] (bit u: the sign of unit u's
 * weight k, 1 for +1); input k of row i is v[i * vs + at[k]]: out[i * 64 + u] = the sum of the terms ±input in the
 * order of the BLAS's sgemm: for each block [bounds[b], bounds[b + 1]) a sum from 0 in order of k, added to the
 * running total (from 0). Each lane adds its own unit's terms one by one, so vectors change nothing in the rounding. */
#define FMICRO(ISA, NR)                                                                                            \
    static ATTR_##ISA void fmicro_##ISA##_##NR(const float *v, int64_t vs, const int64_t *at, const uint64_t *bits, \
                                               const int64_t *bounds, int64_t blocks, float *out)                  \
    {                                                                                                              \
        enum { NV = 64 / FLANES_##ISA };                                                                          \
        for (int i = 0; i < NR * 64; i++)                                                                          \
            out[i] = 0.0f;                                                                                         \
        for (int64_t b = 0; b < blocks; b++) {                                                                     \
            FVEC_##ISA acc[NR][NV];                                                                                \
            for (int i = 0; i < NR; i++)                                                                           \
                for (int u = 0; u < NV; u++)                                                                       \
                    acc[i][u] = FZERO_##ISA;                                                                       \
            for (int64_t k = bounds[b]; k < bounds[b + 1]; k++) {                                                  \
                const uint64_t word = bits[k];                                                                     \
                for (int i = 0; i < NR; i++) {                                                                     \
                    const float term = v[i * vs + at[k]];                                                          \
                    const FVEC_##ISA x = FSET1_##ISA(term), nx = FSET1_##ISA(-term);                               \
                    for (int u = 0; u < NV; u++)                                                                   \
                        acc[i][u] = FADD_##ISA(acc[i][u], SELECT_##ISA(word >> (u * FLANES_##ISA), x, nx));        \
                }                                                                                                  \
            }                                                                                                      \
            for (int i = 0; i < NR; i++)                                                                           \
                for (int u = 0; u < NV; u++) {                                                                     \
                    float *o = out + i * 64 + u * FLANES_##ISA;                                                    \
                    FSTORE_##ISA(o, FADD_##ISA(FLOAD_##ISA(o), acc[i][u]));                                        \
                }                                                                                                  \
        }                                                                                                          \
    }

/* One output pixel of sign_pack: bit u of bits (words(units), zeroed by the caller) is 1 iff the pooled s' of unit u
 * reaches threshold[u], the pooled s' being the max over the window's pool_h x pool_w pixels (from ``first``, rows
 * ``row`` ints apart, pixels ``units`` apart), or the min for a flipped unit (whose true s = -s'). The vector versions
 * take LANES units at a time, the rest one by one. */
static inline void sign_units(const int32_t *first, int64_t row, int64_t pool_h, int64_t pool_w, int64_t u0,
                              int64_t units, const uint8_t *flipped, const int32_t *threshold, uint64_t *bits)
{
    for (int64_t u = u0; u < units; u++) {
        int32_t high = first[u], low = first[u];
        for (int64_t dy = 0; dy < pool_h; dy++)
            for (int64_t dx = 0; dx < pool_w; dx++) {
                const int32_t v = first[dy * row + dx * units + u];
                high = v > high ? v : high;
                low = v < low ? v : low;
            }
        bits[u / 64] |= (uint64_t)((flipped[u] ? low : high) >= threshold[u]) << (u % 64);
    }
}

typedef void (*signer)(const int32_t *, int64_t, int64_t, int64_t, int64_t, const uint8_t *, const int32_t *,
                       uint64_t *);

static void sign_portable(const int32_t *first, int64_t row, int64_t pool_h, int64_t pool_w, int64_t units,
                          const uint8_t *flipped, const int32_t *threshold, uint64_t *bits)
{
    sign_units(first, row, pool_h, pool_w, 0, units, flipped, threshold, bits);
}

#if X86
static ATTR_avx2 void sign_avx2(const int32_t *first, int64_t row, int64_t pool_h, int64_t pool_w, int64_t units,
                                const uint8_t *flipped, const int32_t *threshold, uint64_t *bits)
{
    int64_t u = 0;
    for (; u + 8 <= units; u += 8) {
        __m256i high = _mm256_loadu_si256((const __m256i *)(first + u)), low = high;
        for (int64_t dy = 0; dy < pool_h; dy++)
            for (int64_t dx = 0; dx < pool_w; dx++) {
                const __m256i v = _mm256_loadu_si256((const __m256i *)(first + dy * row + dx * units + u));
                high = _mm256_max_epi32(high, v);
                low = _mm256_min_epi32(low, v);
            }
        const __m256i flip = _mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)(flipped + u)));
        const __m256i straight = _mm256_cmpeq_epi32(flip, _mm256_setzero_si256());
        const __m256i pooled = _mm256_blendv_epi8(low, high, straight);
        const __m256i below = _mm256_cmpgt_epi32(_mm256_loadu_si256((const __m256i *)(threshold + u)), pooled);
        bits[u / 64] |= (uint64_t)(~_mm256_movemask_ps(_mm256_castsi256_ps(below)) & 0xff) << (u % 64);
    }
    sign_units(first, row, pool_h, pool_w, u, units, flipped, threshold, bits);
}

static ATTR_avx512 void sign_avx512(const int32_t *first, int64_t row, int64_t pool_h, int64_t pool_w, int64_t units,
                                   const uint8_t *flipped, const int32_t *threshold, uint64_t *bits)
{
    int64_t u = 0;
    for (; u + 16 <= units; u += 16) {
        __m512i high = _mm512_loadu_si512((const void *)(first + u)), low = high;
        for (int64_t dy = 0; dy < pool_h; dy++)
            for (int64_t dx = 0; dx < pool_w; dx++) {
                const __m512i v = _mm512_loadu_si512((const void *)(first + dy * row + dx * units + u));
                high = _mm512_max_epi32(high, v);
                low = _mm512_min_epi32(low, v);
            }
        const __m512i flip = _mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)(flipped + u)));
        const __m512i pooled = _mm512_mask_blend_epi32(_mm512_test_epi32_mask(flip, flip), high, low);
        const __mmask16 reach = _mm512_cmpge_epi32_mask(pooled, _mm512_loadu_si512((const void *)(threshold + u)));
        bits[u / 64] |= (uint64_t)reach << (u % 64);
    }
    sign_units(first, row, pool_h, pool_w, u, units, flipped, threshold, bits);
}
#endif

/* One row of float_signs: bit u of bits (zeroed by the caller) is 1 iff pre[u] >= threshold[u] (0 for a NaN). */
typedef void (*fsigner)(const float *, int64_t, const float *, uint64_t *);

static inline void fsign_units(const float *pre, int64_t u0, int64_t units, const float *threshold, uint64_t *bits)
{
    for (int64_t u = u0; u < units; u++)
        bits[u / 64] |= (uint64_t)(pre[u] >= threshold[u]) << (u % 64);
}

static void fsign_portable(const float *pre, int64_t units, const float *threshold, uint64_t *bits)
{
    fsign_units(pre, 0, units, threshold, bits);
}

#if X86
static ATTR_avx2 void fsign_avx2(const float *pre, int64_t units, const float *threshold, uint64_t *bits)
{
    int64_t u = 0;
    for (; u + 8 <= units; u += 8) {
        const __m256 reach = _mm256_cmp_ps(_mm256_loadu_ps(pre + u), _mm256_loadu_ps(threshold + u), _CMP_GE_OQ);
        bits[u / 64] |= (uint64_t)_mm256_movemask_ps(reach) << (u % 64);
    }
    fsign_units(pre, u, units, threshold, bits);
}

static ATTR_avx512 void fsign_avx512(const float *pre, int64_t units, const float *threshold, uint64_t *bits)
{
    int64_t u = 0;
    for (; u + 16 <= units; u += 16)
        bits[u / 64] |= (uint64_t)_mm512_cmp_ps_mask(_mm512_loadu_ps(pre + u), _mm512_loadu_ps(threshold + u),
                                                      _CMP_GE_OQ) << (u % 64);
    fsign_units(pre, u, units, threshold, bits);
}
#endif

typedef void (*micro)(const uint64_t *, int64_t, const uint64_t *, int64_t, int64_t, int64_t *);
typedef void (*cmicro)(const uint64_t *, int64_t, int64_t, int64_t, const uint64_t *, int64_t, int64_t, int64_t,
                       int64_t, int32_t *);
typedef void (*fmicro)(const float *, int64_t, const int64_t *, const uint64_t *, const int64_t *, int64_t, float *);

#define CONV_PIXELS 4 /* pixels of cmicro_*_4 */

struct micros {
    micro m4; /* dense: 4 images x nu units, as many accumulators as the registers hold */
    int nu;
    micro m1x1;         /* 1 x 1: the edges, and batch 1 */
    cmicro c4, c1;      /* convolution: CONV_PIXELS pixels, or 1, x cf filters */
    int cf;
    fmicro f4, f1; /* float first layer: fr rows (4 where the registers hold them), or 1 */
    int fr;
    signer sign;   /* sign_pack's pixels */
    fsigner fsign; /* float_signs' rows */
};

#define MICROS(ISA, NU, CV) \
    MICRO(ISA, 4, NU) MICRO(ISA, 1, 1) CMICRO(ISA, 4, CV) CMICRO(ISA, 1, CV) FMICRO(ISA, 1)
/* Dense: 16 vector registers (AVX2) hold 4 x 2 accumulators and the lookup table; 32 (AVX-512) hold 4 x 4. The
 * convolution's and the float first layer's accumulators fit likewise. */
#define TABLE(ISA, NU, CV, FR, SIGN)                                                                               \
    {micro_##ISA##_4x##NU, NU, micro_##ISA##_1x1, cmicro_##ISA##_4, cmicro_##ISA##_1, CV * LANES_##ISA,        \
     fmicro_##ISA##_##FR, fmicro_##ISA##_1, FR, sign_##SIGN, fsign_##SIGN}

MICROS(portable, 2, 2)
MICROS(popcnt, 2, 2)
#if X86
MICROS(avx2, 2, 2)
MICROS(avx512, 4, 4)
FMICRO(avx512, 4)
static const struct micros KERNELS[] = {TABLE(portable, 2, 2, 1, portable), TABLE(popcnt, 2, 2, 1, portable),
                                        TABLE(avx2, 2, 2, 1, avx2), TABLE(avx512, 4, 4, 4, avx512)};
#else
static const struct micros KERNELS[] = {TABLE(portable, 2, 2, 1, portable), TABLE(popcnt, 2, 2, 1, portable)};
#endif
#define NUM_KERNELS ((int64_t)(sizeof(KERNELS) / sizeof(KERNELS[0])))

int popcount_kernels(void)
{
#if X86
    int available = 1;
    __builtin_cpu_init();
    if (__builtin_cpu_supports("popcnt"))
        available |= 2;
    if (__builtin_cpu_supports("popcnt") && __builtin_cpu_supports("avx2"))
        available |= 4;
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vpopcntdq"))
        available |= 8;
    return available;
#else
    return 3;
#endif
}

/* Runs work(job, begin, end) over [0, total) in up to ``threads`` contiguous slices (multiples of ``align``), each
 * of at least ``grain`` words of work: slice 0 in the caller, the others on the pool's threads. */
struct slice {
    void (*work)(const void *, int64_t, int64_t);
    const void *job;
    int64_t begin, end;
};

#define MAX_THREADS 256

/* The pool: worker threads started at first use and kept, since starting a thread costs 10-100 us, more than a
 * layer's work at batch 1. Worker t runs slice t of each round it is part of. One parallel() at a time uses the pool
 * (pool_busy); a caller that finds it busy works alone. A forked child starts with no workers. */
static pthread_mutex_t pool_busy = PTHREAD_MUTEX_INITIALIZER;
static pthread_mutex_t pool_mutex = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t pool_wake = PTHREAD_COND_INITIALIZER, pool_done = PTHREAD_COND_INITIALIZER;
static struct slice pool_slices[MAX_THREADS];
static int64_t pool_born[MAX_THREADS]; /* the round current when worker t started */
static int64_t pool_workers, pool_round, pool_active, pool_left;
static int pool_fork_handler;

static void pool_forked(void)
{
    pthread_mutex_init(&pool_busy, NULL);
    pthread_mutex_init(&pool_mutex, NULL);
    pthread_cond_init(&pool_wake, NULL);
    pthread_cond_init(&pool_done, NULL);
    pool_workers = 0;
}

/* Waiting: a while polling (waking a thread from a condition variable takes tens of us, as long as a layer at batch
 * 1), then asleep. Where the compiler has no atomic loads, asleep at once. */
#if defined(__GNUC__) || defined(__clang__)
#define SPINS 4096
#define LOAD_RELAXED(x) __atomic_load_n(&(x), __ATOMIC_RELAXED)
#if X86
#define PAUSE() __builtin_ia32_pause()
#else
#define PAUSE() ((void)0)
#endif
#else
#define SPINS 0
#define LOAD_RELAXED(x) (x)
#define PAUSE() ((void)0)
#endif

/* Polls ``value`` (pool_mutex not held) while it is ``equal`` to v (or, if not ``equal``, while it is not), at most
 * SPINS times. */
static void spin(const int64_t *value, int equal, int64_t v)
{
    for (int i = 0; i < SPINS && (LOAD_RELAXED(*value) == v) == equal; i++)
        PAUSE();
}

static void *pool_worker(void *arg)
{
    const int64_t t = (int64_t)(intptr_t)arg;
    pthread_mutex_lock(&pool_mutex);
    for (int64_t seen = pool_born[t];; seen = pool_round) {
        pthread_mutex_unlock(&pool_mutex);
        spin(&pool_round, 1, seen);
        pthread_mutex_lock(&pool_mutex);
        while (pool_round == seen)
            pthread_cond_wait(&pool_wake, &pool_mutex);
        if (t < pool_active) {
            pthread_mutex_unlock(&pool_mutex);
            pool_slices[t].work(pool_slices[t].job, pool_slices[t].begin, pool_slices[t].end);
            pthread_mutex_lock(&pool_mutex);
            if (--pool_left == 0)
                pthread_cond_signal(&pool_done);
        }
    }
    return NULL;
}

static void parallel(void (*work)(const void *, int64_t, int64_t), const void *job, int64_t total, int64_t align,
                     int64_t words_per_item, int64_t threads, int64_t grain)
{
    threads = min64(min64(threads, MAX_THREADS), (total + align - 1) / align);
    threads = min64(threads, total * words_per_item / (grain > 0 ? grain : 1));
    if (threads <= 1 || pthread_mutex_trylock(&pool_busy) != 0) {
        work(job, 0, total);
        return;
    }
    pthread_mutex_lock(&pool_mutex);
    if (!pool_fork_handler)
        pool_fork_handler = pthread_atfork(NULL, NULL, pool_forked) == 0;
    while (pool_workers + 1 < threads) {
        pthread_t id;
        pool_born[pool_workers + 1] = pool_round;
        if (pthread_create(&id, NULL, pool_worker, (void *)(intptr_t)(pool_workers + 1)) != 0)
            break;
        pthread_detach(id);
        pool_workers++;
    }
    threads = min64(threads, pool_workers + 1);
    const int64_t step = ((total + threads - 1) / threads + align - 1) / align * align;
    for (int64_t t = 0; t < threads; t++) {
        const struct slice slice = {work, job, min64(total, t * step), min64(total, (t + 1) * step)};
        pool_slices[t] = slice;
    }
    pool_active = threads;
    pool_left = threads - 1;
    pool_round++;
    pthread_cond_broadcast(&pool_wake);
    pthread_mutex_unlock(&pool_mutex);
    work(job, pool_slices[0].begin, pool_slices[0].end);
    spin(&pool_left, 0, 0);
    pthread_mutex_lock(&pool_mutex);
    while (pool_left > 0)
        pthread_cond_wait(&pool_done, &pool_mutex);
    pthread_mutex_unlock(&pool_mutex);
    pthread_mutex_unlock(&pool_busy);
}

struct dense_job {
    const uint64_t *act, *w;
    int64_t images, units, words, n;
    int32_t *s;
    const struct micros *m;
};

static void dense_store(const struct dense_job *j, int64_t i, int64_t u, int ni, int nu, const int64_t *p)
{
    for (int a = 0; a < ni; a++)
        for (int b = 0; b < nu; b++)
            j->s[(i + a) * j->units + u + b] = (int32_t)(j->n - 2 * p[a * nu + b]);
}

/* Units [u0, u1): images in blocks of BLOCK_BYTES; per block, each group of 4 units' rows is read from memory once
 * and serves every image of the block from L1. */
static void dense_units(const void *arg, int64_t u0, int64_t u1)
{
    const struct dense_job *j = arg;
    const int64_t W = j->words, block = BLOCK_BYTES / (8 * W) < 4 ? 4 : BLOCK_BYTES / (8 * W);
    for (int64_t i0 = 0; i0 < j->images; i0 += block) {
        const int64_t i1 = min64(j->images, i0 + block);
        for (int64_t u = u0; u < u1; u += 4) {
            const int64_t nu = min64(4, u1 - u);
            int64_t i = i0;
            for (; i + 4 <= i1; i += 4)
                for (int64_t v = u; v < u + nu;) {
                    int64_t p[16] = {0};
                    if (v + j->m->nu <= u + nu) {
                        j->m->m4(j->act + i * W, W, j->w + v * W, W, W, p);
                        dense_store(j, i, v, 4, j->m->nu, p);
                        v += j->m->nu;
                    } else {
                        for (int a = 0; a < 4; a++)
                            j->m->m1x1(j->act + (i + a) * W, W, j->w + v * W, W, W, p + a);
                        dense_store(j, i, v, 4, 1, p);
                        v += 1;
                    }
                }
            for (; i < i1; i++) { /* one row at a time: at batch 1 the rows stream from memory, best one by one */
                int64_t p[4] = {0};
                for (int b = 0; b < nu; b++)
                    j->m->m1x1(j->act + i * W, W, j->w + (u + b) * W, W, W, p + b);
                dense_store(j, i, u, 1, (int)nu, p);
            }
        }
    }
}

/* s[i][u] = n - 2 popcount(act[i] ^ w[u]); act (images, words), w (units, words), s (images, units). */
int dense_dot(const uint64_t *act, const uint64_t *w, int64_t images, int64_t units, int64_t words, int64_t n,
              int32_t *s, int64_t kernel, int64_t threads, int64_t grain)
{
    if (kernel < 0 || kernel >= NUM_KERNELS || !(popcount_kernels() >> kernel & 1))
        return -1;
    const struct dense_job job = {act, w, images, units, words, n, s, &KERNELS[kernel]};
    parallel(dense_units, &job, units, 4, images * words, threads, grain);
    return 0;
}

struct conv_job {
    const uint64_t *padded, *w; /* w: (kh * kw * words, padded_filters), the taps' words of each filter side by side */
    int64_t images, height, width, words, channels, filters, padded_filters, kh, kw, pad_h, pad_w, out_h, out_w;
    const int64_t *tap_popcounts; /* (filters, kh * kw): popcount(0 ^ w) of each tap, what a padded tap counts */
    int32_t *s;
    const struct micros *m;
};

/* What a border pixel (y, x) adds to filter f's n - 2 p, p its popcount over all kh x kw taps of the padded input:
 * the zero words of the padding counted popcount(w) each, taken off, and the pixel sums valid_taps * channels inputs,
 * not n (a padded zero is neither +1 nor -1). Pixels inside (every tap valid) add nothing. */
static int64_t border(const struct conv_job *j, int64_t y, int64_t x, int64_t f)
{
    const int64_t taps = j->kh * j->kw;
    int64_t valid = 0, padded = 0;
    for (int64_t dy = 0; dy < j->kh; dy++)
        for (int64_t dx = 0; dx < j->kw; dx++) {
            const int64_t yy = y + dy - j->pad_h, xx = x + dx - j->pad_w;
            if (yy >= 0 && yy < j->height && xx >= 0 && xx < j->width)
                valid++;
            else
                padded += j->tap_popcounts[f * taps + dy * j->kw + dx];
        }
    return (valid - taps) * j->channels + 2 * padded;
}

/* s of nx pixels from (y, x) and the filters from f (at most cf) of one image, from their n - 2 p. */
static void conv_store(const struct conv_job *j, int64_t image, int64_t y, int64_t x, int64_t f, int nx,
                       const int32_t *sums)
{
    const int64_t cf = j->m->cf, nf = min64(cf, j->filters - f);
    const int inside = y >= j->pad_h && y + j->kh - j->pad_h <= j->height;
    for (int a = 0; a < nx; a++) {
        int32_t *out = j->s + ((image * j->out_h + y) * j->out_w + x + a) * j->filters + f;
        memcpy(out, sums + a * cf, (size_t)nf * sizeof(int32_t));
        if (!inside || x + a < j->pad_w || x + a + j->kw - j->pad_w > j->width)
            for (int64_t b = 0; b < nf; b++)
                out[b] += (int32_t)border(j, y, x + a, f + b);
    }
}

#define CONV_ROWS 8 /* output rows that share each block of filters while its weights are in L1 */

/* Output rows [r0, r1) of all images, row r = image * out_h + y, CONV_ROWS at a time: for each block of cf filters,
 * each row, CONV_PIXELS pixels at a time. A pixel's taps are kh runs of kw * words contiguous words of the padded
 * input, one per filter row. */
static void conv_rows(const void *arg, int64_t r0, int64_t r1)
{
    const struct conv_job *j = arg;
    const int64_t W = j->words, len = j->kw * W, padded_width = j->width + 2 * j->pad_w;
    const int64_t padded_height = j->height + 2 * j->pad_h, cf = j->m->cf, n = j->kh * j->kw * j->channels;
    int32_t p[CONV_PIXELS * 64];
    for (int64_t rows = r0; rows < r1; rows += CONV_ROWS)
        for (int64_t f = 0; f < j->filters; f += cf)
            for (int64_t r = rows; r < min64(r1, rows + CONV_ROWS); r++) {
                const int64_t image = r / j->out_h, y = r % j->out_h;
                const uint64_t *row = j->padded + (image * padded_height + y) * padded_width * W;
                int64_t x = 0;
                for (; x + CONV_PIXELS <= j->out_w; x += CONV_PIXELS) {
                    j->m->c4(row + x * W, W, j->kh, padded_width * W, j->w + f, len * j->padded_filters,
                             j->padded_filters, len, n, p);
                    conv_store(j, image, y, x, f, CONV_PIXELS, p);
                }
                for (; x < j->out_w; x++) {
                    j->m->c1(row + x * W, W, j->kh, padded_width * W, j->w + f, len * j->padded_filters,
                             j->padded_filters, len, n, p);
                    conv_store(j, image, y, x, f, 1, p);
                }
            }
}

/* Stride-1 convolution with zero padding: act (images, height, width, words) holds each pixel's channels,
 * w (filters, kh, kw, words) the cross-correlation taps (Theano's filters flipped), s (images, out_h, out_w,
 * filters). The input is copied once into a buffer with zero words around it, so the inner loops test nothing
 * (border pixels are corrected after, conv_sum), and the weights once into (taps, filters) order, the filters padded
 * with zero words to a multiple of the micro-kernel's. */
int conv_dot(const uint64_t *act, const uint64_t *w, int64_t images, int64_t height, int64_t width, int64_t words,
             int64_t channels, int64_t filters, int64_t kh, int64_t kw, int64_t pad_h, int64_t pad_w, int32_t *s,
             int64_t kernel, int64_t threads, int64_t grain)
{
    if (kernel < 0 || kernel >= NUM_KERNELS || !(popcount_kernels() >> kernel & 1))
        return -1;
    const struct micros *m = &KERNELS[kernel];
    const int64_t padded_height = height + 2 * pad_h, padded_width = width + 2 * pad_w, taps = kh * kw;
    const int64_t padded_filters = (filters + m->cf - 1) / m->cf * m->cf;
    uint64_t *padded = calloc((size_t)(images * padded_height * padded_width * words) + 1, sizeof(uint64_t));
    uint64_t *by_tap = calloc((size_t)(taps * words * padded_filters) + 1, sizeof(uint64_t));
    int64_t *tap_popcounts = malloc((size_t)(filters * taps + 1) * sizeof(int64_t));
    if (padded == NULL || by_tap == NULL || tap_popcounts == NULL) {
        free(padded);
        free(by_tap);
        free(tap_popcounts);
        return -1;
    }
    for (int64_t i = 0; i < images; i++)
        for (int64_t y = 0; y < height; y++)
            memcpy(padded + ((i * padded_height + y + pad_h) * padded_width + pad_w) * words,
                   act + (i * height + y) * width * words, (size_t)(width * words) * sizeof(uint64_t));
    for (int64_t t = 0; t < taps * words; t++)
        for (int64_t f = 0; f < filters; f++)
            by_tap[t * padded_filters + f] = w[f * taps * words + t];
    for (int64_t t = 0; t < filters * taps; t++) {
        tap_popcounts[t] = 0;
        for (int64_t k = 0; k < words; k++)
            tap_popcounts[t] += (int64_t)swar_popcount(w[t * words + k]);
    }
    const int64_t out_h = padded_height - kh + 1, out_w = padded_width - kw + 1;
    const struct conv_job job = {padded, by_tap, images, height, width, words, channels, filters, padded_filters,
                                 kh, kw, pad_h, pad_w, out_h, out_w, tap_popcounts, s, m};
    parallel(conv_rows, &job, images * out_h, 1, out_w * filters * taps * words, threads, grain);
    free(padded);
    free(by_tap);
    free(tap_popcounts);
    return 0;
}

#define FLOAT_WORDS 16 /* a float first layer's 64 sums of one term cost about as much as 16 words' popcounts */

struct first_job {
    const float *v;
    const int64_t *at, *bounds;
    const uint64_t *bits;
    int64_t n, height, width, image_stride, row_stride, column_stride, rows, units, groups, blocks;
    int by_groups; /* threads share the groups of units (few rows) or the rows */
    float *z;
    const struct micros *m;
};

/* Groups [s0, s1) for all rows, or rows [s0, s1) for all groups; fr rows at a time where they are in one line. */
static void first_work(const void *arg, int64_t s0, int64_t s1)
{
    const struct first_job *j = arg;
    const int64_t g0 = j->by_groups ? s0 : 0, g1 = j->by_groups ? s1 : j->groups;
    const int64_t r0 = j->by_groups ? 0 : s0, r1 = j->by_groups ? j->rows : s1;
    float out[4 * 64];
    for (int64_t g = g0; g < g1; g++) {
        const int64_t units = min64(64, j->units - g * 64);
        for (int64_t r = r0; r < r1;) {
            const int64_t line = r / j->width, x = r % j->width;
            const float *v = j->v + line / j->height * j->image_stride + line % j->height * j->row_stride;
            const int rows = x + j->m->fr <= j->width && r + j->m->fr <= r1 ? j->m->fr : 1;
            (rows > 1 ? j->m->f4 : j->m->f1)(v + x * j->column_stride, j->column_stride, j->at, j->bits + g * j->n,
                                             j->bounds, j->blocks, out);
            for (int i = 0; i < rows; i++)
                memcpy(j->z + (r + i) * j->units + g * 64, out + i * 64, (size_t)units * sizeof(float));
            r += rows;
        }
    }
}

/* The float32 first layer in the BLAS's order. Rows r = (image * height + y) * width + x of z (rows, units) for
 * images x height x width; row r's input k is v[image * image_stride + y * row_stride + x * column_stride + at[k]]
 * (a dense layer: 1 x 1 x rows, column_stride n, at[k] = k; a convolution: the taps of the zero-padded image).
 * z[r][u] = the sum over k of ±input (+ where bit u % 64 of bits[u / 64][k] is 1), block by block as fmicro says;
 * bits (words(units), n); bounds (blocks + 1): 0 = bounds[0] < ... < bounds[blocks] = n. */
int first_sums(const float *v, const int64_t *at, int64_t n, int64_t images, int64_t height, int64_t width,
               int64_t image_stride, int64_t row_stride, int64_t column_stride, const uint64_t *bits, int64_t units,
               const int64_t *bounds, int64_t blocks, float *z, int64_t kernel, int64_t threads, int64_t grain)
{
    if (kernel < 0 || kernel >= NUM_KERNELS || !(popcount_kernels() >> kernel & 1))
        return -1;
    const int64_t groups = (units + 63) / 64, rows = images * height * width;
    const int by_groups = groups >= 4 * threads;
    const struct first_job job = {v, at, bounds, bits, n, height, width, image_stride, row_stride, column_stride,
                                  rows, units, groups, blocks, by_groups, z, &KERNELS[kernel]};
    parallel(first_work, &job, by_groups ? groups : rows, 1, (by_groups ? rows : groups) * n * FLOAT_WORDS, threads,
             grain);
    return 0;
}

struct sign_job {
    const int32_t *pre;
    int64_t height, width, units, pool_h, pool_w, out_h, out_w, words;
    const uint8_t *flipped;
    const int32_t *threshold;
    uint64_t *out;
    signer sign;
};

/* Output rows [r0, r1) of sign_pack, row r = image * out_h + y. */
static void sign_rows(const void *arg, int64_t r0, int64_t r1)
{
    const struct sign_job *j = arg;
    for (int64_t r = r0; r < r1; r++) {
        const int64_t i = r / j->out_h, y = r % j->out_h;
        for (int64_t x = 0; x < j->out_w; x++) {
            uint64_t *bits = j->out + (r * j->out_w + x) * j->words;
            memset(bits, 0, (size_t)j->words * sizeof(uint64_t));
            j->sign(j->pre + ((i * j->height + y * j->pool_h) * j->width + x * j->pool_w) * j->units,
                    j->width * j->units, j->pool_h, j->pool_w, j->units, j->flipped, j->threshold, bits);
        }
    }
}

/* The sign bits of a hidden stage, packed: pre (images, height, width, units) int32 s', max-pooled over pool_h x
 * pool_w windows (ignore_border: the rows and columns past the last whole window are dropped) as the true s = -s'
 * of a flipped unit is (the min of s'), then +1 iff the pooled s' >= threshold[u]; out (images, height / pool_h,
 * width / pool_w, words(units)), LSB first, padding bits 0 (docs/EXPORT.md, "Pooling"). */
int sign_pack(const int32_t *pre, int64_t images, int64_t height, int64_t width, int64_t units, int64_t pool_h,
              int64_t pool_w, const uint8_t *flipped, const int32_t *threshold, uint64_t *out, int64_t kernel,
              int64_t threads, int64_t grain)
{
    if (kernel < 0 || kernel >= NUM_KERNELS || !(popcount_kernels() >> kernel & 1))
        return -1;
    const int64_t out_h = height / pool_h, out_w = width / pool_w;
    const struct sign_job job = {pre, height, width, units, pool_h, pool_w, out_h, out_w, (units + 63) / 64, flipped,
                                 threshold, out, KERNELS[kernel].sign};
    parallel(sign_rows, &job, images * out_h, 1, out_w * pool_h * pool_w * units / 8, threads, grain);
    return 0;
}

struct fsign_job {
    const float *pre, *threshold;
    int64_t units, words;
    uint64_t *out;
    fsigner fsign;
};

static void fsign_rows(const void *arg, int64_t r0, int64_t r1)
{
    const struct fsign_job *j = arg;
    memset(j->out + r0 * j->words, 0, (size_t)((r1 - r0) * j->words) * sizeof(uint64_t));
    for (int64_t r = r0; r < r1; r++)
        j->fsign(j->pre + r * j->units, j->units, j->threshold, j->out + r * j->words);
}

/* The sign bits of a first stage without pooling, packed: out[r] (words(units)) has bit u set iff pre[r][u] >=
 * threshold[u] (float32; never for a NaN), padding bits 0; pre (rows, units). */
int float_signs(const float *pre, int64_t rows, int64_t units, const float *threshold, uint64_t *out, int64_t kernel,
                int64_t threads, int64_t grain)
{
    if (kernel < 0 || kernel >= NUM_KERNELS || !(popcount_kernels() >> kernel & 1))
        return -1;
    const struct fsign_job job = {pre, threshold, units, (units + 63) / 64, out, KERNELS[kernel].fsign};
    parallel(fsign_rows, &job, rows, 1, units / 8, threads, grain);
    return 0;
}
