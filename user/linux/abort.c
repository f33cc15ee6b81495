//! abort(): the process must end by SIGABRT (status 134).
#include <stdio.h>
#include <stdlib.h>

int main(void) {
    printf("abort: calling abort(), which must end this process with SIGABRT\n");
    fflush(stdout);
    abort();
}
