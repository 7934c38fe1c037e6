/* The C interface of deploy/popcount.c (docs/EXPORT.md, "Engine"). deploy/kernels.py reads its ctypes declarations
 * from the prototypes below (one per line; types int, int64_t, pointers to uint64_t, int32_t and uint8_t), so they are
 * written once.
 *
 * kernel: 0 portable C, 1 the POPCNT instruction, 2 AVX2, 3 AVX-512 VPOPCNTDQ; popcount_kernels() says which this
 * CPU runs (bit k set for kernel k). threads: how many threads share the work (1 or more), each given at least grain
 * words to XOR and count (fewer threads for less work: starting one costs more than small work). dense_dot and conv_dot
 * return 0, or -1 where memory or the kernel asked for is missing; so does sign_pack (max-pooling, thresholds and packing
 * of a hidden stage's sums).
 */
#include <stdint.h>

int popcount_kernels(void);
int dense_dot(const uint64_t *act, const uint64_t *w, int64_t images, int64_t units, int64_t words, int64_t n, int32_t *s, int64_t kernel, int64_t threads, int64_t grain);
int conv_dot(const uint64_t *act, const uint64_t *w, int64_t images, int64_t height, int64_t width, int64_t words, int64_t channels, int64_t filters, int64_t kh, int64_t kw, int64_t pad_h, int64_t pad_w, int32_t *s, int64_t kernel, int64_t threads, int64_t grain);
int sign_pack(const int32_t *pre, int64_t images, int64_t height, int64_t width, int64_t units, int64_t pool_h, int64_t pool_w, const uint8_t *flipped, const int32_t *threshold, uint64_t *out, int64_t threads, int64_t grain);
