/* tanh_lanes.h: the float32 tanh pass of src/model/mlp.c in TANH_LANES lanes (GCC vector
 * extensions), included once per width with TANH_LANES, TANH_FN(name) (the width's names) and
 * TANH_ATTR (its target attribute) defined; see mlp.c for the method. Not a public header. */
typedef float TANH_FN(vfl) __attribute__((vector_size(TANH_LANES * 4)));
typedef int32_t TANH_FN(vil) __attribute__((vector_size(TANH_LANES * 4)));
#define vfl TANH_FN(vfl)
#define vil TANH_FN(vil)
#define VL TANH_LANES

TANH_ATTR static inline void TANH_FN(tanh_vec)(vfl *out, const vfl *in)
{
    const vfl nine = (vfl){0} + 9.0f;
    vfl x = *in;
    vil xi = (vil)x, axi = xi & 0x7fffffff;
    vfl ax = (vfl)axi;
    vfl z = x * x;
    vfl small = ((((-5.70498872745E-3f * z + 2.06390887954E-2f) * z - 5.37397155531E-2f) * z +
                  1.33314422036E-1f) * z - 3.33332819422E-1f) * z * x + x;
    /* |x| > 9 and not NaN: tanh(9) rounds to 1; also keeps exp finite */
    vil over = (axi > 0x41100000) & (axi <= 0x7f800000);
    vfl t = (vfl)((over & (vil)nine) | (~over & (vil)ax));
    t = t + t;
    /* exp(t), t in [0, 18]: t = n ln2 + r, |r| <= ln2/2 */
    vfl n = (t * 1.44269504088896341f + 12582912.0f) - 12582912.0f; /* round to nearest */
    vfl r = t - n * 0.693359375f;
    r = r - n * -2.12194440e-4f;
    vfl y = 1.9875691500E-4f * r + 1.3981999507E-3f;
    y = y * r + 8.3334519073E-3f;
    y = y * r + 4.1665795894E-2f;
    y = y * r + 1.6666665459E-1f;
    y = y * r + 5.0000001201E-1f;
    y = y * (r * r) + r + 1.0f;
    vfl e = y * (vfl)((__builtin_convertvector(n, vil) + 127) << 23);
    vfl big = 1.0f - 2.0f / (e + 1.0f);
    big = (vfl)((vil)big | (xi & (int32_t)0x80000000)); /* copysign */
    vil sm = axi < 0x3f200000; /* |x| < 0.625 */
    *out = (vfl)((sm & (vil)small) | (~sm & (vil)big));
}

/* a [w] = tanh(z [w] + b [w]) (a may alias z); the tail goes through a padded vector. */
__attribute__((unused)) TANH_ATTR static void TANH_FN(tanh_row)(real *a, const real *z,
                                                             const real *b, int w)
{
    int j = 0;
    for (; j + VL <= w; j += VL) {
        vfl v, bv;
        memcpy(&v, z + j, sizeof v);
        memcpy(&bv, b + j, sizeof bv);
        v += bv;
        TANH_FN(tanh_vec)(&v, &v);
        memcpy(a + j, &v, sizeof v);
    }
    if (j < w) {
        real buf[VL] = {0};
        for (int t = j; t < w; t++) buf[t - j] = z[t] + b[t];
        vfl v;
        memcpy(&v, buf, sizeof v);
        TANH_FN(tanh_vec)(&v, &v);
        memcpy(buf, &v, sizeof v);
        memcpy(a + j, buf, (size_t)(w - j) * sizeof(real));
    }
}
#undef vfl
#undef vil
#undef VL
