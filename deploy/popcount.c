/* XNOR-popcount kernels of deploy.engine (docs/EXPORT.md), built by deploy/kernels.py at first use.
 *
 * Sign bits: 1 = +1, 0 = -1, packed LSB first into 64-bit words along the fan-in; padding bits are 0 in
 * activations and weights alike, so they never count in popcount(a ^ w). For n valid ±1 inputs the dot
 * product is exact: n - 2 * popcount(a XOR w) (the number of agreements minus the disagreements).
 */
#include <stdint.h>

/* s[i][u] = n - 2 popcount(act[i] ^ w[u]); act (images, words), w (units, words), s (images, units). */
void dense_dot(const uint64_t *act, const uint64_t *w, int64_t images, int64_t units, int64_t words, int64_t n,
               int32_t *s)
{
    for (int64_t u = 0; u < units; u++) {  /* one weight row at a time, against every image */
        const uint64_t *row = w + u * words;
        for (int64_t i = 0; i < images; i++) {
            const uint64_t *a = act + i * words;
            int64_t p = 0;
            for (int64_t k = 0; k < words; k++)
                p += __builtin_popcountll(a[k] ^ row[k]);
            s[i * units + u] = (int32_t)(n - 2 * p);
        }
    }
}

/* Stride-1 convolution with zero padding: act (images, height, width, words) holds each pixel's channels,
 * w (filters, kh, kw, words) the cross-correlation taps (Theano's filters flipped), s (images, out_h, out_w,
 * filters). Taps in the padding are skipped: a padded zero is neither +1 nor -1 and adds nothing, so a pixel
 * sums valid_taps * channels inputs. */
void conv_dot(const uint64_t *act, const uint64_t *w, int64_t images, int64_t height, int64_t width,
              int64_t words, int64_t channels, int64_t filters, int64_t kh, int64_t kw, int64_t pad_h,
              int64_t pad_w, int32_t *s)
{
    const int64_t out_h = height + 2 * pad_h - kh + 1, out_w = width + 2 * pad_w - kw + 1;
    for (int64_t i = 0; i < images; i++)
        for (int64_t y = 0; y < out_h; y++)
            for (int64_t x = 0; x < out_w; x++) {
                int32_t *out = s + ((i * out_h + y) * out_w + x) * filters;
                for (int64_t f = 0; f < filters; f++) {
                    int64_t p = 0, taps = 0;
                    for (int64_t dy = 0; dy < kh; dy++) {
                        const int64_t yy = y + dy - pad_h;
                        if (yy < 0 || yy >= height)
                            continue;
                        for (int64_t dx = 0; dx < kw; dx++) {
                            const int64_t xx = x + dx - pad_w;
                            if (xx < 0 || xx >= width)
                                continue;
                            const uint64_t *a = act + ((i * height + yy) * width + xx) * words;
                            const uint64_t *r = w + ((f * kh + dy) * kw + dx) * words;
                            for (int64_t k = 0; k < words; k++)
                                p += __builtin_popcountll(a[k] ^ r[k]);
                            taps++;
                        }
                    }
                    out[f] = (int32_t)(taps * channels - 2 * p);
                }
            }
}
