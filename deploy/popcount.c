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
 */
#include <pthread.h>
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

typedef void (*micro)(const uint64_t *, int64_t, const uint64_t *, int64_t, int64_t, int64_t *);

struct micros {
    micro m4; /* 4 images x nu units: as many accumulators as the registers hold */
    int nu;
    micro m1x1; /* 1 x 1: the edges, and batch 1 */
};

#define MICROS(ISA, NU) MICRO(ISA, 4, NU) MICRO(ISA, 1, 1)
/* 16 vector registers (AVX2) hold 4 x 2 accumulators and the lookup table; 32 (AVX-512) hold 4 x 4. */
#define TABLE(ISA, NU) {micro_##ISA##_4x##NU, NU, micro_##ISA##_1x1}

MICROS(portable, 2)
MICROS(popcnt, 2)
#if X86
MICROS(avx2, 2)
MICROS(avx512, 4)
static const struct micros KERNELS[] = {TABLE(portable, 2), TABLE(popcnt, 2), TABLE(avx2, 2), TABLE(avx512, 4)};
#else
static const struct micros KERNELS[] = {TABLE(portable, 2), TABLE(popcnt, 2)};
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

/* Runs work(job, begin, end) over [0, total) in up to ``threads`` contiguous slices (multiples of ``align``), one
 * per thread, each of at least ``grain`` words of work; a slice whose thread cannot start runs in the caller. */
struct slice {
    void (*work)(const void *, int64_t, int64_t);
    const void *job;
    int64_t begin, end;
};

static void *run_slice(void *arg)
{
    const struct slice *s = arg;
    s->work(s->job, s->begin, s->end);
    return NULL;
}

#define MAX_THREADS 256

static void parallel(void (*work)(const void *, int64_t, int64_t), const void *job, int64_t total, int64_t align,
                     int64_t words_per_item, int64_t threads, int64_t grain)
{
    threads = min64(min64(threads, MAX_THREADS), (total + align - 1) / align);
    threads = min64(threads, total * words_per_item / (grain > 0 ? grain : 1));
    if (threads <= 1) {
        work(job, 0, total);
        return;
    }
    struct slice slices[MAX_THREADS];
    pthread_t ids[MAX_THREADS];
    int started[MAX_THREADS];
    const int64_t step = ((total + threads - 1) / threads + align - 1) / align * align;
    for (int64_t t = 0; t < threads; t++) {
        slices[t].work = work;
        slices[t].job = job;
        slices[t].begin = min64(total, t * step);
        slices[t].end = min64(total, (t + 1) * step);
        started[t] = t > 0 && pthread_create(&ids[t], NULL, run_slice, &slices[t]) == 0;
    }
    for (int64_t t = 0; t < threads; t++)
        if (!started[t])
            run_slice(&slices[t]);
    for (int64_t t = 1; t < threads; t++)
        if (started[t])
            pthread_join(ids[t], NULL);
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
    const uint64_t *padded, *w;
    int64_t images, height, width, words, channels, filters, kh, kw, pad_h, pad_w, out_h, out_w;
    const int64_t *tap_popcounts; /* (filters, kh * kw): popcount(0 ^ w) of each tap, what a padded tap counts */
    int32_t *s;
    const struct micros *m;
    int *failed; /* set where a thread could not allocate its buffer */
};

/* s of a border pixel (y, x), filter f, from p = popcount over all kh x kw taps of the padded input: the zero words
 * of the padding counted popcount(w) each, taken off here, and the pixel sums valid_taps * channels inputs (a padded
 * zero is neither +1 nor -1). Pixels inside (every tap valid) are conv_block's: n - 2 p. */
static int32_t conv_sum(const struct conv_job *j, int64_t y, int64_t x, int64_t f, int64_t p)
{
    const int64_t taps = j->kh * j->kw;
    int64_t valid = 0;
    for (int64_t dy = 0; dy < j->kh; dy++)
        for (int64_t dx = 0; dx < j->kw; dx++) {
            const int64_t yy = y + dy - j->pad_h, xx = x + dx - j->pad_w;
            if (yy >= 0 && yy < j->height && xx >= 0 && xx < j->width)
                valid++;
            else
                p -= j->tap_popcounts[f * taps + dy * j->kw + dx];
        }
    return (int32_t)(valid * j->channels - 2 * p);
}

/* Popcounts of nx pixels times nf filters: pixel a's taps are row a of ``patches``, filter b's row f + b of w. */
static void conv_block(const struct conv_job *j, micro m, int nx, int nf, const uint64_t *patches, int64_t image,
                       int64_t y, int64_t x, int64_t f)
{
    const int64_t len = j->kh * j->kw * j->words;
    int64_t p[16] = {0};
    m(patches, len, j->w + f * len, len, len, p);
    int32_t *out = j->s + ((image * j->out_h + y) * j->out_w + x) * j->filters + f;
    if (y >= j->pad_h && y + j->kh - j->pad_h <= j->height && x >= j->pad_w
        && x + nx - 1 + j->kw - j->pad_w <= j->width) { /* inside: every tap valid */
        const int64_t n = j->kh * j->kw * j->channels;
        for (int a = 0; a < nx; a++)
            for (int b = 0; b < nf; b++)
                out[a * j->filters + b] = (int32_t)(n - 2 * p[a * nf + b]);
        return;
    }
    for (int a = 0; a < nx; a++)
        for (int b = 0; b < nf; b++)
            out[a * j->filters + b] = conv_sum(j, y, x + a, f + b, p[a * nf + b]);
}

/* Output rows [r0, r1) of all images, row r = image * out_h + y. Each output pixel's kh x kw taps are first copied
 * side by side (kh runs of kw * words words of the padded input), so that a pixel's taps and a filter are two
 * contiguous rows of kh * kw * words words, as in a dense layer. */
static void conv_rows(const void *arg, int64_t r0, int64_t r1)
{
    const struct conv_job *j = arg;
    const int64_t W = j->words, run = j->kw * W, len = j->kh * run;
    const int64_t padded_height = j->height + 2 * j->pad_h, padded_width = j->width + 2 * j->pad_w;
    uint64_t *patches = malloc((size_t)(j->out_w * len) * sizeof(uint64_t));
    if (patches == NULL) {
        *j->failed = 1;
        return;
    }
    for (int64_t r = r0; r < r1; r++) {
        const int64_t image = r / j->out_h, y = r % j->out_h;
        for (int64_t x = 0; x < j->out_w; x++)
            for (int64_t dy = 0; dy < j->kh; dy++)
                memcpy(patches + x * len + dy * run, j->padded + ((image * padded_height + y + dy) * padded_width + x) * W,
                       (size_t)run * sizeof(uint64_t));
        int64_t x = 0;
        for (; x + 4 <= j->out_w; x += 4) {
            int64_t f = 0;
            for (; f + j->m->nu <= j->filters; f += j->m->nu)
                conv_block(j, j->m->m4, 4, j->m->nu, patches + x * len, image, y, x, f);
            for (; f < j->filters; f++)
                for (int a = 0; a < 4; a++)
                    conv_block(j, j->m->m1x1, 1, 1, patches + (x + a) * len, image, y, x + a, f);
        }
        for (; x < j->out_w; x++) {
            int64_t f = 0;
            for (; f < j->filters; f++)
                conv_block(j, j->m->m1x1, 1, 1, patches + x * len, image, y, x, f);
        }
    }
    free(patches);
}

/* Stride-1 convolution with zero padding: act (images, height, width, words) holds each pixel's channels,
 * w (filters, kh, kw, words) the cross-correlation taps (Theano's filters flipped), s (images, out_h, out_w,
 * filters). The input is copied once into a buffer with zero words around it, so the inner loops test nothing;
 * border pixels are corrected after (conv_sum). */
int conv_dot(const uint64_t *act, const uint64_t *w, int64_t images, int64_t height, int64_t width, int64_t words,
             int64_t channels, int64_t filters, int64_t kh, int64_t kw, int64_t pad_h, int64_t pad_w, int32_t *s,
             int64_t kernel, int64_t threads, int64_t grain)
{
    if (kernel < 0 || kernel >= NUM_KERNELS || !(popcount_kernels() >> kernel & 1))
        return -1;
    const int64_t padded_height = height + 2 * pad_h, padded_width = width + 2 * pad_w;
    uint64_t *padded = calloc((size_t)(images * padded_height * padded_width * words) + 1, sizeof(uint64_t));
    int64_t *tap_popcounts = malloc((size_t)(filters * kh * kw + 1) * sizeof(int64_t));
    if (padded == NULL || tap_popcounts == NULL) {
        free(padded);
        free(tap_popcounts);
        return -1;
    }
    for (int64_t i = 0; i < images; i++)
        for (int64_t y = 0; y < height; y++)
            memcpy(padded + ((i * padded_height + y + pad_h) * padded_width + pad_w) * words,
                   act + (i * height + y) * width * words, (size_t)(width * words) * sizeof(uint64_t));
    for (int64_t t = 0; t < filters * kh * kw; t++) {
        tap_popcounts[t] = 0;
        for (int64_t k = 0; k < words; k++)
            tap_popcounts[t] += (int64_t)swar_popcount(w[t * words + k]);
    }
    const int64_t out_h = padded_height - kh + 1, out_w = padded_width - kw + 1;
    int failed = 0;
    const struct conv_job job = {padded, w, images, height, width, words, channels, filters, kh, kw, pad_h, pad_w,
                                 out_h, out_w, tap_popcounts, s, &KERNELS[kernel], &failed};
    parallel(conv_rows, &job, images * out_h, 1, out_w * filters * kh * kw * words, threads, grain);
    free(padded);
    free(tap_popcounts);
    return failed ? -1 : 0;
}

struct sign_job {
    const int32_t *pre;
    int64_t height, width, units, pool_h, pool_w, out_h, out_w, words;
    const uint8_t *flipped;
    const int32_t *threshold;
    uint64_t *out;
    int *failed;
};

/* Output rows [r0, r1) of sign_pack, row r = image * out_h + y. */
static void sign_rows(const void *arg, int64_t r0, int64_t r1)
{
    const struct sign_job *j = arg;
    const int64_t units = j->units;
    int32_t *high = malloc((size_t)(2 * units + 1) * sizeof(int32_t)), *low = high + units;
    if (high == NULL) {
        *j->failed = 1;
        return;
    }
    for (int64_t r = r0; r < r1; r++) {
        const int64_t i = r / j->out_h, y = r % j->out_h;
        for (int64_t x = 0; x < j->out_w; x++) {
            const int32_t *first = j->pre + ((i * j->height + y * j->pool_h) * j->width + x * j->pool_w) * units;
            memcpy(high, first, (size_t)units * sizeof(int32_t));
            memcpy(low, first, (size_t)units * sizeof(int32_t));
            for (int64_t dy = 0; dy < j->pool_h; dy++)
                for (int64_t dx = 0; dx < j->pool_w; dx++) {
                    const int32_t *p = first + (dy * j->width + dx) * units;
                    for (int64_t u = 0; u < units; u++) {
                        high[u] = p[u] > high[u] ? p[u] : high[u];
                        low[u] = p[u] < low[u] ? p[u] : low[u];
                    }
                }
            uint64_t *bits = j->out + (r * j->out_w + x) * j->words;
            memset(bits, 0, (size_t)j->words * sizeof(uint64_t));
            for (int64_t u = 0; u < units; u++)
                bits[u / 64] |= (uint64_t)((j->flipped[u] ? low[u] : high[u]) >= j->threshold[u]) << (u % 64);
        }
    }
    free(high);
}

/* The sign bits of a hidden stage, packed: pre (images, height, width, units) int32 s', max-pooled over pool_h x
 * pool_w windows (ignore_border: the rows and columns past the last whole window are dropped) as the true s = -s'
 * of a flipped unit is (the min of s'), then +1 iff the pooled s' >= threshold[u]; out (images, height / pool_h,
 * width / pool_w, words(units)), LSB first, padding bits 0 (docs/EXPORT.md, "Pooling"). */
int sign_pack(const int32_t *pre, int64_t images, int64_t height, int64_t width, int64_t units, int64_t pool_h,
              int64_t pool_w, const uint8_t *flipped, const int32_t *threshold, uint64_t *out, int64_t threads,
              int64_t grain)
{
    int failed = 0;
    const int64_t out_h = height / pool_h, out_w = width / pool_w;
    const struct sign_job job = {pre, height, width, units, pool_h, pool_w, out_h, out_w, (units + 63) / 64, flipped,
                                 threshold, out, &failed};
    parallel(sign_rows, &job, images * out_h, 1, out_w * pool_h * pool_w * units / 8, threads, grain);
    return failed ? -1 : 0;
}
