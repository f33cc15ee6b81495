//! mprotect(PROT_READ) on a written page, then a write to it: the program must be killed by SIGSEGV (status 139)
//! and never reach its last line.
#include <stdio.h>
#include <sys/mman.h>
#include <unistd.h>

int main(void) {
    long page_size = sysconf(_SC_PAGESIZE);
    volatile unsigned char *page =
        mmap(NULL, (size_t)page_size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (page == MAP_FAILED) {
        perror("FAILED: mprotect: mmap");
        return 1;
    }
    page[0] = 42;
    if (mprotect((void *)page, (size_t)page_size, PROT_READ) != 0) {
        perror("FAILED: mprotect: mprotect");
        return 1;
    }
    if (page[0] != 42) {
        printf("FAILED: mprotect: the page lost its contents\n");
        return 1;
    }
    // Flushed now: the process dies on the next line, and text still in the buffer would die with it.
    printf("mprotect: page is read-only and still reads 42; writing to it must kill this process\n");
    fflush(stdout);
    page[0] = 43;
    printf("FAILED: mprotect: a write to a PROT_READ page succeeded\n");
    return 1;
}
