/* The C interface of deploy/popcount.c (docs/EXPORT.md, "Engine"). deploy/kernels.py reads its ctypes declarations
 * from the prototypes below (one per line; types int, int64_t, pointers to uint64_t, int64_t, int32_t, uint8_t and
 * float), so they are written once.
 *
 * kernel: 0 portable C, 1 the POPCNT instruction, 2 AVX2, 3 AVX-512 VPOPCNTDQ; popcount_kernels() says which this
 * CPU runs (bit k set for kernel k). threads: how many threads share the work (1 or more; a pool kept between calls),
 * each given at least grain words to XOR and count (fewer threads for less work). dense_dot and conv_dot (the popcount
 * products), sign_pack (max-pooling, thresholds and packing of a hidden stage's sums), first_sums (the float32
 * first layer in a given order of additions) and float_signs (its thresholds and packing) return 0, or -1 where
 * memory or the kernel asked for is missing.
 */
#include <stdint.h>

int popcount_kernels(void);
int dense_dot(const uint64_t *act, const uint64_t *w, int64_t images, int64_t units, int64_t words, int64_t n, int32_t *s, int64_t kernel, int64_t threads, int64_t grain);
int conv_dot(const uint64_t *act, const uint64_t *w, int64_t images, int64_t height, int64_t width, int64_t words, int64_t channels, int64_t filters, int64_t kh, int64_t kw, int64_t pad_h, int64_t pad_w, int32_t *s, int64_t kernel, int64_t threads, int64_t grain);
int sign_pack(const int32_t *pre, int64_t images, int64_t height, int64_t width, int64_t units, int64_t pool_h, int64_t pool_w, const uint8_t *flipped, const int32_t *threshold, uint64_t *out, int64_t kernel, int64_t threads, int64_t grain);
int first_sums(const float *v, const int64_t *at, int64_t n, int64_t images, int64_t height, int64_t width, int64_t image_stride, int64_t row_stride, int64_t column_stride, const uint64_t *bits, int64_t units, const int64_t *bounds, int64_t blocks, float *z, int64_t kernel, int64_t threads, int64_t grain);
int float_signs(const float *pre, int64_t rows, int64_t units, const float *threshold, uint64_t *out, int64_t kernel, int64_t threads, int64_t grain);
