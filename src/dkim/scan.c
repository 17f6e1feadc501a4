/*
 * The body scans behind canon.c: where the next byte is that keeps a
 * stretch of body from going to the hashes as it is (RFC 6376 3.4.3,
 * 3.4.4). At 64 KiB the scan is what a verifier adds to SHA-256, so it
 * looks at 64 bytes at a time as bit masks, one bit per byte for each
 * byte class that matters (SP, TAB, CR, LF). The rules become a few
 * shifts and logic operations on whole words, and the first byte that
 * needs a decision is a count of trailing zeros: no branch per line end,
 * which a byte or vector loop pays as a misprediction on ordinary text.
 * Decisions look up to four bytes ahead, so each window of SCAN_WIN bytes
 * decides its first SCAN_STEP.
 *
 * Only building the masks depends on the machine. x86-64 builds get SSE2
 * (the baseline), and AVX2 with BMI when the CPU has them, chosen at each
 * call from the flags the compiler's runtime read at start; other machines
 * use GCC's generic vectors.
 */
#include "dkim/dkim_int.h"

#include <stdint.h>
#include <string.h>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

#define SCAN_WIN DKIM_SCAN_WIN
#define SCAN_STEP 60
#define SCAN_DECIDED ((UINT64_C(1) << SCAN_STEP) - 1)

#define SCAN_INLINE static inline __attribute__((always_inline))

/* Bit i: byte i of the window is SP, TAB, CR, LF. */
struct scan_masks {
	uint64_t sp, tab, cr, lf;
};

/*
 * Relaxed: a TAB, a SP before WSP or CR, and a CR that is not CRLF
 * followed by content or by one empty line and content. More empty lines
 * in a row are left to the caller's byte loop, as is anything the window
 * cannot see.
 */
SCAN_INLINE uint64_t
relaxed_bad(const struct scan_masks *m)
{
	uint64_t stop = m->sp | m->tab | m->cr;
	uint64_t crlf = m->cr & (m->lf >> 1), ok;

	/* The CRs of CRLFs that content, or CRLF and content, follows. */
	ok = crlf & ~((stop >> 2) & ~((crlf >> 2) & ~(stop >> 4)));
	return (m->tab | (m->sp & (stop >> 1)) | (m->cr ^ ok)) &
	    SCAN_DECIDED;
}

/* Simple: only a CR, when not CRLF followed by a byte other than CR, or
 * by one empty line and such a byte. */
SCAN_INLINE uint64_t
simple_bad(const struct scan_masks *m)
{
	uint64_t crlf = m->cr & (m->lf >> 1), ok;

	ok = crlf & ~((m->cr >> 2) & ~((crlf >> 2) & ~(m->cr >> 4)));
	return (m->cr ^ ok) & SCAN_DECIDED;
}

typedef void scan_classify_fn(const char *p, struct scan_masks *m);
typedef uint64_t scan_bad_fn(const struct scan_masks *m);

/* The loop, inlined into each variant with its classifier. */
SCAN_INLINE size_t
scan(const char *p, size_t j, size_t len, scan_classify_fn *classify,
    scan_bad_fn *bad)
{
	struct scan_masks m;
	uint64_t b;

	while (len - j >= SCAN_WIN) {
		classify(p + j, &m);
		if ((b = bad(&m)) != 0)
			return j + (size_t)__builtin_ctzll(b);
		j += SCAN_STEP;
	}
	return j;
}

#if defined(__x86_64__)

SCAN_INLINE uint64_t
bits_sse2(__m128i v, char c)
{
	return (uint64_t)(unsigned)_mm_movemask_epi8(
	    _mm_cmpeq_epi8(v, _mm_set1_epi8(c)));
}

SCAN_INLINE void
classify_sse2(const char *p, struct scan_masks *m)
{
	__m128i v0 = _mm_loadu_si128((const __m128i *)p);
	__m128i v1 = _mm_loadu_si128((const __m128i *)(p + 16));
	__m128i v2 = _mm_loadu_si128((const __m128i *)(p + 32));
	__m128i v3 = _mm_loadu_si128((const __m128i *)(p + 48));
	__m128i t = _mm_set1_epi8('\t');

#define SCAN_SSE2(c) (bits_sse2(v0, c) | bits_sse2(v1, c) << 16 | \
	bits_sse2(v2, c) << 32 | bits_sse2(v3, c) << 48)
	m->sp = SCAN_SSE2(' ');
	m->cr = SCAN_SSE2('\r');
	m->lf = SCAN_SSE2('\n');
	/* Most text has no TAB: one test instead of a mask. */
	m->tab = 0;
	if (_mm_movemask_epi8(_mm_or_si128(
	    _mm_or_si128(_mm_cmpeq_epi8(v0, t), _mm_cmpeq_epi8(v1, t)),
	    _mm_or_si128(_mm_cmpeq_epi8(v2, t), _mm_cmpeq_epi8(v3, t)))))
		m->tab = SCAN_SSE2('\t');
#undef SCAN_SSE2
}

#define SCAN_AVX2 __attribute__((target("avx2,bmi")))

SCAN_AVX2 SCAN_INLINE uint64_t
bits_avx2(__m256i v, char c)
{
	return (uint64_t)(unsigned)_mm256_movemask_epi8(
	    _mm256_cmpeq_epi8(v, _mm256_set1_epi8(c)));
}

SCAN_AVX2 SCAN_INLINE void
classify_avx2(const char *p, struct scan_masks *m)
{
	__m256i v0 = _mm256_loadu_si256((const __m256i *)p);
	__m256i v1 = _mm256_loadu_si256((const __m256i *)(p + 32));
	__m256i t = _mm256_set1_epi8('\t');
	__m256i t0 = _mm256_cmpeq_epi8(v0, t), t1 = _mm256_cmpeq_epi8(v1, t);

	m->sp = bits_avx2(v0, ' ') | bits_avx2(v1, ' ') << 32;
	m->cr = bits_avx2(v0, '\r') | bits_avx2(v1, '\r') << 32;
	m->lf = bits_avx2(v0, '\n') | bits_avx2(v1, '\n') << 32;
	/* Most text has no TAB: one test instead of a mask. */
	m->tab = 0;
	if (!_mm256_testz_si256(_mm256_or_si256(t0, t1),
	    _mm256_or_si256(t0, t1)))
		m->tab = (uint64_t)(unsigned)_mm256_movemask_epi8(t0) |
		    (uint64_t)(unsigned)_mm256_movemask_epi8(t1) << 32;
}

static SCAN_AVX2 size_t
relaxed_avx2(const char *p, size_t j, size_t len)
{
	return scan(p, j, len, classify_avx2, relaxed_bad);
}

static SCAN_AVX2 size_t
simple_avx2(const char *p, size_t j, size_t len)
{
	return scan(p, j, len, classify_avx2, simple_bad);
}

/* Every CPU with AVX2 so far has BMI (ANDN, TZCNT) too; ask anyway. */
SCAN_INLINE bool
scan_avx2_usable(void)
{
	return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("bmi");
}

#define classify_baseline classify_sse2

#else

typedef unsigned char scan_vec __attribute__((vector_size(16)));

/* The top bit of each byte of a comparison, gathered into 16 bits. */
SCAN_INLINE uint64_t
bits_generic(scan_vec v, unsigned char c)
{
	const uint64_t top = UINT64_C(0x8080808080808080);
	const uint64_t gather = UINT64_C(0x0002040810204081);
	scan_vec eq = (scan_vec)(v == c);
	uint64_t w[2];

	memcpy(w, &eq, sizeof(w));
	return ((w[0] & top) * gather) >> 56 |
	    (((w[1] & top) * gather) >> 56) << 8;
}

SCAN_INLINE void
classify_generic(const char *p, struct scan_masks *m)
{
	int k;

	memset(m, 0, sizeof(*m));
	for (k = 0; k < SCAN_WIN / 16; k++) {
		scan_vec v;

		memcpy(&v, p + 16 * k, sizeof(v));
		m->sp |= bits_generic(v, ' ') << (16 * k);
		m->tab |= bits_generic(v, '\t') << (16 * k);
		m->cr |= bits_generic(v, '\r') << (16 * k);
		m->lf |= bits_generic(v, '\n') << (16 * k);
	}
}

#define classify_baseline classify_generic

#endif

size_t
dkim_scan_relaxed_baseline(const char *p, size_t j, size_t len)
{
	return scan(p, j, len, classify_baseline, relaxed_bad);
}

size_t
dkim_scan_simple_baseline(const char *p, size_t j, size_t len)
{
	return scan(p, j, len, classify_baseline, simple_bad);
}

size_t
dkim_scan_relaxed(const char *p, size_t j, size_t len)
{
#if defined(__x86_64__)
	if (scan_avx2_usable())
		return relaxed_avx2(p, j, len);
#endif
	return dkim_scan_relaxed_baseline(p, j, len);
}

size_t
dkim_scan_simple(const char *p, size_t j, size_t len)
{
#if defined(__x86_64__)
	if (scan_avx2_usable())
		return simple_avx2(p, j, len);
#endif
	return dkim_scan_simple_baseline(p, j, len);
}
