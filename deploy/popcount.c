/* XNOR-popcount kernels of deploy.engine (docs/EXPORT.md), built by deploy/kernels.py at first use.
 *
 * Sign bits: 1 = +1, 0 = -1, packed LSB first into 64-bit words along the fan-in; padding bits are 0 in
 * activations and weights alike, so they never count in popcount(a ^ w). For n valid ±1 inputs the dot
 * product is exact: n - 2 * popcount(a XOR w) (the number of agreements minus the disagreements).
 */
#include <stdint.h>

static int64_t mismatches(const uint64_t *a, const uint64_t *r, int64_t words)
{
    int64_t p = 0;
    for (int64_t k = 0; k < words; k++)
        p += __builtin_popcountll(a[k] ^ r[k]);
    return p;
}

/* s[i][u] = n - 2 popcount(act[i] ^ w[u]); act (images, words), w (units, words), s (images, units).
 * Each weight row is read once per four images (twice as fast as one at a time at batch 100). */
void dense_dot(const uint64_t *act, const uint64_t *w, int64_t images, int64_t units, int64_t words, int64_t n,
               int32_t *s)
{
    for (int64_t u = 0; u < units; u++) {
        const uint64_t *row = w + u * words;
        int64_t i = 0;
        for (; i + 4 <= images; i += 4) {
            const uint64_t *a = act + i * words;
            int64_t p0 = 0, p1 = 0, p2 = 0, p3 = 0;
            for (int64_t k = 0; k < words; k++) {
                const uint64_t r = row[k];
                p0 += __builtin_popcountll(a[k] ^ r);
                p1 += __builtin_popcountll(a[words + k] ^ r);
                p2 += __builtin_popcountll(a[2 * words + k] ^ r);
                p3 += __builtin_popcountll(a[3 * words + k] ^ r);
            }
            s[i * units + u] = (int32_t)(n - 2 * p0);
            s[(i + 1) * units + u] = (int32_t)(n - 2 * p1);
            s[(i + 2) * units + u] = (int32_t)(n - 2 * p2);
            s[(i + 3) * units + u] = (int32_t)(n - 2 * p3);
        }
        for (; i < images; i++)
            s[i * units + u] = (int32_t)(n - 2 * mismatches(act + i * words, row, words));
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
                            p += mismatches(act + ((i * height + yy) * width + xx) * words,
                                            w + ((f * kh + dy) * kw + dx) * words, words);
                            taps++;
                        }
                    }
                    out[f] = (int32_t)(taps * channels - 2 * p);
                }
            }
}
