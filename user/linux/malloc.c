//! malloc/realloc/free from 16 bytes to 64 MiB, checking every byte: the small sizes come from the heap (`brk`),
//! the large ones from `mmap`, and growing a large block goes through `mremap` in glibc (musl moves it).
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#define SMALLEST ((size_t)16)
#define LARGEST ((size_t)64 << 20)

// A byte pattern that depends on the position and on which block it is, so that a page mapped twice or a copy
// from the wrong place shows up.
static unsigned char pattern(size_t index, size_t seed) {
    return (unsigned char)((index * 131u + seed * 7u + (index >> 12)) & 0xff);
}

// The offsets written and checked: every byte of the first MiB, then every 61st byte (a stride that is not a
// power of two, so it lands at every offset within a page somewhere, and touches every page). Checking every
// byte of 64 MiB blocks would take most of a minute under emulation.
#define EVERY_BYTE_BELOW ((size_t)1 << 20)
#define STRIDE_ABOVE ((size_t)61)

static size_t next_offset(size_t index) { return index < EVERY_BYTE_BELOW ? index + 1 : index + STRIDE_ABOVE; }

static void fill(unsigned char *block, size_t length, size_t seed) {
    for (size_t index = 0; index < length; index = next_offset(index)) block[index] = pattern(index, seed);
}

// Returns the first wrong offset, or `length` when every checked byte is right.
static size_t first_mismatch(const unsigned char *block, size_t length, size_t seed) {
    for (size_t index = 0; index < length; index = next_offset(index)) {
        if (block[index] != pattern(index, seed)) return index;
    }
    return length;
}

static int failed(const char *what, size_t size, size_t offset) {
    printf("FAILED: malloc: %s (size %zu, offset %zu)\n", what, size, offset);
    return 1;
}

int main(void) {
    size_t sizes_checked = 0;
    for (size_t size = SMALLEST; size <= LARGEST; size *= 2) {
        // An odd size next to each power of two, so that lengths are not all page multiples.
        size_t lengths[2] = {size, size + size / 3 + 1};
        for (int which = 0; which < 2; which++) {
            size_t length = lengths[which];
            if (length > LARGEST) continue;
            unsigned char *block = malloc(length);
            if (block == NULL) return failed("malloc returned NULL", length, 0);
            fill(block, length, length);
            size_t wrong = first_mismatch(block, length, length);
            if (wrong != length) return failed("contents changed after fill", length, wrong);
            // Grow: the old contents must survive (glibc uses mremap for mmapped blocks).
            size_t grown = length * 2;
            unsigned char *bigger = realloc(block, grown);
            if (bigger == NULL) return failed("realloc (grow) returned NULL", grown, 0);
            wrong = first_mismatch(bigger, length, length);
            if (wrong != length) return failed("contents lost by realloc (grow)", grown, wrong);
            fill(bigger, grown, grown);
            // Shrink: the front part must survive.
            size_t shrunk = length / 2 + 1;
            unsigned char *smaller = realloc(bigger, shrunk);
            if (smaller == NULL) return failed("realloc (shrink) returned NULL", shrunk, 0);
            wrong = first_mismatch(smaller, shrunk, grown);
            if (wrong != shrunk) return failed("contents lost by realloc (shrink)", shrunk, wrong);
            free(smaller);
            sizes_checked++;
        }
    }
    // Many small blocks alive at once, freed in an interleaved order.
    enum { COUNT = 4096 };
    static unsigned char *blocks[COUNT];
    for (size_t index = 0; index < COUNT; index++) {
        size_t length = 16 + (index * 37) % 2000;
        blocks[index] = malloc(length);
        if (blocks[index] == NULL) return failed("malloc returned NULL (many blocks)", length, 0);
        fill(blocks[index], length, index);
    }
    for (size_t step = 0; step < 2; step++) {
        for (size_t index = step; index < COUNT; index += 2) {
            size_t length = 16 + (index * 37) % 2000;
            size_t wrong = first_mismatch(blocks[index], length, index);
            if (wrong != length) return failed("a small block was overwritten", length, wrong);
            free(blocks[index]);
        }
    }
    printf("malloc: %zu sizes from %zu B to %zu MiB grown, shrunk and checked; %d small blocks checked\n",
           sizes_checked, SMALLEST, LARGEST >> 20, COUNT);
    printf("ok: malloc\n");
    return 0;
}
